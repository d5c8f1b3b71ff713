"""Kill and reassign jobs: v1 ``job/kill``, ``job/reassign``; legacy ``killJobs``, ``reassignJobs``.

Both generations require an authenticated caller; whether a given job may be killed is decided per
job by :func:`apps.accounts.permissions.may_kill_job` inside the service (states.md §4).

* v1 ``job/kill`` answers ``data`` = one boolean per requested PandaID; ``job/reassign`` answers
  ``success:true`` (protocol.md §10.2).
* Legacy ``killJobs(ids, code, useMailAsID, killOpts)``: ``ids`` is a JSON list of PandaIDs (or one
  PandaID), ``killOpts`` the comma-joined options panda-client builds
  (``keepUnmerged,jobSubStatus=<x>``). The answer is the JSON text of the list of booleans, as for
  the other legacy bulk calls (``updateJobsInBulk``); upstream sent the same list serialised.
* Legacy ``reassignJobs(ids, forPending, firstSubmission)`` answers the text ``True`` (upstream's
  reassign always returns True; the two flags steer upstream's own re-brokerage and are ignored).
"""

import json

from apps.core.values import as_bool, as_int, is_null
from apps.dispatcher.encoding import error_text, legacy_bool, legacy_json, v1_fail, v1_ok
from apps.dispatcher.registry import Param, legacy_method, v1_method
from apps.jobs.services.kill import KillOptionError, jobs_kill, jobs_reassign, kill_options_parse


class _BadParameter(ValueError):
    pass


def _unauthenticated(method: str):
    return error_text(403, f"ERROR : {method} requires an authenticated caller")


@v1_method(
    "job",
    "kill",
    "POST",
    {
        "job_ids": Param("int_list", required=True),
        "code": Param(int),
        "use_email_as_id": Param(bool, default=False),
        "kill_options": Param(list, default=list),
    },
)
def kill(call, *, job_ids, code, use_email_as_id, kill_options):
    if not call.identity.authenticated:
        return _unauthenticated("job/kill")
    try:
        kill_options_parse(kill_options)
    except KillOptionError as exc:
        return v1_fail(f"Argument error: {exc}")
    results = jobs_kill(
        identity=call.identity,
        pandaids=job_ids,
        code=code,
        kill_options=kill_options,
        use_email_as_id=use_email_as_id,
    )
    return v1_ok(results)


@v1_method("job", "reassign", "POST", {"job_ids": Param("int_list", required=True)})
def reassign(call, *, job_ids):
    if not call.identity.authenticated:
        return _unauthenticated("job/reassign")
    jobs_reassign(identity=call.identity, pandaids=job_ids)
    return v1_ok(None)


def _legacy_ids(value) -> list[int]:
    """A JSON list of PandaIDs (what panda-client sends), a JSON body's list, or a single PandaID."""
    if is_null(value):
        raise _BadParameter("ids is required: a JSON list of PandaIDs")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _BadParameter(f"ids must be a JSON list of PandaIDs, got {value!r}") from exc
    items = value if isinstance(value, list) else [value]
    ids = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)) or as_int(item) is None:
            raise _BadParameter(f"ids must be a JSON list of PandaIDs, got {item!r}")
        ids.append(as_int(item))
    return ids


@legacy_method("killJobs")
def kill_jobs_legacy(call):
    if not call.identity.authenticated:
        return _unauthenticated("killJobs")
    params = call.params
    try:
        ids = _legacy_ids(params.get("ids"))
        raw_code = params.get("code")
        code = None if is_null(raw_code) else as_int(raw_code)
        if code is None and not is_null(raw_code):
            raise _BadParameter(f"code must be an integer, got {raw_code!r}")
        kill_options = None if is_null(params.get("killOpts")) else params.get("killOpts")
        kill_options_parse(kill_options)
    except (_BadParameter, KillOptionError) as exc:
        return error_text(400, f"ERROR : {exc}")
    results = jobs_kill(
        identity=call.identity,
        pandaids=ids,
        code=code,
        kill_options=kill_options,
        use_email_as_id=as_bool(params.get("useMailAsID", False)),
    )
    return legacy_json(results)


@legacy_method("reassignJobs")
def reassign_jobs_legacy(call):
    if not call.identity.authenticated:
        return _unauthenticated("reassignJobs")
    try:
        ids = _legacy_ids(call.params.get("ids"))
    except _BadParameter as exc:
        return error_text(400, f"ERROR : {exc}")
    jobs_reassign(identity=call.identity, pandaids=ids)
    return legacy_bool(True)
