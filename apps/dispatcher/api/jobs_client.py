"""Client job APIs (protocol.md §10.2, §10.4): v1 ``job/submit``, ``job/get_description``,
``job/get_description_incl_archive`` and the legacy ``submitJobs`` form.

One jobs table serves both description endpoints, so the archive variant sees the same jobs.
"""

import logging

from django.db import DatabaseError

from apps.accounts.permissions import may_describe_jobs
from apps.dispatcher.encoding import error_text, legacy_json, legacy_text, v1_fail, v1_ok
from apps.dispatcher.registry import Param, legacy_method, v1_method
from apps.jobs.selectors.descriptions import jobs_describe
from apps.jobs.serialization import WireFormatError, jobs_from_wire
from apps.jobs.services.submit import MAX_JOBS, SubmitRefused, jobs_submit

log = logging.getLogger(__name__)

AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"
MAX_DESCRIBED_IDS = 5500
_INT64 = 2**63 - 1


def _submit(call, jobs) -> tuple[bool, object]:
    """``(True, answer list)`` or ``(False, message)``; the database is untouched on every failure."""
    if jobs is None:
        return False, "No jobs were submitted"
    try:
        specs = jobs_from_wire(jobs, limit=MAX_JOBS)
    except WireFormatError as exc:
        return False, f"Failed to deserialize jobs: {exc}"
    try:
        return True, jobs_submit(identity=call.identity, jobs=specs, host=call.request.META.get("REMOTE_ADDR", ""))
    except SubmitRefused as exc:
        return False, str(exc)
    except DatabaseError:
        log.exception("job submission failed")
        return False, "Failed to submit jobs"


@v1_method("job", "submit", "POST", {"jobs": Param("any", required=True)})
def submit(call, jobs):
    if not call.identity.authenticated:
        return error_text(403, AUTH_REQUIRED)
    ok, answer = _submit(call, jobs)
    return v1_ok(answer) if ok else v1_fail(answer)


@legacy_method("submitJobs")
def submit_jobs_legacy(call):
    if not call.identity.authenticated:
        return error_text(403, AUTH_REQUIRED)
    ok, answer = _submit(call, call.params.get("jobs"))
    return legacy_json(answer) if ok else legacy_text(f"ERROR: {answer}")


def _describe(call, job_ids: list[int]):
    if not may_describe_jobs(call.identity):
        return error_text(403, AUTH_REQUIRED)
    job_ids = job_ids[:MAX_DESCRIBED_IDS]
    # An id no job can have (0, negative, beyond bigint) is simply unknown, never a database error.
    valid = [pandaid for pandaid in job_ids if 0 < pandaid <= _INT64]
    try:
        found = dict(zip(valid, jobs_describe(pandaids=valid), strict=True))
    except DatabaseError:
        log.exception("job/get_description failed")
        return v1_fail("database error in the PanDA server")
    return v1_ok([found.get(pandaid) for pandaid in job_ids])


@v1_method("job", "get_description", None, {"job_ids": Param("int_list", required=True)})
def get_description(call, job_ids):
    return _describe(call, job_ids)


@v1_method("job", "get_description_incl_archive", None, {"job_ids": Param("int_list", required=True)})
def get_description_incl_archive(call, job_ids):
    return _describe(call, job_ids)
