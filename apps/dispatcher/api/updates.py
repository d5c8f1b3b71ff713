"""Job and worker updates from pilots and Harvester (protocol.md §6, §6.5, §8.3).

Legacy ``updateJob``, ``updateJobsInBulk``, ``updateWorkerPilotStatus``; v1 ``pilot/update_job``,
``pilot/update_jobs_bulk``, ``pilot/update_worker_status``. Both generations reduce a request to
the legacy parameter names and call :func:`job_update_from_pilot`; only the envelopes differ.
"""

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError

from apps.accounts.permissions import NO_ROLE_MESSAGE, may_update_jobs
from apps.core.values import as_int, is_null
from apps.dispatcher.encoding import error_text, legacy_dict, legacy_json, legacy_text, v1_fail, v1_ok, wants_json
from apps.dispatcher.registry import ArgumentError, Param, bind, cast, legacy_method, v1_method
from apps.jobs.services.pilot_updates import (
    VALID_STATES,
    Result,
    UpdateOutcome,
    job_update_from_pilot,
    pilot_update_changes,
)
from apps.workers.services.pilot_status import InvalidWorkerState, worker_update_pilot_status

log = logging.getLogger(__name__)

SC_SUCCESS, SC_TIMEOUT, SC_FAILED, SC_INVALID, SC_ROLE = 0, 10, 30, 50, 60
METADATA_FAILED = "Failed to add meta_data"
_INT64 = 2**63 - 1

# v1 name -> legacy name of every update_job parameter (protocol.md §6.1).
V1_TO_LEGACY = {
    "job_id": "jobId",
    "job_status": "state",
    "attempt_nr": "attemptNr",
    "job_output_report": "xml",
    "meta_data": "metaData",
    "pilot_log": "pilotLog",
    "stdout": "stdout",
    "node": "node",
    "site_name": "siteName",
    "scheduler_id": "schedulerID",
    "pilot_id": "pilotID",
    "batch_id": "batchID",
    "trans_exit_code": "transExitCode",
    "pilot_error_code": "pilotErrorCode",
    "exe_error_code": "exeErrorCode",
    "pilot_error_diag": "pilotErrorDiag",
    "exe_error_diag": "exeErrorDiag",
    "cpu_consumption_time": "cpuConsumptionTime",
    "cpu_consumption_unit": "cpuConsumptionUnit",
    "cpu_conversion_factor": "cpuConversionFactor",
    "cpu_architecture_level": "cpu_architecture_level",
    "start_time": "startTime",
    "end_time": "endTime",
    "n_events": "nEvents",
    "n_input_files": "nInputFiles",
    "job_sub_status": "jobSubStatus",
    "job_metrics": "jobMetrics",
    "pilot_timing": "pilotTiming",
    "core_count": "coreCount",
    "mean_core_count": "meanCoreCount",
    "max_rss": "maxRSS",
    "max_vmem": "maxVMEM",
    "max_swap": "maxSWAP",
    "max_pss": "maxPSS",
    "avg_rss": "avgRSS",
    "avg_vmem": "avgVMEM",
    "avg_swap": "avgSWAP",
    "avg_pss": "avgPSS",
    "tot_rchar": "totRCHAR",
    "tot_wchar": "totWCHAR",
    "tot_rbytes": "totRBYTES",
    "tot_wbytes": "totWBYTES",
    "rate_rchar": "rateRCHAR",
    "rate_wchar": "rateWCHAR",
    "rate_rbytes": "rateRBYTES",
    "rate_wbytes": "rateWBYTES",
    "corrupted_files": "corruptedFiles",
    "grid": "grid",
    "source_site": "source_site",
    "destination_site": "destination_site",
    "timeout": "timeout",
}
_INT_PARAMS = {
    "attempt_nr",
    "trans_exit_code",
    "pilot_error_code",
    "exe_error_code",
    "cpu_consumption_time",
    "n_events",
    "n_input_files",
    "core_count",
    "timeout",
}
_NUMBER_PARAMS = {
    "cpu_conversion_factor",
    "mean_core_count",
    "max_rss",
    "max_vmem",
    "max_swap",
    "max_pss",
    "avg_rss",
    "avg_vmem",
    "avg_swap",
    "avg_pss",
    "tot_rchar",
    "tot_wchar",
    "tot_rbytes",
    "tot_wbytes",
    "rate_rchar",
    "rate_wchar",
    "rate_rbytes",
    "rate_wbytes",
}
# Text that may arrive as a JSON object (the reports) is kept "any" and serialised below.
_ANY_PARAMS = {"job_id", "job_output_report", "meta_data"}


