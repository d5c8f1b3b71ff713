"""Task submission (protocol.md §10.1, §10.3; jedi.md §3): check a parameter map and register the task.

:func:`task_submit` answers a :class:`SubmitOutcome` with the return codes of §10.3:

* 0 — created in ``registered`` with its stored parameters and the creation status-log row, in
  one transaction; the TaskRefiner takes it from there. Message ``succeeded. new jediTaskID=<N>``.
* 1 — the same user already has a task of that name still ``registered`` (not refined yet).
* 2 — an ``anal`` task with ``uniqueTaskName`` while the user's task of that name is not final.
* 3 — the user's latest task of that name is ``finished``/``done``/``failed``: instead of a new task,
  an ``incexec`` command with ``new_parameters`` = the new map is queued for it
  (:func:`apps.jedi.services.commands.task_command_enqueue`; the TaskCommando executes it). A
  command already waiting for that task answers code 1.
* 4 — refused: bad parameters (:class:`~apps.jedi.taskparams.TaskParamError`), an input dataset
  DDM does not know, resources no queue offers, a managed task from a non-production caller, or a
  server error. Nothing is stored.
* 10 — the user has ``PANDA_MAX_ACTIVE_TASKS_PER_USER`` non-final tasks already.
* 11 — ``parent_tid`` names no task.

Non-production callers get ``userName`` = their compact name, ``taskType`` ``anal`` and
``taskPriority`` 1000 (jedi.md §3). Concurrent submissions of one user+taskName are serialised on
PostgreSQL by a transaction-level advisory lock, so the duplicate checks hold there; on SQLite
writes are serialised anyway.
"""

import hashlib
import json
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from apps.accounts.identity import Identity
from apps.accounts.permissions import acts_for_others, check_submit_task
from apps.ddm.interface import DDMError, UnknownDataset, ddm
from apps.jedi.models import Task, TaskParams
from apps.jedi.services.commands import task_command_enqueue
from apps.jedi.services.transitions import task_log_creation
from apps.jedi.states import FINAL, Command, TaskStatus
from apps.jedi.taskparams import ParsedTask, TaskParamError, parse_task_params
from apps.shares.services.matching import share_for
from apps.sites.models import PandaQueue

log = logging.getLogger(__name__)

SUCCESS = 0
DUPLICATE_REQUEST = 1
DUPLICATE_TASK = 2
INCEXEC = 3
REFUSED = 4
TOO_MANY_TASKS = 10
NO_PARENT = 11

RESUBMITTABLE = (TaskStatus.FINISHED, TaskStatus.DONE, TaskStatus.FAILED)
_QUEUES_NAMED = 3  # how many queues a resource refusal names


@dataclass(frozen=True)
class SubmitOutcome:
    code: int
    message: str
    jeditaskid: int | None = None

    @property
    def success(self) -> bool:
        return self.code in (SUCCESS, INCEXEC)


class _Refused(Exception):
    def __init__(self, code: int, message: str, jeditaskid: int | None = None):
        super().__init__(message)
        self.outcome = SubmitOutcome(code, message, jeditaskid)


def task_submit(identity: Identity, params: dict, *, parent_tid: int | None = None) -> SubmitOutcome:
    """Check ``params`` and register the task (or queue an incexec); see the module docstring."""
    try:
        params, parsed = _normalised(identity, params)
        _check_inputs_exist(parsed)
        _check_resources(parsed)
        with transaction.atomic():
            _serialise(parsed.columns["username"], parsed.columns["taskname"])
            if parent_tid is not None and not Task.objects.filter(jeditaskid=parent_tid).exists():
                raise _Refused(NO_PARENT, f"parent task jediTaskID={parent_tid} not found")
            resubmitted = _check_duplicates(identity, params, parsed)
            if resubmitted is not None:
                return resubmitted
            _check_active_limit(parsed.columns["username"])
            task = _create(identity, params, parsed, parent_tid)
    except _Refused as refused:
        return refused.outcome
    except (DatabaseError, DDMError) as exc:
        log.exception("task submission failed")
        return SubmitOutcome(REFUSED, f"server error: {exc}")
    log.info("registered jediTaskID=%s %s for %s", task.jeditaskid, task.taskname, task.username)
    return SubmitOutcome(SUCCESS, f"succeeded. new jediTaskID={task.jeditaskid}", task.jeditaskid)


def _normalised(identity: Identity, params) -> tuple[dict, ParsedTask]:
    if not isinstance(params, dict):
        raise _Refused(REFUSED, "refused: the task parameters must be a JSON object")
    params = dict(params)
    if acts_for_others(identity):
        params.setdefault("userName", identity.compact_name)
    else:
        params["userName"] = identity.compact_name
        params["taskType"] = "anal"
        params["taskPriority"] = 1000
    try:
        parsed = parse_task_params(params)
    except TaskParamError as exc:
        raise _Refused(REFUSED, f"refused: {exc}") from None
    decision = check_submit_task(identity, prod_source_label=parsed.columns["prodsourcelabel"])
    if not decision.allowed:
        raise _Refused(REFUSED, f"refused: {decision.reason}")
    return params, parsed


