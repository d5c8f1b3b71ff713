"""Client task endpoints (protocol.md §10.1): v1 ``task/*`` queries and commands.

panda-client 2.x calls only these v1 endpoints (its ``killTask``, ``finishTask``, ``retryTask``,
``getJediTaskDetails``, ``getTaskStatus``, ``getTaskParamsMap``, ``pauseTask``, ...); the spec has
no legacy task methods. Task submission (``task/submit``) lives in ``task_submit.py``.

* ``task/get_details`` adds ``brokerage``: the task's newest job and task (nucleus) brokerage
  decisions (:func:`apps.brokerage.selectors.decisions.brokerage_explanation`), ``null`` when none.
* Queries need an authenticated caller, except ``task/get_task_parameters`` (no auth, as upstream).
* Commands are queued for the TaskCommando by :func:`apps.jedi.services.commands.task_command_enqueue`
  and answer ``data`` = the return code of §10.3, ``message`` its text and ``success`` = code 0;
  ``task/retry`` always answers ``success:true`` (panda-client reads the code from ``data``).
  Who may send what is :func:`apps.accounts.permissions.may_command_task`.
"""

import datetime as dt

from apps.accounts.identity import clean_user_id
from apps.accounts.permissions import may_read_tasks
from apps.brokerage.selectors.decisions import brokerage_explanation
from apps.core.timeutil import WIRE_FORMAT
from apps.dispatcher.encoding import error_text, v1_envelope, v1_fail, v1_ok
from apps.dispatcher.registry import Param, v1_method
from apps.jedi.selectors.tasks import (
    BadTaskParameters,
    task_datasets_and_files,
    task_details,
    task_job_descriptions,
    task_job_ids,
    task_parameters,
    task_status,
    tasks_modified_since,
)
from apps.jedi.services.commands import (
    ATTEMPTS_NOT_FOUND,
    NOT_FOUND,
    RETRY_FLAGS,
    CommandOutcome,
    InvalidCommand,
    not_found_message,
    task_change_priority,
    task_command_enqueue,
    task_increase_attempts,
)
from apps.jedi.states import Command
from apps.jobs.services.kill import jobs_kill

AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"
TASK_NOT_FOUND = "Task not found"
_INT64 = 2**63 - 1
_TASK_ID = {"task_id": Param(int, required=True)}


def _unknown(task_id: int) -> bool:
    """An id no task can have is simply unknown (never a database range error)."""
    return not 0 < task_id <= _INT64


def _answer(outcome: CommandOutcome, *, always_success: bool = False):
    return v1_envelope(always_success or outcome.success, outcome.message, outcome.code)


def _command(call, task_id: int, command: str, parameters: dict | None = None, **kwargs):
    if not call.identity.authenticated:
        return error_text(403, AUTH_REQUIRED)
    if _unknown(task_id):
        return _answer(CommandOutcome(NOT_FOUND, not_found_message(task_id)), **kwargs)
    try:
        outcome = task_command_enqueue(call.identity, task_id, command, parameters=parameters)
    except InvalidCommand as exc:
        return v1_fail(f"Argument error: {exc}")
    return _answer(outcome, **kwargs)


# --- queries ---------------------------------------------------------------------------------------


@v1_method("task", "get_status", "GET", _TASK_ID)
def get_status(call, task_id):
    if not may_read_tasks(call.identity):
        return error_text(403, AUTH_REQUIRED)
    status = None if _unknown(task_id) else task_status(task_id=task_id)
    return v1_ok(status) if status is not None else v1_fail(TASK_NOT_FOUND)