def _v1_spec(name: str) -> Param:
    if name == "job_id":
        return Param("any", required=True)
    if name == "job_status":
        return Param(str, required=True)
    if name == "timeout":
        return Param(int, default=60)
    if name in _INT_PARAMS:
        return Param(int)
    if name in _NUMBER_PARAMS:
        return Param(float)
    if name in _ANY_PARAMS:
        return Param("any")
    return Param(str)


UPDATE_JOB_PARAMS = {name: _v1_spec(name) for name in V1_TO_LEGACY}


@dataclass
class UpdateRequest:
    """One update reduced to what the service needs; ``pandaid`` None is the pilot's ``jobId=NULL``."""

    pandaid: int | None
    state: str
    attemptnr: int | None = None
    changes: dict = field(default_factory=dict)
    output_report: str | None = None
    metadata: str | None = None
    pilot_log: str | None = None
    stdout: str | None = None


def _text(value) -> str | None:
    """Reports may come as JSON objects in JSON bodies; the stores keep text."""
    if is_null(value):
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value if isinstance(value, str) else str(value)


def _pandaid(value, name: str) -> int | None:
    if is_null(value):
        return None
    try:
        pandaid = cast(name, Param(int), value)
    except ArgumentError:
        raise ArgumentError(f"{name} must be a PandaID, got {value!r}") from None
    if not 0 < pandaid <= _INT64:
        raise ArgumentError(f"{name} must be a PandaID, got {value!r}")
    return pandaid


def update_request(values: dict[str, Any], *, v1: bool) -> UpdateRequest:
    """Legacy-named parameters -> :class:`UpdateRequest`; :class:`ArgumentError` on unusable input."""
    id_name, state_name = ("job_id", "job_status") if v1 else ("jobId", "state")
    if "jobId" not in values:
        raise ArgumentError(f"missing required argument {id_name}")
    if values.get("state") is None:
        raise ArgumentError(f"missing required argument {state_name}")
    state = values["state"] if isinstance(values["state"], str) else str(values["state"])
    attemptnr = as_int(values.get("attemptNr"))
    return UpdateRequest(
        pandaid=_pandaid(values["jobId"], id_name),
        state=state,
        attemptnr=attemptnr if attemptnr is not None and abs(attemptnr) <= _INT64 else None,
        changes=pilot_update_changes(values, rates_in_bytes=v1),
        output_report=_text(values.get("xml")),
        metadata=_text(values.get("metaData")),
        pilot_log=_text(values.get("pilotLog")),
        stdout=_text(values.get("stdout")),
    )


def run_update(update: UpdateRequest) -> UpdateOutcome:
    return job_update_from_pilot(
        pandaid=update.pandaid,
        state=update.state,
        attemptnr=update.attemptnr,
        changes=update.changes,
        output_report=update.output_report,
        metadata=update.metadata,
        pilot_log=update.pilot_log,
        stdout=update.stdout,
    )


# --- legacy -----------------------------------------------------------------------------------


def _legacy_role_payload(request) -> dict:
    payload: dict[str, Any] = {"StatusCode": SC_ROLE}
    if wants_json(request):
        payload["errorDialog"] = NO_ROLE_MESSAGE
    return payload


