"""getJob (legacy) and ``pilot/acquire_jobs`` (v1): protocol.md §5.

Both bind their parameters and call :func:`apps.jobs.services.dispatch.jobs_acquire`, which checks
the role, claims the jobs and builds their dicts; these functions only pick the envelope (§5.4).
"""

from apps.accounts.permissions import NO_ROLE_MESSAGE
from apps.core.values import as_bool, as_int, as_non_negative_int, as_str, is_null
from apps.dispatcher.encoding import error_text, legacy_dict, v1_fail, v1_ok, wants_json
from apps.dispatcher.registry import Param, legacy_method, v1_method
from apps.jobs.services.dispatch import (
    OUTCOME_NO_JOBS,
    OUTCOME_OK,
    OUTCOME_ROLE_REFUSED,
    OUTCOME_TIMEOUT,
    DispatchResult,
    jobs_acquire,
)

SC_TIMEOUT, SC_NO_JOBS, SC_ROLE = 10, 20, 60
LEGACY_FAILURES = {
    OUTCOME_NO_JOBS: (SC_NO_JOBS, "no jobs in PanDA"),
    OUTCOME_TIMEOUT: (SC_TIMEOUT, "database timeout"),
    OUTCOME_ROLE_REFUSED: (SC_ROLE, NO_ROLE_MESSAGE),
}
V1_FAILURES = {
    OUTCOME_NO_JOBS: "No jobs in PanDA",
    OUTCOME_TIMEOUT: "Timed out",
    OUTCOME_ROLE_REFUSED: NO_ROLE_MESSAGE,
}
DEFAULT_TIMEOUT = 60


class BadParameter(ValueError):
    pass


def _text(params: dict, name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, (dict, list)):
        raise BadParameter(f"{name} must be a string")
    return as_str(value)


def _integer(params: dict, name: str) -> int | None:
    value = params.get(name)
    if is_null(value):
        return None
    number = as_int(value)
    if number is None:
        raise BadParameter(f"{name} must be an integer, got {value!r}")
    return number


@legacy_method("getJob")
def get_job_legacy(call):
    params = call.params
    try:
        site_name = _text(params, "siteName")
        if site_name is None:
            raise BadParameter("siteName is required")
        n_jobs = _integer(params, "nJobs")
        kwargs = {
            "prod_source_label": _text(params, "prodSourceLabel"),
            "computing_element": _text(params, "computingElement"),
            "node": _text(params, "node"),
            "prod_user_id": _text(params, "prodUserID"),
            "resource_type": _text(params, "resourceType"),
            "harvester_id": _text(params, "harvester_id"),
            "scheduler_id": _text(params, "schedulerID"),
            "job_type": _text(params, "jobType"),
            "task_id": _integer(params, "taskID"),
            "worker_id": _integer(params, "worker_id"),
            "timeout": _integer(params, "timeout") or DEFAULT_TIMEOUT,
        }
    except BadParameter as exc:
        return error_text(400, f"ERROR : {exc}")
    result = jobs_acquire(
        identity=call.identity,
        site_name=site_name,
        mem=as_non_negative_int(params.get("mem")),
        disk_space=as_non_negative_int(params.get("diskSpace")),
        remaining_time=as_non_negative_int(params.get("remaining_time")),
        n_jobs=n_jobs or 1,
        background=as_bool(params.get("background", False)),
        get_proxy_key=as_bool(params.get("getProxyKey", False)),
        legacy=True,
        **kwargs,
    )
    # Pilot 3.11 sends no nJobs and expects the flat dict; Harvester sends nJobs and reads "jobs".
    return _legacy_response(call.request, result, bulk=n_jobs is not None)


def _legacy_response(request, result: DispatchResult, *, bulk: bool):
    if result.outcome == OUTCOME_OK:
        return legacy_dict(request, {"StatusCode": 0, "jobs": result.jobs} if bulk else result.jobs[0])
    code, dialog = LEGACY_FAILURES[result.outcome]
    payload: dict = {"StatusCode": code}
    if wants_json(request):
        payload["errorDialog"] = dialog
    return legacy_dict(request, payload)


@v1_method(
    "pilot",
    "acquire_jobs",
    "POST",
    params={
        "site_name": Param(str, required=True),
        "timeout": Param(int, default=DEFAULT_TIMEOUT),
        # Unparsable or negative sizes mean "no filter" (protocol.md §2.3), not an argument error.
        "memory": Param("any"),
        "disk_space": Param("any"),
        "remaining_time": Param("any"),
        "prod_source_label": Param(str),
        "node": Param(str),
        "computing_element": Param(str),
        "prod_user_id": Param(str),
        "get_proxy_key": Param(bool, default=False),
        "task_id": Param(int),
        "n_jobs": Param(int, default=1),
        "background": Param(bool, default=False),
        "resource_type": Param(str),
        "harvester_id": Param(str),
        "worker_id": Param(int),
        "scheduler_id": Param(str),
        "job_type": Param(str),
        # Message-broker dispatch is not offered; the flag is accepted so such pilots still work.
        "via_topic": Param(bool, default=False),
        # Sent by newer pilots; no job carries hardware requirements yet, so there is nothing to match.
        "target_architecture": Param("any"),
    },
)
def acquire_jobs(
    call,
    *,
    site_name,
    timeout,
    memory,
    disk_space,
    remaining_time,
    prod_source_label,
    node,
    computing_element,
    prod_user_id,
    get_proxy_key,
    task_id,
    n_jobs,
    background,
    resource_type,
    harvester_id,
    worker_id,
    scheduler_id,
    job_type,
    via_topic,
    target_architecture,
):
    if as_str(site_name) is None:
        return v1_fail("Argument error: site_name must not be empty")
    scheduler_id = as_str(scheduler_id)
    result = jobs_acquire(
        identity=call.identity,
        site_name=site_name,
        prod_source_label=as_str(prod_source_label),
        computing_element=as_str(computing_element),
        node=as_str(node),
        mem=as_non_negative_int(memory),
        disk_space=as_non_negative_int(disk_space),
        remaining_time=as_non_negative_int(remaining_time),
        prod_user_id=as_str(prod_user_id),
        task_id=task_id,
        n_jobs=n_jobs or 1,
        background=background,
        resource_type=as_str(resource_type),
        harvester_id=as_str(harvester_id) or scheduler_id,
        worker_id=worker_id,
        scheduler_id=scheduler_id,
        job_type=as_str(job_type),
        get_proxy_key=get_proxy_key,
        timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
    )
    if result.outcome == OUTCOME_OK:
        return v1_ok({"StatusCode": 0, "jobs": result.jobs})
    return v1_fail(V1_FAILURES[result.outcome])
