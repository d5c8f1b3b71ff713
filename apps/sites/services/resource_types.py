"""Resource types (protocol.md §8.5): core and memory-per-core windows that classify jobs and workers.

The standard set is PanDA's: single-core and multi-core, each with a high-memory twin above
2000 MB per core. ``None`` bounds are unbounded.
"""

from pathlib import Path
from typing import Any

from django.db import transaction

from apps.sites.models import ResourceType
from apps.sites.services.queues import LoadResult, json_file_read

STANDARD_RESOURCE_TYPES: tuple[dict[str, Any], ...] = (
    {"resource_name": "SCORE", "mincore": 1, "maxcore": 1, "minrampercore": None, "maxrampercore": 2000},
    {"resource_name": "MCORE", "mincore": 2, "maxcore": None, "minrampercore": None, "maxrampercore": 2000},
    {"resource_name": "SCORE_HIMEM", "mincore": 1, "maxcore": 1, "minrampercore": 2001, "maxrampercore": None},
    {"resource_name": "MCORE_HIMEM", "mincore": 2, "maxcore": None, "minrampercore": 2001, "maxrampercore": None},
)
BOUNDS = ("mincore", "maxcore", "minrampercore", "maxrampercore")


class ResourceTypeError(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid resource types:\n  - " + "\n  - ".join(errors))


def _entries(documents: Any) -> tuple[list[dict], list[str]]:
    """Accept the wire list (``[{"resource_name": …}, …]``) or an object keyed by name."""
    if isinstance(documents, dict):
        entries = []
        for name, entry in documents.items():
            if not isinstance(entry, dict):
                return [], [f"resource type {name!r} must be an object, got {type(entry).__name__}"]
            entries.append({**entry, "resource_name": entry.get("resource_name", name)})
        return entries, []
    if isinstance(documents, list):
        bad = [entry for entry in documents if not isinstance(entry, dict)]
        if bad:
            return [], [f"every resource type must be an object, got {bad[0]!r}"]
        return list(documents), []
    return [], [f"resource types must be a JSON list or object, got {type(documents).__name__}"]


def resource_types_validate(documents: Any) -> list[str]:
    entries, errors = _entries(documents)
    max_length = ResourceType._meta.get_field("name").max_length
    for entry in entries:
        name = entry.get("resource_name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"resource type without a 'resource_name': {entry!r}")
            continue
        if len(name) > max_length:
            errors.append(f"resource type {name!r}: the name is longer than {max_length} characters")
        for bound in BOUNDS:
            value = entry.get(bound)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                errors.append(
                    f"resource type {name!r}: '{bound}' must be a non-negative integer or null, got {value!r}"
                )
        for low, high in (("mincore", "maxcore"), ("minrampercore", "maxrampercore")):
            lo, hi = entry.get(low), entry.get(high)
            if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
                errors.append(f"resource type {name!r}: '{low}' ({lo}) is above '{high}' ({hi})")
    return errors


def resource_types_load(*, documents: Any = None) -> LoadResult:
    """Upsert the standard resource types plus those of ``documents`` (which win on a name clash)."""
    if documents is not None:
        errors = resource_types_validate(documents)
        if errors:
            raise ResourceTypeError(errors)
    extra, _ = _entries(documents) if documents is not None else ([], [])
    merged = {entry["resource_name"]: entry for entry in (*STANDARD_RESOURCE_TYPES, *extra)}
    result = LoadResult()
    with transaction.atomic():
        for name, entry in merged.items():
            _, created = ResourceType.objects.update_or_create(
                name=name, defaults={bound: entry.get(bound) for bound in BOUNDS}
            )
            (result.created if created else result.updated).append(name)
    return result


def resource_types_load_file(*, path: str | Path) -> LoadResult:
    return resource_types_load(documents=json_file_read(path))