def legacy_update_payload(update: UpdateRequest) -> dict:
    """What legacy updateJob answers for one accepted request (protocol.md §6.4)."""
    if update.pandaid is None or update.state not in VALID_STATES:
        # Upstream answers success and does nothing: old pilots send these while aborting.
        return {"StatusCode": SC_SUCCESS}
    outcome = run_update(update)
    if outcome.result == Result.DB_ERROR:
        return {"StatusCode": SC_FAILED}
    if outcome.result == Result.METADATA_FAILED:
        return {"StatusCode": SC_SUCCESS}
    return {"StatusCode": SC_SUCCESS, "command": outcome.command or "NULL"}


@legacy_method("updateJob")
def update_job_legacy(call):
    if not may_update_jobs(call.identity, legacy=True):
        return legacy_dict(call.request, _legacy_role_payload(call.request))
    try:
        update = update_request(call.params, v1=False)
    except ArgumentError as exc:
        return error_text(400, f"ERROR : {exc}")
    return legacy_dict(call.request, legacy_update_payload(update))


def _bulk_entries(job_list) -> list[dict]:
    if isinstance(job_list, str):
        try:
            job_list = json.loads(job_list)
        except ValueError as exc:
            raise ArgumentError(f"jobList is not valid JSON: {exc}") from None
    if not isinstance(job_list, list) or not all(isinstance(entry, dict) for entry in job_list):
        raise ArgumentError("jobList must be a JSON list of objects")
    return job_list


@legacy_method("updateJobsInBulk")
def update_jobs_bulk_legacy(call):
    """``[true, [r1, ...]]`` with each ``ri`` what updateJob answers, or ``[false, "<message>"]``."""
    if not may_update_jobs(call.identity, legacy=True):
        return legacy_json([False, NO_ROLE_MESSAGE])
    accept_json = wants_json(call.request)
    try:
        entries = _bulk_entries(call.params.get("jobList"))
        updates = []
        for index, entry in enumerate(entries):
            if "metaData" in entry and not isinstance(entry["metaData"], str) and not is_null(entry["metaData"]):
                entry = {**entry, "metaData": _text(entry["metaData"])}
            try:
                updates.append(update_request(entry, v1=False))
            except ArgumentError as exc:
                raise ArgumentError(f"jobList[{index}]: {exc}") from None
    except ArgumentError as exc:
        return legacy_json([False, str(exc)])
    results = []
    for update in updates:
        payload = legacy_update_payload(update)
        if accept_json:
            results.append({"type": "json", "content": json.dumps(payload)})
        else:
            results.append(legacy_dict(call.request, payload).content.decode())
    return legacy_json([True, results])


def _legacy_worker_id(value) -> int:
    try:
        worker_id = cast("workerID", Param(int), value)
    except ArgumentError:
        raise ArgumentError(f"workerID must be an integer, got {value!r}") from None
    if abs(worker_id) > _INT64:
        raise ArgumentError(f"workerID is out of range: {value!r}")
    return worker_id


@legacy_method("updateWorkerPilotStatus")
def update_worker_pilot_status_legacy(call):
    if not may_update_jobs(call.identity, legacy=True):
        return legacy_dict(call.request, _legacy_role_payload(call.request))
    params = call.params
    try:
        for name in ("workerID", "harvesterID", "status"):
            if is_null(params.get(name)):
                raise ArgumentError(f"missing required argument {name}")
        worker_id = _legacy_worker_id(params["workerID"])
    except ArgumentError as exc:
        return error_text(400, f"ERROR : {exc}")
    try:
        worker_update_pilot_status(
            harvester_id=str(params["harvesterID"]),
            worker_id=worker_id,
            status=str(params["status"]),
            node_id=None if is_null(params.get("node_id")) else str(params["node_id"]),
            site=None if is_null(params.get("site")) else str(params["site"]),
        )
    except InvalidWorkerState as exc:
        return legacy_text(str(exc))
    except ValueError as exc:
        return error_text(400, f"ERROR : {exc}")
    except DatabaseError:
        log.exception("updateWorkerPilotStatus %s/%s failed", params.get("harvesterID"), params.get("workerID"))
        return legacy_dict(call.request, {"StatusCode": SC_FAILED})
    return legacy_dict(call.request, {"StatusCode": SC_SUCCESS})


