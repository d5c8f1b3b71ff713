"""Harvester endpoints (protocol.md §9), both API generations.

Legacy methods answer what upstream's user interface answers: mostly a JSON pair
``[true, <result>]`` / ``[false, "<message>"]`` (``setNumSlotsForWP``: ``[<code>, "<message>"]``),
and the dispatcher-style ``getCommands``/``ackCommands`` a ``StatusCode`` dict. v1 answers the
envelope. Structured legacy parameters (``workers``, ``data``, ``paramsList``, ``command_ids``, ...)
are JSON strings; v1 JSON bodies may carry them as JSON values instead.

Authorisation (iam.md §11): worker updates, heartbeat and statistics need an authenticated caller;
commands, sweeps and slot targets need the production role.
"""

import json
import logging
from typing import Any

from django.db import DatabaseError

from apps.accounts.permissions import NO_ROLE_MESSAGE, may_manage_harvester, may_report_harvester
from apps.core.values import is_null
from apps.dispatcher.encoding import error_text, legacy_dict, legacy_json, v1_fail, v1_ok, wants_json
from apps.dispatcher.registry import ArgumentError, Param, cast, legacy_method, v1_method
from apps.workers.selectors.harvester import worker_max_id, worker_statistics
from apps.workers.services.commands import (
    ALL_CES,
    harvester_commands_acknowledge,
    harvester_commands_acquire,
    harvester_slots_set,
    harvester_sweep_queue,
)
from apps.workers.services.harvester import (
    HarvesterDataError,
    harvester_add_dialogs,
    harvester_add_service_metrics,
    harvester_id_check,
    harvester_record_heartbeat,
    json_value,
    worker_stats_replace,
)
from apps.workers.services.worker_updates import WorkerDataError, workers_update

log = logging.getLogger(__name__)

SC_SUCCESS, SC_TIMEOUT, SC_FAILED, SC_ROLE = 0, 10, 30, 60
AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"
MESSAGE_DATABASE = "database error in the PanDA server"
STATS_OK = "OK"
SLOTS_BAD_INPUT, SLOTS_FAILED = 102, 1
DEFAULT_TIMEOUT = 30
_INT64 = 2**63 - 1


def _host(call) -> str:
    return call.request.META.get("REMOTE_ADDR", "")


def _required(params: dict, *names: str) -> list[Any]:
    values = []
    for name in names:
        value = params.get(name)
        if is_null(value):
            raise ArgumentError(f"missing required argument {name}")
        values.append(value)
    return values


