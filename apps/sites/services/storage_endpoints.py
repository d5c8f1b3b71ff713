"""Loading storage endpoints (DDM endpoints, RSEs) from the ``{"<rse>": {…}}`` shape of protocol.md §11.2.

All endpoints are validated before anything is written; a load is all or nothing.
"""

from pathlib import Path
from typing import Any

from django.db import transaction

from apps.sites.models import StorageEndpoint
from apps.sites.services.queues import LoadResult, json_file_read, site_upsert

ACTIVITIES = ("read_lan", "write_lan", "read_wan", "write_wan")


class StorageEndpointError(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid storage endpoint configuration:\n  - " + "\n  - ".join(errors))


def _max_length(model, column: str) -> int:
    return model._meta.get_field(column).max_length


def _protocol_errors(label: str, key: str, protocol: Any) -> list[str]:
    where = f"{label}: rprotocols[{key!r}]"
    if not isinstance(protocol, dict):
        return [f"{where} must be an object, got {protocol!r}"]
    errors = []
    for part in ("endpoint", "path"):
        if not isinstance(protocol.get(part), str):
            errors.append(f"{where} needs a string '{part}'")
    flavour = protocol.get("flavour")
    if flavour is not None and not isinstance(flavour, str):
        errors.append(f"{where}: 'flavour' must be a string")
    activities = protocol.get("activities", [])
    if not isinstance(activities, list):
        return [*errors, f"{where}: 'activities' must be a list of [activity, priority] pairs"]
    for item in activities:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], int)
            and not isinstance(item[1], bool)
        ):
            errors.append(f'{where}: each activity must be ["<activity>", <priority>], got {item!r}')
    return errors


def storage_endpoint_validate(document: Any, *, name: str) -> list[str]:
    label = f"storage endpoint {name!r}"
    if not isinstance(document, dict):
        return [f"{label}: the description must be a JSON object, got {type(document).__name__}"]
    errors = []
    if len(name) > _max_length(StorageEndpoint, "name"):
        errors.append(f"{label}: the name is longer than {_max_length(StorageEndpoint, 'name')} characters")
    if document.get("name") not in (None, name):
        errors.append(f"{label}: 'name' is {document.get('name')!r} but the endpoint is listed as {name!r}")
    site = document.get("site")
    if not isinstance(site, str) or not site.strip():
        errors.append(f"{label}: missing 'site'")
    for key in ("type", "state"):
        value = document.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > _max_length(StorageEndpoint, key)):
            errors.append(
                f"{label}: '{key}' must be a string of at most {_max_length(StorageEndpoint, key)} characters"
            )
    for key in ("is_deterministic", "is_tape"):
        value = document.get(key)
        if value is not None and not isinstance(value, bool):
            errors.append(f"{label}: '{key}' must be true or false, got {value!r}")
    rprotocols = document.get("rprotocols")
    if rprotocols is not None and not isinstance(rprotocols, dict):
        errors.append(f"{label}: 'rprotocols' must be an object keyed by protocol id")
    elif rprotocols:
        for key, protocol in rprotocols.items():
            errors.extend(_protocol_errors(label, key, protocol))
    arprotocols = document.get("arprotocols")
    if arprotocols is not None and not (
        isinstance(arprotocols, dict) and all(isinstance(items, list) for items in arprotocols.values())
    ):
        errors.append(f"{label}: 'arprotocols' must be an object of activity -> list of protocols")
    resource = document.get("resource")
    if resource is not None and not isinstance(resource, dict):
        errors.append(f"{label}: 'resource' must be an object")
    return errors


def storage_endpoints_validate(documents: Any) -> list[str]:
    if not isinstance(documents, dict):
        return [f'the file must hold a JSON object {{"<ddmendpoint>": {{…}}}}, got {type(documents).__name__}']
    if not documents:
        return ["the file holds no storage endpoint"]
    errors = []
    for name, document in documents.items():
        errors.extend(storage_endpoint_validate(document, name=name))
    return errors


def storage_endpoints_load(*, documents: Any) -> LoadResult:
    errors = storage_endpoints_validate(documents)
    if errors:
        raise StorageEndpointError(errors)
    result = LoadResult()
    with transaction.atomic():
        for name, document in documents.items():
            site = site_upsert(name=document["site"].strip())
            _, created = StorageEndpoint.objects.update_or_create(
                name=name,
                defaults={
                    "site": site,
                    "type": document.get("type") or "DATADISK",
                    "state": document.get("state") or "ACTIVE",
                    "is_deterministic": document.get("is_deterministic", True) is not False,
                    "is_tape": bool(document.get("is_tape", False)),
                    "rprotocols": document.get("rprotocols") or {},
                    "arprotocols": document.get("arprotocols") or {},
                    "resource": document.get("resource") or {},
                },
            )
            (result.created if created else result.updated).append(name)
    return result


def storage_endpoints_load_file(*, path: str | Path) -> LoadResult:
    return storage_endpoints_load(documents=json_file_read(path))