# --- v1 ---------------------------------------------------------------------------------------


def v1_update_envelope(update: UpdateRequest) -> dict:
    """The v1 envelope of one update (protocol.md §6.4); ``command`` lives inside ``data``."""
    if update.pandaid is None:
        return {"success": False, "message": "job_id is NULL", "data": {"StatusCode": SC_INVALID}}
    if update.state not in VALID_STATES:
        return {"success": False, "message": f"Invalid job status: {update.state}", "data": {"StatusCode": SC_INVALID}}
    outcome = run_update(update)
    if outcome.result == Result.METADATA_FAILED:
        return {
            "success": True,
            "message": METADATA_FAILED,
            "data": {"StatusCode": SC_FAILED, "ErrorDiag": METADATA_FAILED},
        }
    if outcome.result == Result.DB_ERROR:
        return {"success": True, "message": "Database error", "data": {"StatusCode": SC_FAILED}}
    return {"success": True, "message": "", "data": {"StatusCode": SC_SUCCESS, "command": outcome.command}}


def _v1_update_request(bound: dict[str, Any]) -> UpdateRequest:
    values = {V1_TO_LEGACY[name]: value for name, value in bound.items() if value is not None}
    values["jobId"] = bound.get("job_id")
    return update_request(values, v1=True)


def _v1_response(envelope: dict):
    return (
        v1_ok(envelope["data"], envelope["message"])
        if envelope["success"]
        else v1_fail(envelope["message"], envelope["data"])
    )


@v1_method("pilot", "update_job", "POST", UPDATE_JOB_PARAMS)
def update_job(call, **params):
    if not may_update_jobs(call.identity, legacy=False):
        return v1_fail(NO_ROLE_MESSAGE)
    try:
        update = _v1_update_request(params)
    except ArgumentError as exc:
        return v1_fail(f"Argument error: {exc}")
    return _v1_response(v1_update_envelope(update))


@v1_method("pilot", "update_jobs_bulk", "POST", {"job_list": Param(list, required=True), "harvester_id": Param(str)})
def update_jobs_bulk(call, job_list, harvester_id):
    if not may_update_jobs(call.identity, legacy=False):
        return v1_fail(NO_ROLE_MESSAGE)
    updates = []
    # Every entry is checked before any is applied, so a bad entry changes nothing.
    for index, entry in enumerate(job_list):
        try:
            if not isinstance(entry, dict):
                raise ArgumentError("must be an object")
            if "meta_data" in entry and not isinstance(entry["meta_data"], str) and not is_null(entry["meta_data"]):
                entry = {**entry, "meta_data": _text(entry["meta_data"])}
            updates.append(_v1_update_request(bind(entry, UPDATE_JOB_PARAMS)))
        except ArgumentError as exc:
            return v1_fail(f"Argument error: job_list[{index}]: {exc}")
    return v1_ok([v1_update_envelope(update) for update in updates])


@v1_method(
    "pilot",
    "update_worker_status",
    "POST",
    {
        "worker_id": Param(int, required=True),
        "harvester_id": Param(str, required=True),
        "status": Param(str, required=True),
        "node_id": Param(str),
        "timeout": Param(int, default=60),
    },
)
def update_worker_status(call, worker_id, harvester_id, status, node_id, timeout):
    if not may_update_jobs(call.identity, legacy=False):
        return v1_fail(NO_ROLE_MESSAGE)
    if abs(worker_id) > _INT64:
        return v1_fail(f"Argument error: worker_id is out of range: {worker_id}")
    try:
        worker_update_pilot_status(harvester_id=harvester_id, worker_id=worker_id, status=status, node_id=node_id)
    except ValueError as exc:  # includes InvalidWorkerState, whose message is the wire text
        return v1_fail(str(exc))
    except DatabaseError:
        log.exception("update_worker_status %s/%s failed", harvester_id, worker_id)
        return v1_fail("Failed to update worker status")
    return v1_ok()