def _string_list(name: str, value: Any) -> list[str]:
    """A list of names: a JSON list (legacy strings, JSON bodies) or repeated form keys."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ArgumentError(f"{name} must be a list of strings")
    return value


def _ce_list(value: Any) -> list[str] | str:
    if value == ALL_CES or value == [ALL_CES]:
        return ALL_CES
    if isinstance(value, str) and value.strip() == json.dumps(ALL_CES):
        return ALL_CES
    return _string_list("ce_list", value)


def _role_payload(request) -> dict:
    payload: dict[str, Any] = {"StatusCode": SC_ROLE}
    if wants_json(request):
        payload["errorDialog"] = NO_ROLE_MESSAGE
    return payload


# --- worker updates -------------------------------------------------------------------------------


@legacy_method("updateWorkers")
def update_workers_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        harvester_id, workers = _required(call.params, "harvesterID", "workers")
        results = workers_update(harvester_id=str(harvester_id), workers=json_value("workers", workers, kind=list))
    except (ArgumentError, HarvesterDataError, WorkerDataError) as exc:
        return legacy_json([False, str(exc)])
    except DatabaseError:
        log.exception("updateWorkers %s failed", call.params.get("harvesterID"))
        return legacy_json([False, MESSAGE_DATABASE])
    return legacy_json([True, results])


@v1_method(
    "harvester",
    "update_workers",
    "POST",
    {"harvester_id": Param(str, required=True), "workers": Param("any", required=True)},
)
def update_workers(call, harvester_id, workers):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        results = workers_update(harvester_id=harvester_id, workers=json_value("workers", workers, kind=list))
    except (HarvesterDataError, WorkerDataError) as exc:
        return v1_fail(f"Argument error: {exc}")
    except DatabaseError:
        log.exception("harvester/update_workers %s failed", harvester_id)
        return v1_fail(MESSAGE_DATABASE)
    return v1_ok(results)


# --- heartbeat ------------------------------------------------------------------------------------


def _heartbeat(call, harvester_id: str, data: Any) -> str:
    data = {} if is_null(data) else json_value("data", data, kind=dict)
    return harvester_record_heartbeat(harvester_id=harvester_id, owner_dn=call.identity.dn, host=_host(call), data=data)


@legacy_method("harvesterIsAlive")
def harvester_is_alive_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        (harvester_id,) = _required(call.params, "harvesterID")
        message = _heartbeat(call, str(harvester_id), call.params.get("data"))
    except (ArgumentError, HarvesterDataError) as exc:
        return legacy_json([False, str(exc)])
    except DatabaseError:
        log.exception("harvesterIsAlive %s failed", call.params.get("harvesterID"))
        return legacy_json([False, MESSAGE_DATABASE])
    return legacy_json([True, message])


@v1_method("harvester", "heartbeat", "POST", {"harvester_id": Param(str, required=True), "data": Param("any")})
def heartbeat(call, harvester_id, data):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        message = _heartbeat(call, harvester_id, data)
    except HarvesterDataError as exc:
        return v1_fail(f"Argument error: {exc}")
    except DatabaseError:
        log.exception("harvester/heartbeat %s failed", harvester_id)
        return v1_fail(MESSAGE_DATABASE)
    return v1_ok(None, message)


# --- worker statistics ----------------------------------------------------------------------------


@legacy_method("reportWorkerStats_jobtype")
def report_worker_stats_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        harvester_id, queue, statistics = _required(call.params, "harvesterID", "siteName", "paramsList")
        statistics = json_value("paramsList", statistics, kind=dict)
        worker_stats_replace(harvester_id=str(harvester_id), queue=str(queue), statistics=statistics)
    except (ArgumentError, HarvesterDataError) as exc:
        return legacy_json([False, str(exc)])
    except DatabaseError:
        log.exception("reportWorkerStats_jobtype %s failed", call.params.get("harvesterID"))
        return legacy_json([False, MESSAGE_DATABASE])
    return legacy_json([True, STATS_OK])


@v1_method(
    "harvester",
    "report_worker_statistics",
    "POST",
    {
        "harvester_id": Param(str, required=True),
        "panda_queue": Param(str, required=True),
        "statistics": Param("any", required=True),
    },
)
def report_worker_statistics(call, harvester_id, panda_queue, statistics):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        statistics = json_value("statistics", statistics, kind=dict)
        worker_stats_replace(harvester_id=harvester_id, queue=panda_queue, statistics=statistics)
    except HarvesterDataError as exc:
        return v1_fail(f"Argument error: {exc}")
    except DatabaseError:
        log.exception("harvester/report_worker_statistics %s failed", harvester_id)
        return v1_fail(MESSAGE_DATABASE)
    return v1_ok(None, STATS_OK)


@legacy_method("getWorkerStats")
def get_worker_stats_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    return legacy_json(worker_statistics())


@v1_method("harvester", "get_worker_statistics", "GET")
def get_worker_statistics(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    return v1_ok(worker_statistics())


# --- worker ids -----------------------------------------------------------------------------------


@legacy_method("get_max_worker_id")
def get_max_worker_id_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        (harvester_id,) = _required(call.params, "harvester_id")
        harvester_id_check(str(harvester_id))
    except (ArgumentError, HarvesterDataError) as exc:
        return legacy_json([False, str(exc)])
    return legacy_json([True, worker_max_id(harvester_id=str(harvester_id))])


@v1_method("harvester", "get_current_worker_id", "GET", {"harvester_id": Param(str, required=True)})
def get_current_worker_id(call, harvester_id):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        harvester_id_check(harvester_id)
    except HarvesterDataError as exc:
        return v1_fail(f"Argument error: {exc}")
    return v1_ok(worker_max_id(harvester_id=harvester_id))


# --- commands -------------------------------------------------------------------------------------


def _n_commands(value: Any) -> int:
    n_commands = cast("n_commands", Param(int), value)
    if n_commands < 0:
        raise ArgumentError(f"n_commands must not be negative, got {n_commands}")
    return n_commands


def _command_ids(value: Any) -> list[int]:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise ArgumentError("command_ids is not valid JSON") from None
    ids = cast("command_ids", Param("int_list"), value)
    if any(not 0 < command_id <= _INT64 for command_id in ids):
        raise ArgumentError(f"command_ids must be command IDs, got {value!r}")
    return ids


@legacy_method("getCommands")
def get_commands_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if not may_manage_harvester(call.identity):
        return legacy_dict(call.request, _role_payload(call.request))
    try:
        harvester_id, n_commands = _required(call.params, "harvester_id", "n_commands")
        n_commands = _n_commands(n_commands)
        commands = harvester_commands_acquire(harvester_id=str(harvester_id), n_commands=n_commands)
    except (ArgumentError, HarvesterDataError) as exc:
        return error_text(400, f"ERROR : {exc}")
    except DatabaseError:
        log.exception("getCommands %s failed", call.params.get("harvester_id"))
        return legacy_dict(call.request, {"StatusCode": SC_FAILED})
    return legacy_dict(call.request, {"StatusCode": SC_SUCCESS, "Returns": 0, "Commands": commands})


@v1_method(
    "harvester",
    "acquire_commands",
    "POST",
    {
        "harvester_id": Param(str, required=True),
        "n_commands": Param(int, required=True),
        "timeout": Param(int, default=DEFAULT_TIMEOUT),
    },
)
def acquire_commands(call, harvester_id, n_commands, timeout):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if not may_manage_harvester(call.identity):
        return v1_fail(NO_ROLE_MESSAGE)
    try:
        commands = harvester_commands_acquire(harvester_id=harvester_id, n_commands=_n_commands(n_commands))
    except (ArgumentError, HarvesterDataError) as exc:
        return v1_fail(f"Argument error: {exc}")
    except DatabaseError:
        log.exception("harvester/acquire_commands %s failed", harvester_id)
        return v1_fail(MESSAGE_DATABASE)
    return v1_ok(commands)


@legacy_method("ackCommands")
def ack_commands_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if not may_manage_harvester(call.identity):
        return legacy_dict(call.request, _role_payload(call.request))
    try:
        (command_ids,) = _required(call.params, "command_ids")
        harvester_commands_acknowledge(command_ids=_command_ids(command_ids))
    except ArgumentError as exc:
        return error_text(400, f"ERROR : {exc}")
    except DatabaseError:
        log.exception("ackCommands failed")
        return legacy_dict(call.request, {"StatusCode": SC_FAILED})
    return legacy_dict(call.request, {"StatusCode": SC_SUCCESS, "Returns": 0})


@v1_method(
    "harvester",
    "acknowledge_commands",
    "POST",
    {"command_ids": Param("any", required=True), "timeout": Param(int, default=DEFAULT_TIMEOUT)},
)
def acknowledge_commands(call, command_ids, timeout):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if not may_manage_harvester(call.identity):
        return v1_fail(NO_ROLE_MESSAGE)
    try:
        harvester_commands_acknowledge(command_ids=_command_ids(command_ids))
    except ArgumentError as exc:
        return v1_fail(f"Argument error: {exc}")
    except DatabaseError:
        log.exception("harvester/acknowledge_commands failed")
        return v1_fail(MESSAGE_DATABASE)
    return v1_ok()


# --- sweeps and slot targets ----------------------------------------------------------------------


@legacy_method("sweepPQ")
def sweep_pq_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if not may_manage_harvester(call.identity):
        return legacy_json([False, NO_ROLE_MESSAGE])
    try:
        queue, statuses, ces, hosts = _required(
            call.params, "panda_queue", "status_list", "ce_list", "submission_host_list"
        )
        if isinstance(queue, str) and queue.startswith('"'):
            queue = json.loads(queue)  # upstream json-decodes every argument, the queue name too
        ok, message = harvester_sweep_queue(
            panda_queue=str(queue),
            status_list=_string_list("status_list", statuses),
            ce_list=_ce_list(ces),
            submission_host_list=_string_list("submission_host_list", hosts),
        )
    except (ArgumentError, HarvesterDataError, ValueError) as exc:
        return legacy_json([False, str(exc)])
    return legacy_json([ok, message])


@v1_method(
    "harvester",
    "add_sweep_command",
    "POST",
    {
        "panda_queue": Param(str, required=True),
        "status_list": Param("any", required=True),
        "ce_list": Param("any", required=True),
        "submission_host_list": Param("any", required=True),
    },
)
def add_sweep_command(call, panda_queue, status_list, ce_list, submission_host_list):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if not may_manage_harvester(call.identity):
        return v1_fail(NO_ROLE_MESSAGE)
    try:
        ok, message = harvester_sweep_queue(
            panda_queue=panda_queue,
            status_list=_string_list("status_list", status_list),
            ce_list=_ce_list(ce_list),
            submission_host_list=_string_list("submission_host_list", submission_host_list),
        )
    except (ArgumentError, HarvesterDataError) as exc:
        return v1_fail(f"Argument error: {exc}")
    return v1_ok(None, message) if ok else v1_fail(message)


@legacy_method("setNumSlotsForWP")
def set_num_slots_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if not may_manage_harvester(call.identity):
        return legacy_json([SLOTS_FAILED, NO_ROLE_MESSAGE])
    params = call.params
    try:
        queue, slots = _required(params, "pandaQueueName", "numSlots")
        slots = cast("numSlots", Param(int), slots)
    except ArgumentError as exc:
        return legacy_json([SLOTS_BAD_INPUT, str(exc)])
    try:
        message = harvester_slots_set(
            panda_queue=str(queue),
            slots=slots,
            gshare=None if is_null(params.get("gshare")) else str(params["gshare"]),
            resource_type=None if is_null(params.get("resourceType")) else str(params["resourceType"]),
            expiration=params.get("validPeriod"),
        )
    except HarvesterDataError as exc:
        return legacy_json([SLOTS_BAD_INPUT, str(exc)])
    except DatabaseError:
        log.exception("setNumSlotsForWP %s failed", queue)
        return legacy_json([SLOTS_FAILED, MESSAGE_DATABASE])
    return legacy_json([SC_SUCCESS, message])


@v1_method(
    "harvester",
    "add_target_slots",
    "POST",
    {
        "panda_queue": Param(str, required=True),
        "slots": Param(int, required=True),
        "global_share": Param(str),
        "resource_type": Param(str),
        "expiration_date": Param("any"),
    },
)
def add_target_slots(call, panda_queue, slots, global_share, resource_type, expiration_date):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if not may_manage_harvester(call.identity):
        return v1_fail(NO_ROLE_MESSAGE)
    try:
        message = harvester_slots_set(
            panda_queue=panda_queue,
            slots=slots,
            gshare=global_share,
            resource_type=resource_type,
            expiration=expiration_date,
        )
    except HarvesterDataError as exc:
        return v1_fail(f"Argument error: {exc}")
    except DatabaseError:
        log.exception("harvester/add_target_slots %s failed", panda_queue)
        return v1_fail(MESSAGE_DATABASE)
    return v1_ok(None, message)


# --- dialogs and service metrics ------------------------------------------------------------------


@legacy_method("addHarvesterDialogs")
def add_harvester_dialogs_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        harvester_id, dialogs = _required(call.params, "harvesterID", "dialogs")
        harvester_add_dialogs(harvester_id=str(harvester_id), dialogs=json_value("dialogs", dialogs, kind=list))
    except (ArgumentError, HarvesterDataError) as exc:
        return legacy_json([False, str(exc)])
    return legacy_json([True, ""])


@v1_method(
    "harvester",
    "add_dialogs",
    "POST",
    {"harvester_id": Param(str, required=True), "dialogs": Param("any", required=True)},
)
def add_dialogs(call, harvester_id, dialogs):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        harvester_add_dialogs(harvester_id=harvester_id, dialogs=json_value("dialogs", dialogs, kind=list))
    except HarvesterDataError as exc:
        return v1_fail(f"Argument error: {exc}")
    return v1_ok()


@legacy_method("updateServiceMetrics")
def update_service_metrics_legacy(call):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        harvester_id, metrics = _required(call.params, "harvesterID", "metrics")
        stored = harvester_add_service_metrics(
            harvester_id=str(harvester_id), metrics=json_value("metrics", metrics, kind=list)
        )
    except (ArgumentError, HarvesterDataError) as exc:
        return legacy_json([False, str(exc)])
    return legacy_json([True, stored])


@v1_method(
    "harvester",
    "update_service_metrics",
    "POST",
    {"harvester_id": Param(str, required=True), "metrics": Param("any", required=True)},
)
def update_service_metrics(call, harvester_id, metrics):
    if not may_report_harvester(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        stored = harvester_add_service_metrics(
            harvester_id=harvester_id, metrics=json_value("metrics", metrics, kind=list)
        )
    except HarvesterDataError as exc:
        return v1_fail(f"Argument error: {exc}")
    return v1_ok(stored)
