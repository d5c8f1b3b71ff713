"""Static documents served without authentication (protocol.md §1, §11).

Pilots fetch these before they have a job: the queue description, the CRIC-style queue file,
the storage endpoint list, and transformation scripts. An unknown queue answers HTTP 404 with a
JSON object whose top-level ``error`` key is what the pilot checks for.
"""

import json
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpResponse
from django.views.decorators.http import require_safe

from apps.dispatcher.encoding import error_text
from apps.sites.selectors.documents import (
    ddm_endpoints_document,
    queue_document_by_name,
    queue_document_cric,
    queues_document_all,
)


def _json(payload, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(payload), status=status, content_type="application/json")


def _unknown_queue(queue: str) -> HttpResponse:
    return _json({"error": f"PanDA queue {queue} is not defined"}, status=404)


@require_safe
def queue_description(request, queue: str):
    document = queue_document_by_name(queue)
    return _json(document) if document is not None else _unknown_queue(queue)


@require_safe
def queue_descriptions_all(request):
    return _json(queues_document_all())


@require_safe
def queue_description_cric(request, queue: str):
    document = queue_document_cric(queue)
    return _json(document) if document is not None else _unknown_queue(queue)


@require_safe
def ddm_endpoints(request):
    return _json(ddm_endpoints_document())


def trf_file(relative: str) -> Path | None:
    """The file under ``PANDA_TRF_DIR`` that ``relative`` names; None for anything that escapes it."""
    if not relative or relative.startswith("/") or "\\" in relative or ".." in relative.split("/"):
        return None
    root = Path(settings.PANDA_TRF_DIR).resolve()
    candidate = (root / relative).resolve()
    # resolve() follows symlinks, so a link pointing outside the directory is refused too.
    if candidate == root or root not in candidate.parents:
        return None
    return candidate


@require_safe
def transformation(request, path: str):
    target = trf_file(path)
    if target is None:
        return error_text(403, "forbidden")
    if not target.is_file():
        return error_text(404, "not found")
    return FileResponse(target.open("rb"), content_type="application/octet-stream")
