"""Loading PanDA queues from CRIC-style JSON (``{"<queue>": {…}}``, protocol.md §11.1).

The whole document of each queue is stored verbatim in ``PandaQueue.document``;
``PandaQueue.save()`` copies the fields the server filters on into typed columns. A load
validates every queue first and writes nothing unless all of them are valid.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from apps.sites.models import DOCUMENT_COLUMNS, PandaQueue, QueueStatus, QueueType, Site, SiteRole

# Fields copied into integer columns: a wrong type would be silently coerced or rejected by the DB.
INTEGER_FIELDS = ("maxrss", "minrss", "maxtime", "mintime", "corecount", "maxwdir", "timefloor")
# Other numeric fields the pilot or the server reads.
NUMBER_FIELDS = (
    "maxinputsize",
    "pledgedcpu",
    "corepower",
    "maxdiskio",
    "memory",
    "space",
    "transferringlimit",
    "meanrss",
    "memkillgrace",
    "pilot_walltime_grace",
    "pilot_rss_grace",
    "pilot_maxwdir_grace",
    "es_stageout_gap",
)
STRING_FIELDS = (
    "nickname",
    "panda_resource",
    "atlas_site",
    "site",
    "state",
    "status",
    "type",
    "resource_type",
    "cloud",
    "tier",
    "catchall",
    "pilot_manager",
    "harvester",
    "workflow",
    "cmtconfig",
    "container_type",
    "container_options",
    "environ",
)
OBJECT_FIELDS = ("copytools", "acopytools", "astorages", "aprotocols", "acopytools_schemas", "params")
# Activity -> list maps: the pilot iterates these lists.
LIST_MAP_FIELDS = ("acopytools", "astorages")
BOOLEAN_FIELDS = ("direct_access_lan", "direct_access_wan", "allow_lan", "allow_wan", "use_pcache", "is_cvmfs")


class QueueDocumentError(ValueError):
    """One or more queue documents are invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid queue configuration:\n  - " + "\n  - ".join(errors))


@dataclass
class LoadResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    def summary(self, noun: str) -> str:
        return f"{len(self.created)} {noun} created, {len(self.updated)} updated"


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _column_max_length(column: str) -> int | None:
    return getattr(PandaQueue._meta.get_field(column), "max_length", None)


def queue_document_site(document: dict) -> str | None:
    """The site a queue belongs to: ``atlas_site``, else ``site``."""
    for key in ("atlas_site", "site"):
        value = document.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def queue_document_validate(document: Any, *, name: str | None = None) -> list[str]:
    """Every problem of one queue document, as messages naming the queue; empty when valid."""
    label = f"queue {name!r}" if name else "queue"
    if not isinstance(document, dict):
        return [f"{label}: the queue description must be a JSON object, got {type(document).__name__}"]
    errors = []
    nickname = document.get("nickname")
    if not isinstance(nickname, str) or not nickname.strip():
        errors.append(f"{label}: missing 'nickname'")
    elif name is not None and nickname != name:
        errors.append(f"{label}: 'nickname' is {nickname!r} but the queue is listed as {name!r}")
    elif len(nickname) > _column_max_length("name"):
        errors.append(f"{label}: 'nickname' is longer than {_column_max_length('name')} characters")
    if queue_document_site(document) is None:
        errors.append(f"{label}: missing 'atlas_site' (or 'site')")
    elif len(queue_document_site(document)) > Site._meta.get_field("name").max_length:
        errors.append(f"{label}: the site name is longer than {Site._meta.get_field('name').max_length} characters")
    for key in INTEGER_FIELDS:
        value = document.get(key)
        if value is not None and not _is_integer(value):
            errors.append(f"{label}: '{key}' must be an integer, got {value!r}")
    for key in NUMBER_FIELDS:
        value = document.get(key)
        if value is not None and not _is_number(value):
            errors.append(f"{label}: '{key}' must be a number, got {value!r}")
    for key in STRING_FIELDS:
        value = document.get(key)
        if value is not None and not isinstance(value, str):
            errors.append(f"{label}: '{key}' must be a string, got {value!r}")
    for key in OBJECT_FIELDS:
        value = document.get(key)
        if value is not None and not isinstance(value, dict):
            errors.append(f"{label}: '{key}' must be an object, got {value!r}")
    for key in LIST_MAP_FIELDS:
        value = document.get(key)
        if isinstance(value, dict):
            for activity, items in value.items():
                if not isinstance(items, list):
                    errors.append(f"{label}: '{key}.{activity}' must be a list, got {items!r}")
    for key in BOOLEAN_FIELDS:
        value = document.get(key)
        if value is not None and not isinstance(value, bool):
            errors.append(f"{label}: '{key}' must be true or false, got {value!r}")
    status = document.get("status")
    if isinstance(status, str) and status not in QueueStatus.values:
        errors.append(f"{label}: 'status' must be one of {', '.join(QueueStatus.values)}, got {status!r}")
    queue_type = document.get("type")
    if isinstance(queue_type, str) and queue_type not in QueueType.values:
        errors.append(f"{label}: 'type' must be one of {', '.join(QueueType.values)}, got {queue_type!r}")
    for key, (column, _default) in DOCUMENT_COLUMNS.items():
        value = document.get(key)
        limit = _column_max_length(column)
        if isinstance(value, str) and limit and len(value) > limit:
            errors.append(f"{label}: '{key}' is longer than {limit} characters")
    return errors


def queues_validate(documents: Any) -> list[str]:
    if not isinstance(documents, dict):
        return [f'the file must hold a JSON object {{"<queue>": {{…}}}}, got {type(documents).__name__}']
    if not documents:
        return ["the file holds no queue"]
    errors = []
    for name, document in documents.items():
        errors.extend(queue_document_validate(document, name=name))
    return errors


def queues_load(*, documents: Any) -> LoadResult:
    """Create or update every queue of a ``{"<queue>": {…}}`` object, all or nothing."""
    errors = queues_validate(documents)
    if errors:
        raise QueueDocumentError(errors)
    result = LoadResult()
    with transaction.atomic():
        for name, document in documents.items():
            created = queue_save(name=name, document=document)
            (result.created if created else result.updated).append(name)
    return result


def queue_save(*, name: str, document: dict) -> bool:
    """Upsert one already validated queue (and its site); True when the queue is new."""
    site = site_upsert(name=queue_document_site(document), document=document)
    queue = PandaQueue.objects.filter(name=name).first()
    created = queue is None
    if created:
        queue = PandaQueue(name=name)
    # A key removed from the document must fall back to the column default, not keep the old value.
    for column, _default in DOCUMENT_COLUMNS.values():
        setattr(queue, column, None)
    queue.site = site
    queue.document = document
    queue.save()
    return created


def site_upsert(*, name: str, document: dict | None = None) -> Site:
    site, _ = Site.objects.get_or_create(name=name)
    changed = []
    for key in ("cloud", "tier", "country", "role"):
        value = (document or {}).get(key)
        limit = Site._meta.get_field(key).max_length
        if key == "role" and value not in SiteRole.values:
            continue  # "nucleus" / "satellite" (jedi.md §10.4); anything else leaves the role alone
        if isinstance(value, str) and value and len(value) <= limit and getattr(site, key) != value:
            setattr(site, key, value)
            changed.append(key)
    if changed:
        site.save(update_fields=changed)
    return site


def json_file_read(path: str | Path) -> Any:
    """Parse a JSON file, turning every failure into a ValueError that names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


def queues_load_file(*, path: str | Path) -> LoadResult:
    return queues_load(documents=json_file_read(path))
