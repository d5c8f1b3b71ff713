"""The static documents pilots and clients load: queue descriptions (protocol.md §11.1) and storage
endpoints (§11.2).

A queue's stored document is served as it is; keys the pilot needs but the stored document lacks
are filled in from the typed columns, so a queue created in the admin with an empty document
still gives a pilot everything it reads.
"""

from typing import Any

from apps.sites.models import DOCUMENT_COLUMNS, PandaQueue, StorageEndpoint
from apps.sites.selectors.queues import queue_get_cached

PROTOCOL_ACTIVITIES = ("read_lan", "write_lan", "read_wan", "write_wan")


def queue_document(queue: PandaQueue) -> dict[str, Any]:
    document = dict(queue.document or {})
    site = queue.site.name
    identity = {"nickname": queue.name, "panda_resource": queue.name, "atlas_site": site, "site": site}
    for key, value in identity.items():
        if document.get(key) in (None, ""):
            document[key] = value
    for key, (column, _default) in DOCUMENT_COLUMNS.items():
        if document.get(key) is None:
            document[key] = getattr(queue, column)
    return document


def queue_document_by_name(name: str) -> dict[str, Any] | None:
    """Served from the per-process queue cache: every pilot start asks for its queue."""
    queue = queue_get_cached(name)
    return queue_document(queue) if queue is not None else None


def queue_document_cric(name: str) -> dict[str, Any] | None:
    """One queue in the CRIC file shape ``{"<queue>": {…}}`` (the pilot's ``LOCAL_AGIS_SCHEDCONF``)."""
    document = queue_document_by_name(name)
    return {name: document} if document is not None else None


def queues_document_all() -> dict[str, dict[str, Any]]:
    """Every queue as ``{"<queue>": {…}}``; also the export format that ``load_queues`` reads back."""
    queues = PandaQueue.objects.select_related("site").order_by("name")
    return {queue.name: queue_document(queue) for queue in queues}


def queues_document_by_type(queue_type: str) -> dict[str, dict[str, Any]]:
    """Queues of one ``type`` (``analysis``, ``production``, ``unified``), or every queue for ``all``."""
    queues = PandaQueue.objects.select_related("site").order_by("name")
    if queue_type != "all":
        queues = queues.filter(type=queue_type)
    return {queue.name: queue_document(queue) for queue in queues}


def arprotocols_from_rprotocols(rprotocols: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per activity, the protocols that serve it, best priority (lowest number) first."""
    ranked: dict[str, list[tuple[int, str, dict]]] = {}
    for key, protocol in (rprotocols or {}).items():
        if not isinstance(protocol, dict):
            continue
        for item in protocol.get("activities") or []:
            if isinstance(item, (list, tuple)) and len(item) == 2:
                activity, priority = item
                ranked.setdefault(str(activity), []).append((int(priority or 0), str(key), protocol))
    return {
        activity: [protocol for _priority, _key, protocol in sorted(entries, key=lambda e: (e[0], e[1]))]
        for activity, entries in ranked.items()
    }


def storage_endpoint_document(endpoint: StorageEndpoint) -> dict[str, Any]:
    arprotocols = endpoint.arprotocols or arprotocols_from_rprotocols(endpoint.rprotocols)
    resource = endpoint.resource
    if not resource:
        first = next((p for _k, p in sorted((endpoint.rprotocols or {}).items()) if isinstance(p, dict)), None)
        resource = {"endpoint": first.get("endpoint")} if first else {}
    return {
        "name": endpoint.name,
        "site": endpoint.site.name,
        "type": endpoint.type,
        "state": endpoint.state,
        "is_deterministic": endpoint.is_deterministic,
        "is_tape": endpoint.is_tape,
        "rprotocols": endpoint.rprotocols or {},
        "arprotocols": arprotocols,
        "resource": resource,
    }


def ddm_endpoints_document() -> dict[str, dict[str, Any]]:
    """``{"<ddmendpoint>": {…}}``: what the pilot loads with ``--storagedata-url``."""
    endpoints = StorageEndpoint.objects.select_related("site").order_by("name")
    return {endpoint.name: storage_endpoint_document(endpoint) for endpoint in endpoints}
