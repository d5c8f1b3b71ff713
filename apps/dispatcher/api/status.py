"""Job status for pilots and Harvester (protocol.md §8.1-§8.2).

Legacy ``getStatus`` (always URL-encoded, values ``+``-joined) and ``checkJobStatus`` (JSON);
v1 ``pilot/get_job_status`` and ``job/get_status`` (GET, ``job_ids`` as repeated keys).
"""

import json
import logging

from django.db import DatabaseError

from apps.accounts.permissions import may_read_job_status
from apps.dispatcher.encoding import error_text, legacy_json, legacy_urlencoded, v1_fail, v1_ok
from apps.dispatcher.registry import ArgumentError, Param, cast, legacy_method, v1_method
from apps.jobs.selectors.status import job_statuses, job_statuses_with_command

log = logging.getLogger(__name__)

SC_SUCCESS, SC_FAILED = 0, 30
AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"
_INT64 = 2**63 - 1


def _legacy_ids(value) -> list[int]:
    """``ids``: whitespace- (or comma-) separated PandaIDs, or a JSON list in a JSON body."""
    if value is None:
        raise ArgumentError("missing required argument ids")
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            try:
                value = json.loads(value)
            except ValueError:
                raise ArgumentError(f"ids must be PandaIDs, got {value!r}") from None
        else:
            value = value.replace(",", " ").split()
    try:
        ids = cast("ids", Param("int_list"), value)
    except ArgumentError:
        raise ArgumentError(f"ids must be PandaIDs, got {value!r}") from None
    return _checked(ids, "ids")


def _checked(ids: list[int], name: str) -> list[int]:
    for pandaid in ids:
        if not 0 < pandaid <= _INT64:
            raise ArgumentError(f"{name} must be PandaIDs, got {pandaid}")
    return ids


def _legacy_request_ids(call) -> tuple[list[int] | None, object]:
    """The ``ids`` of a legacy status call, or the error response to send instead."""
    if not may_read_job_status(call.identity):
        return None, error_text(403, AUTH_REQUIRED)
    try:
        return _legacy_ids(call.params.get("ids")), None
    except ArgumentError as exc:
        return None, error_text(400, f"ERROR : {exc}")


@legacy_method("getStatus")
def get_status_legacy(call):
    ids, refusal = _legacy_request_ids(call)
    if refusal is not None:
        return refusal
    try:
        found = job_statuses(pandaids=ids)
    except DatabaseError:
        log.exception("getStatus failed")
        return legacy_urlencoded({"StatusCode": SC_FAILED})
    statuses = [row[0] if row else "notfound" for row in found]
    attempts = [str(row[1]) if row else "0" for row in found]
    # Upstream answers URL-encoded whatever the Accept header says.
    return legacy_urlencoded({"StatusCode": SC_SUCCESS, "status": "+".join(statuses), "attemptNr": "+".join(attempts)})


@v1_method(
    "pilot", "get_job_status", "GET", {"job_ids": Param("int_list", required=True), "timeout": Param(int, default=60)}
)
def get_job_status(call, job_ids, timeout):
    if not may_read_job_status(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        found = job_statuses(pandaids=_checked(job_ids, "job_ids"))
    except ArgumentError as exc:
        return v1_fail(f"Argument error: {exc}")
    except DatabaseError:
        log.exception("get_job_status failed")
        return v1_fail("Database error")
    return v1_ok(
        [
            {"job_id": pandaid, "status": row[0], "attempt_number": row[1]}
            if row
            else {"job_id": pandaid, "status": "not found", "attempt_number": 0}
            for pandaid, row in zip(job_ids, found, strict=True)
        ]
    )


@legacy_method("checkJobStatus")
def check_job_status_legacy(call):
    ids, refusal = _legacy_request_ids(call)
    if refusal is not None:
        return refusal
    try:
        data = job_statuses_with_command(pandaids=ids)
    except DatabaseError:
        log.exception("checkJobStatus failed")
        return legacy_json({"StatusCode": SC_FAILED})
    return legacy_json({"StatusCode": SC_SUCCESS, "data": data})


@v1_method("job", "get_status", "GET", {"job_ids": Param("int_list", required=True), "timeout": Param(int, default=60)})
def get_status(call, job_ids, timeout):
    if not may_read_job_status(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        data = job_statuses_with_command(pandaids=_checked(job_ids, "job_ids"))
    except ArgumentError as exc:
        return v1_fail(f"Argument error: {exc}")
    except DatabaseError:
        log.exception("job/get_status failed")
        return v1_fail("failed", {"code": SC_FAILED})
    return v1_ok(data)