def _check_inputs_exist(parsed: ParsedTask) -> None:
    for ds in parsed.inputs():
        if ds.type != "input":
            continue
        try:
            ddm().get_dataset(ds.datasetname)
        except UnknownDataset:
            raise _Refused(REFUSED, f"refused: input dataset {ds.datasetname} is unknown to DDM") from None


def queue_refusal(queue: PandaQueue, columns: dict) -> str | None:
    """Why ``queue`` can never run a task with these resources (None when it could)."""
    task_cores = columns["corecount"] or 0
    queue_cores = queue.corecount
    if task_cores == 1 and queue_cores not in (0, 1, -1, None):
        return f"single-core task but the queue has corecount {queue_cores}"
    if task_cores > 1 and queue_cores not in (0, -1, None) and queue_cores < task_cores:
        return f"coreCount {task_cores} > queue corecount {queue_cores}"
    ram = columns["ramcount"] or 0
    if ram and queue.maxrss:
        cores = queue_cores if queue_cores and queue_cores > 0 else max(task_cores, 1)
        total = ram if columns["ramunit"] == "MB" else ram * cores
        base = columns["baseramcount"] or 0
        if total + base > queue.maxrss:
            return f"ramCount {ram} MB x {cores} cores (+{base} MB base) > maxrss {queue.maxrss} MB"
    walltime = columns["walltime"] or 0
    if walltime and queue.maxtime and walltime > queue.maxtime:
        return f"walltime {walltime} s > maxtime {queue.maxtime} s"
    return None


def _site_matches(pattern: str, name: str) -> bool:
    if pattern == name:
        return True
    try:
        return re.fullmatch(pattern, name) is not None
    except re.error:
        return False


def _check_resources(parsed: ParsedTask) -> None:
    columns = parsed.columns
    queues = list(PandaQueue.objects.order_by("name"))
    if columns["site"]:
        queues = [q for q in queues if _site_matches(columns["site"], q.name)]
        if not queues:
            raise _Refused(REFUSED, f"refused: site {columns['site']} matches no queue")
    if not queues:
        raise _Refused(REFUSED, "refused: no queue is configured to run the task")
    reasons = []
    for queue in queues:
        reason = queue_refusal(queue, columns)
        if reason is None:
            return
        reasons.append(f"{queue.name}: {reason}")
    more = f" (and {len(reasons) - _QUEUES_NAMED} more)" if len(reasons) > _QUEUES_NAMED else ""
    raise _Refused(REFUSED, f"refused: no queue can run the task: {'; '.join(reasons[:_QUEUES_NAMED])}{more}")


def _serialise(username: str, taskname: str) -> None:
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"{username}\0{taskname}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _check_duplicates(identity: Identity, params: dict, parsed: ParsedTask) -> SubmitOutcome | None:
    columns = parsed.columns
    same = Task.objects.filter(username=columns["username"], taskname=columns["taskname"])
    registered = same.filter(status=TaskStatus.REGISTERED).order_by("-jeditaskid").first()
    if registered is not None:
        raise _Refused(
            DUPLICATE_REQUEST,
            f"task {columns['taskname']} is already registered as jediTaskID={registered.jeditaskid}",
            registered.jeditaskid,
        )
    if parsed.unique_task_name and columns["tasktype"] == "anal":
        active = same.exclude(status__in=list(FINAL)).order_by("-jeditaskid").first()
        if active is not None:
            raise _Refused(
                DUPLICATE_TASK,
                f"task {columns['taskname']} is still {active.status} as jediTaskID={active.jeditaskid}",
                active.jeditaskid,
            )
    latest = same.order_by("-jeditaskid").first()
    if latest is None or latest.status not in RESUBMITTABLE:
        return None
    return _queue_incexec(identity, latest, params)


def _queue_incexec(identity: Identity, task: Task, params: dict) -> SubmitOutcome:
    outcome = task_command_enqueue(
        identity,
        task.jeditaskid,
        Command.INCEXEC,
        parameters={"new_parameters": params},
        comment="re-submission with new task parameters",
    )
    if not outcome.success:
        raise _Refused(DUPLICATE_REQUEST, outcome.message, task.jeditaskid)
    return SubmitOutcome(INCEXEC, f"succeeded. new jediTaskID={task.jeditaskid}", task.jeditaskid)


def _check_active_limit(username: str) -> None:
    limit = settings.PANDA_MAX_ACTIVE_TASKS_PER_USER
    active = Task.objects.filter(username=username).exclude(status__in=list(FINAL)).count()
    if active >= limit:
        raise _Refused(TOO_MANY_TASKS, f"too many active tasks: {username} has {active} (limit {limit})")


def _create(identity: Identity, params: dict, parsed: ParsedTask, parent_tid: int | None) -> Task:
    columns = parsed.columns
    gshare = share_for(
        prodsourcelabel=columns["prodsourcelabel"],
        workinggroup=columns["workinggroup"],
        campaign=columns["campaign"],
        processingtype=columns["processingtype"],
        vo=columns["vo"],
    )
    task = Task.objects.create(
        **columns,
        status=TaskStatus.REGISTERED,
        userdn=(identity.dn or identity.username)[:250],
        parent_tid=parent_tid,
        gshare=gshare[:32],
    )
    TaskParams.objects.create(task=task, taskparams=json.dumps(params))
    task_log_creation(task)
    return task