@v1_method(
    "task",
    "get_details",
    "GET",
    {**_TASK_ID, "include_parameters": Param(bool, default=False), "include_status": Param(bool, default=False)},
)
def get_details(call, task_id, include_parameters, include_status):
    if not may_read_tasks(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        details = None
        if not _unknown(task_id):
            details = task_details(
                task_id=task_id, include_parameters=include_parameters, include_status=include_status
            )
    except BadTaskParameters as exc:
        return v1_fail(str(exc))
    if details is None:
        return v1_fail("Task not found or error retrieving the details")
    # This project's addition: why the task's jobs go (or do not go) where they do.
    explanation = brokerage_explanation(task_id)
    details["brokerage"] = {key: explanation[key] for key in ("job_brokerage", "task_brokerage")}
    return v1_ok(details)


@v1_method("task", "get_job_ids", "GET", _TASK_ID)
def get_job_ids(call, task_id):
    if not may_read_tasks(call.identity):
        return error_text(403, AUTH_REQUIRED)
    return v1_ok([] if _unknown(task_id) else task_job_ids(task_id=task_id))


@v1_method("task", "get_task_parameters", "GET", _TASK_ID)
def get_task_parameters(call, task_id):
    try:
        params = None if _unknown(task_id) else task_parameters(task_id=task_id)
    except BadTaskParameters as exc:
        return v1_fail(str(exc))
    return v1_ok(params) if params is not None else v1_fail(TASK_NOT_FOUND)


@v1_method(
    "task",
    "get_tasks_modified_since",
    "GET",
    {
        "since": Param(str, required=True),
        "dn": Param(str),
        "full": Param(bool, default=False),
        "min_task_id": Param(int),
        "prod_source_label": Param(str, default="user"),
    },
)
def get_tasks_modified_since(call, since, dn, full, min_task_id, prod_source_label):
    if not may_read_tasks(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        moment = dt.datetime.strptime(since.strip(), WIRE_FORMAT)
    except ValueError:
        return v1_fail(f"Argument error: since must be '{WIRE_FORMAT}', got {since!r}")
    owner = clean_user_id(dn) if dn else call.identity.compact_name
    tasks = tasks_modified_since(
        owner=owner, since=moment, full=full, min_task_id=min_task_id, prod_source_label=prod_source_label
    )
    return v1_ok(tasks)


@v1_method(
    "task",
    "get_datasets_and_files",
    "GET",
    {
        **_TASK_ID,
        "dataset_types": Param(list, default=lambda: ["input", "pseudo_input"]),
        "dataset_only": Param(bool, default=False),
    },
)
def get_datasets_and_files(call, task_id, dataset_types, dataset_only):
    if not may_read_tasks(call.identity):
        return error_text(403, AUTH_REQUIRED)
    # Repeated keys (what panda-client sends), a JSON list, or one comma-separated string.
    types = [part.strip() for item in dataset_types for part in str(item).split(",") if part.strip()]
    data = (
        []
        if _unknown(task_id)
        else task_datasets_and_files(task_id=task_id, dataset_types=types, dataset_only=dataset_only)
    )
    return v1_ok(data) if data else v1_fail("No data found for the task")


@v1_method("task", "get_job_descriptions", "GET", {**_TASK_ID, "unsuccessful_only": Param(bool, default=False)})
def get_job_descriptions(call, task_id, unsuccessful_only):
    if not may_read_tasks(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if _unknown(task_id):
        return v1_ok([])
    return v1_ok(task_job_descriptions(task_id=task_id, unsuccessful_only=unsuccessful_only))


# --- commands --------------------------------------------------------------------------------------


@v1_method("task", "kill", "POST", {**_TASK_ID, "broadcast": Param(bool, default=False)})
def kill(call, task_id, broadcast):
    return _command(call, task_id, Command.KILL, {"broadcast": broadcast})


@v1_method(
    "task", "finish", "POST", {**_TASK_ID, "soft": Param(bool, default=False), "broadcast": Param(bool, default=False)}
)
def finish(call, task_id, soft, broadcast):
    return _command(call, task_id, Command.FINISH, {"soft": soft, "broadcast": broadcast})


@v1_method(
    "task",
    "retry",
    "POST",
    {
        **_TASK_ID,
        "new_parameters": Param(dict),
        **{flag: Param(bool, default=False) for flag in RETRY_FLAGS},
        "ignore_hard_exhausted": Param(bool, default=False),
    },
)
def retry(call, task_id, new_parameters, ignore_hard_exhausted, **flags):
    parameters = {"new_parameters": new_parameters, "ignore_hard_exhausted": ignore_hard_exhausted, **flags}
    return _command(call, task_id, Command.RETRY, parameters, always_success=True)


@v1_method("task", "reload_input", "POST", {**_TASK_ID, "ignore_hard_exhausted": Param(bool, default=False)})
def reload_input(call, task_id, ignore_hard_exhausted):
    return _command(call, task_id, Command.INCEXEC, {"ignore_hard_exhausted": ignore_hard_exhausted})


@v1_method("task", "pause", "POST", _TASK_ID)
def pause(call, task_id):
    return _command(call, task_id, Command.PAUSE)


@v1_method("task", "resume", "POST", _TASK_ID)
def resume(call, task_id):
    return _command(call, task_id, Command.RESUME)


@v1_method("task", "release", "POST", _TASK_ID)
def release(call, task_id):
    return _command(call, task_id, Command.RELEASE)


@v1_method("task", "avalanche", "POST", _TASK_ID)
def avalanche(call, task_id):
    return _command(call, task_id, Command.AVALANCHE)


@v1_method(
    "task",
    "reassign",
    "POST",
    {**_TASK_ID, "site": Param(str), "cloud": Param(str), "nucleus": Param(str), "mode": Param(str)},
)
def reassign(call, task_id, site, cloud, nucleus, mode):
    parameters = {"site": site or None, "cloud": cloud or None, "nucleus": nucleus or None, "mode": mode or None}
    return _command(call, task_id, Command.REASSIGN, parameters)


def _direct(call, task_id: int, change, value: int, *, not_found_code: int):
    if not call.identity.authenticated:
        return error_text(403, AUTH_REQUIRED)
    if _unknown(task_id):
        return _answer(CommandOutcome(not_found_code, not_found_message(task_id)))
    return _answer(change(call.identity, task_id, value))


@v1_method("task", "change_priority", "POST", {**_TASK_ID, "priority": Param(int, required=True)})
def change_priority(call, task_id, priority):
    return _direct(call, task_id, task_change_priority, priority, not_found_code=NOT_FOUND)


@v1_method("task", "increase_attempts", "POST", {**_TASK_ID, "increase": Param(int, required=True)})
def increase_attempts(call, task_id, increase):
    return _direct(call, task_id, task_increase_attempts, increase, not_found_code=ATTEMPTS_NOT_FOUND)


@v1_method(
    "task",
    "kill_unfinished_jobs",
    "POST",
    {**_TASK_ID, "code": Param(int), "use_email_as_id": Param(bool, default=False)},
)
def kill_unfinished_jobs(call, task_id, code, use_email_as_id):
    """Every unfinished job of the task, each with the job-kill permission check (states.md §4)."""
    if not call.identity.authenticated:
        return error_text(403, AUTH_REQUIRED)
    pandaids = [] if _unknown(task_id) else task_job_ids(task_id=task_id, unfinished_only=True)
    results = jobs_kill(identity=call.identity, pandaids=pandaids, code=code, use_email_as_id=use_email_as_id)
    return v1_ok(results)
