"""The TaskCommando (jedi.md §2, states.md §8): executes the queued task commands.

Each run claims queued :class:`~apps.jedi.models.TaskCommand` rows (a conditional update of
``lockedby``; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), then the task's agent lease
(:func:`~apps.jedi.services.locks.tasks_claim`), so it never acts while another agent works on
the task; a command whose task is busy is left queued for the next run. The command's acceptance
is checked again (the task may have moved since it was queued), one function per command runs,
and the row ends ``done`` or ``failed`` with a result text.

What each command does (the task enters the command's intermediate state here, not when queued):

* ``kill``: ``aborting``; all unfinished jobs killed with code 50 (queued ones are archived at
  once, dispatched ones get ``tobekilled``); ``toabort`` once no unfinished job is left — the
  PostProcessor then makes it ``aborted``.
* ``finish``: ``finishing`` (the generator stops); soft: queued jobs killed with 52, running ones
  continue; hard: all unfinished jobs killed with 52. ``passed`` once no unfinished job is left.
* ``retry``: ``toretry``; ``failed`` inputs back to ``ready`` with a fresh attempt allowance
  (:func:`~apps.jedi.services.attempts.files_reset_for_retry`); the output and log datasets the
  PostProcessor closed are opened again in DDM (so are they for ``incexec``); ``ready`` (the
  generator takes over, also of the unprocessed ``ready`` inputs a soft finish left; a finished
  or failed task with neither fails the command). With ``new_parameters`` it is an incremental
  execution, as upstream makes it: the parameters can only take effect through the refiner.
* ``incexec`` (reload input / new parameters): ``toincexec``; new parameters merged into the
  stored map (a ``null`` value deletes the key); failed inputs reset; input datasets marked
  ``toupdate`` so the ContentsFeeder looks for new files; ``rerefine`` for the refiner.
* ``reassign``: ``toreassign``; jobs killed with 51 (mode ``kill``: all unfinished, ``soft``: the
  queued ones, ``nokill``: none); the new ``site``/``cloud``/``nucleus`` set; once the killed
  jobs are gone ``reassigning`` and back to the state the task had (ready/running/scouting/
  pending; ``ready`` otherwise).
* ``pause``: ``paused`` (``oldstatus`` remembered); ``resume``: a paused or throttled task back to
  ``oldstatus``; ``avalanche``: ``scouting``/``scouted`` -> ``running``; ``release``: a throttled
  or pending task back to ``oldstatus`` (``ready`` when that is not a legal way back).

Kill, finish and reassign may have to wait for dispatched jobs: each run also takes the tasks in
``aborting``, ``finishing`` and ``toreassign`` without a queued command and completes them once
their jobs are all final.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q

from apps.core.timeutil import utcnow
from apps.ddm.interface import DDMError, UnknownDataset, ddm
from apps.jedi.models import INPUT_TYPES, CommandStatus, DatasetType, Task, TaskCommand, TaskDataset, TaskParams
from apps.jedi.services.attempts import files_reset_for_retry, files_unprocessed
from apps.jedi.services.commands import command_allowed, not_allowed_message
from apps.jedi.services.locks import agent_name, task_release, tasks_claim
from apps.jedi.services.transitions import IllegalTransition, StaleStatus, task_change_status
from apps.jedi.states import COMMAND_STATE, TRANSITIONS, Command, TaskStatus
from apps.jobs.models import Job
from apps.jobs.services.kill import QUEUED, jobs_kill_by_system
from apps.jobs.states import FINAL as JOB_FINAL

AGENT = "commando"
DEFAULT_BATCH_SIZE = 20
STALE_COMMAND_SECONDS = 600
KILL_CODE = 50
REASSIGN_CODE = 51
FORCE_KILL_CODE = 52

T = TaskStatus
# The intermediate states that wait for the task's jobs, and where each goes once they are gone.
WAITING_FOR_JOBS = {T.ABORTING: T.TOABORT, T.FINISHING: T.PASSED, T.TOREASSIGN: T.REASSIGNING}
REASSIGN_BACK = frozenset({T.READY, T.RUNNING, T.SCOUTING, T.PENDING})


class CommandFailed(Exception):
    """The command cannot do anything for this task; the row ends ``failed`` with this text."""


@dataclass
class CommandoSummary:
    done: int = 0
    failed: int = 0
    deferred: int = 0
    completed: int = 0

    def __str__(self) -> str:
        return (
            f"commando: {self.done} done, {self.failed} failed, {self.deferred} deferred, "
            f"{self.completed} tasks completed"
        )


def commando_run(*, batch_size: int = DEFAULT_BATCH_SIZE) -> CommandoSummary:
    """One TaskCommando cycle: execute queued commands, then complete tasks whose jobs are gone."""
    summary = CommandoSummary()
    for command in commands_claim(limit=batch_size):
        outcome = command_execute(command)
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    summary.completed = tasks_complete(limit=batch_size)
    return summary


def _free_command(stale_after: int) -> Q:
    return Q(lockedby__isnull=True) | Q(lockedtime__lt=utcnow() - timedelta(seconds=stale_after))


def commands_claim(*, limit: int = DEFAULT_BATCH_SIZE, stale_after: int = STALE_COMMAND_SECONDS) -> list[TaskCommand]:
    """Claim up to ``limit`` queued commands, oldest first (a stale claim of a dead worker is taken over)."""
    owner = agent_name(AGENT)
    candidates = TaskCommand.objects.filter(Q(status=CommandStatus.QUEUED) & _free_command(stale_after))
    candidates = candidates.order_by("creationtime", "id")
    claimed = []
    with transaction.atomic():
        if connection.vendor == "postgresql":
            ids = list(candidates.select_for_update(skip_locked=True).values_list("id", flat=True)[:limit])
        else:
            ids = list(candidates.values_list("id", flat=True)[:limit])
        now = utcnow()
        for command_id in ids:
            rows = TaskCommand.objects.filter(
                Q(id=command_id, status=CommandStatus.QUEUED) & _free_command(stale_after)
            ).update(lockedby=owner, lockedtime=now)
            if rows == 1:
                claimed.append(command_id)
    return list(TaskCommand.objects.filter(id__in=claimed).order_by("creationtime", "id"))


def _close(command: TaskCommand, *, status: str, result: str) -> None:
    TaskCommand.objects.filter(id=command.id, lockedby=agent_name(AGENT)).update(
        status=status, result=result[:500], donetime=utcnow(), lockedby=None, lockedtime=None
    )
    command.status = status
    command.result = result[:500]


def _unlock(command: TaskCommand) -> None:
    TaskCommand.objects.filter(id=command.id, lockedby=agent_name(AGENT)).update(lockedby=None, lockedtime=None)


def command_execute(command: TaskCommand) -> str:
    """Run one claimed command; ``"done"``, ``"failed"`` or ``"deferred"`` (task busy: try again later)."""
    tasks = tasks_claim(
        agent=AGENT, statuses=TaskStatus.values, limit=1, extra=Q(jeditaskid=command.task_id)
    )  # the task's lease: no other agent works on it meanwhile
    if not tasks:
        _unlock(command)
        return "deferred"
    task = tasks[0]
    try:
        # Already in the command's state: an earlier run of this command stopped half-way; run it again.
        resumed = task.status == COMMAND_STATE[command.command]
        if not resumed and not command_allowed(command.command, task.status):
            raise CommandFailed(not_allowed_message(command.command, task.status))
        result = HANDLERS[command.command](task, command)
    except StaleStatus:
        # The task moved between our read and our update (a pilot's feedback, the PostProcessor...).
        _unlock(command)
        return "deferred"
    except (CommandFailed, IllegalTransition) as exc:
        _close(command, status=CommandStatus.FAILED, result=str(exc))
        return "failed"
    finally:
        task_release(task, agent=AGENT)
    _close(command, status=CommandStatus.DONE, result=result)
    return "done"


# --- helpers --------------------------------------------------------------------------------------


def _reason(command: TaskCommand) -> str:
    return f"{command.command} command by {command.owner or 'unknown'}"


def _enter(task: Task, command: TaskCommand) -> None:
    """The command's intermediate state, remembering the state the task came from (a hard finish of a
    finishing task, or a new reassign of a task being reassigned, stays where it is)."""
    target = COMMAND_STATE[command.command]
    if task.status != target:
        task_change_status(task, new=target, changes={"oldstatus": task.status}, reason=_reason(command))


def _unfinished_jobs(task: Task, statuses: Iterable[str] | None = None):
    jobs = Job.objects.filter(jeditaskid=task.jeditaskid)
    return jobs.filter(jobstatus__in=list(statuses)) if statuses is not None else jobs.exclude(jobstatus__in=JOB_FINAL)


def _kill_jobs(task: Task, *, code: int, killer: str, queued_only: bool = False) -> str:
    ids = list(_unfinished_jobs(task, QUEUED if queued_only else None).values_list("pandaid", flat=True))
    if not ids:
        return "no jobs to kill"
    killed = sum(jobs_kill_by_system(pandaids=ids, code=code, killer=killer or "JEDI"))
    return f"{killed} of {len(ids)} {'queued' if queued_only else 'unfinished'} jobs killed with code {code}"


def _complete(task: Task, *, reason: str) -> str:
    """Leave the waiting state once no unfinished job is left; the text says what happened."""
    if _unfinished_jobs(task).exists():
        return f"task stays {task.status} until its running jobs end"
    if task.status == T.TOREASSIGN:
        task_change_status(task, new=T.REASSIGNING, reason=reason)
        back = task.oldstatus if task.oldstatus in REASSIGN_BACK else T.READY
        task_change_status(task, new=back, changes={"oldstatus": None}, reason=reason)
    else:
        task_change_status(task, new=WAITING_FOR_JOBS[task.status], changes={"oldstatus": None}, reason=reason)
    return f"task {task.status}"


def _merge_parameters(task: Task, new_parameters: dict) -> None:
    row = TaskParams.objects.filter(task=task).first()
    try:
        current = json.loads(row.taskparams) if row else {}
    except ValueError as exc:
        raise CommandFailed(f"stored task parameters are not valid JSON: {exc}") from exc
    if not isinstance(current, dict):
        raise CommandFailed("stored task parameters are not an object")
    for key, value in new_parameters.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    TaskParams.objects.update_or_create(task=task, defaults={"taskparams": json.dumps(current)})


def _reopen_outputs(task: Task) -> int:
    """The output and log datasets the PostProcessor closed when the task ended, open again in DDM:
    the retried work registers its files there (upstream's TaskSetupper reopens them likewise)."""
    closed = TaskDataset.objects.filter(task=task, type__in=(DatasetType.OUTPUT, DatasetType.LOG), state="closed")
    reopened = 0
    for dataset in closed:
        try:
            ddm().open_dataset(dataset.datasetname)
        except UnknownDataset:
            pass  # no job registered a file yet: the Adder creates it open
        except DDMError as exc:
            raise CommandFailed(f"cannot reopen output dataset {dataset.datasetname}: {exc}") from exc
        reopened += TaskDataset.objects.filter(pk=dataset.pk, state="closed").update(
            status="ready", state="open", modificationtime=utcnow()
        )
    return reopened


def _back(task: Task, allowed: Iterable[str]) -> str:
    """``oldstatus`` when it is a legal way back, else ``ready``."""
    targets = TRANSITIONS[task.status]
    old = task.oldstatus
    return old if old in allowed and old in targets else T.READY


# --- one function per command ---------------------------------------------------------------------


def _kill(task: Task, command: TaskCommand) -> str:
    _enter(task, command)
    killed = _kill_jobs(task, code=KILL_CODE, killer=command.owner)
    return f"{killed}; {_complete(task, reason=_reason(command))}"


def _finish(task: Task, command: TaskCommand) -> str:
    soft = bool(command.parameters.get("soft"))
    _enter(task, command)
    killed = _kill_jobs(task, code=FORCE_KILL_CODE, killer=command.owner, queued_only=soft)
    return f"{'soft' if soft else 'hard'} finish: {killed}; {_complete(task, reason=_reason(command))}"


def _reset_inputs(task: Task, command: TaskCommand) -> int:
    return files_reset_for_retry(task, ignore_hard_exhausted=bool(command.parameters.get("ignore_hard_exhausted")))


def _retry(task: Task, command: TaskCommand) -> str:
    if command.parameters.get("new_parameters"):
        return _incexec(task, command)
    came_from = task.status
    with transaction.atomic():
        _enter(task, command)
        # Unprocessed (ready) inputs, e.g. left by a soft finish, are run again too.
        unprocessed = files_unprocessed(task)
        reset = _reset_inputs(task, command)
        if reset == 0 and unprocessed == 0 and came_from != T.EXHAUSTED:
            raise CommandFailed(
                f"nothing to retry: the {came_from} task has no failed or unprocessed input files to retry"
            )
        _reopen_outputs(task)
        task_change_status(
            task,
            new=T.READY,
            changes={"oldstatus": None, "attemptnr": task.attemptnr + 1, "endtime": None, "errordialog": None},
            reason=_reason(command),
        )
    if unprocessed:
        return f"{reset} failed input files back to ready, {unprocessed} unprocessed to run; task ready"
    return f"{reset} failed input files back to ready; task ready"


def _incexec(task: Task, command: TaskCommand) -> str:
    new_parameters = command.parameters.get("new_parameters") or {}
    with transaction.atomic():
        task_change_status(
            task, new=T.TOINCEXEC, changes={"oldstatus": task.status}, reason=_reason(command)
        )  # also for a retry with new parameters
        if new_parameters:
            _merge_parameters(task, new_parameters)
        reset = _reset_inputs(task, command)
        _reopen_outputs(task)
        TaskDataset.objects.filter(task=task, type__in=INPUT_TYPES).update(status="toupdate", modificationtime=utcnow())
        task_change_status(
            task,
            new=T.REREFINE,
            changes={"oldstatus": None, "attemptnr": task.attemptnr + 1, "endtime": None, "errordialog": None},
            reason=_reason(command),
        )
    changed = f"{len(new_parameters)} parameters changed, " if new_parameters else ""
    return f"{changed}{reset} failed input files back to ready, input datasets to update; task rerefine"


def _reassign(task: Task, command: TaskCommand) -> str:
    params = command.parameters
    mode = params.get("mode") or "kill"
    targets = {key: params[key] for key in ("site", "cloud", "nucleus") if params.get(key)}
    _enter(task, command)
    killed = "no jobs killed"
    if mode != "nokill":
        killed = _kill_jobs(task, code=REASSIGN_CODE, killer=command.owner, queued_only=mode == "soft")
    Task.objects.filter(jeditaskid=task.jeditaskid).update(**targets, modificationtime=utcnow())
    for key, value in targets.items():
        setattr(task, key, value)
    where = ", ".join(f"{key}={value}" for key, value in targets.items())
    if mode == "kill":
        state = _complete(task, reason=_reason(command))
    else:
        # Only the queued jobs had to go, and they are archived at once: go back now.
        task_change_status(task, new=T.REASSIGNING, reason=_reason(command))
        back = task.oldstatus if task.oldstatus in REASSIGN_BACK else T.READY
        task_change_status(task, new=back, changes={"oldstatus": None}, reason=_reason(command))
        state = f"task {task.status}"
    return f"reassigned to {where} ({mode}): {killed}; {state}"


def _pause(task: Task, command: TaskCommand) -> str:
    if task.status != T.PAUSED:
        task_change_status(task, new=T.PAUSED, reason=_reason(command))
    return f"task paused (was {task.oldstatus})"


def _resume(task: Task, command: TaskCommand) -> str:
    if task.status not in (T.PAUSED, T.THROTTLED):
        return f"nothing to resume: the task is {task.status}"
    was = task.status
    back = _back(task, TRANSITIONS[task.status] - {T.ABORTING, T.FINISHING, T.TOREASSIGN, T.PREPARED})
    task_change_status(task, new=back, changes={"oldstatus": None, "throttledtime": None}, reason=_reason(command))
    return f"task resumed from {was} to {back}"


def _avalanche(task: Task, command: TaskCommand) -> str:
    if task.status not in (T.SCOUTING, T.SCOUTED):
        return f"nothing to avalanche: the task is {task.status}, not scouting"
    task_change_status(task, new=T.RUNNING, reason=_reason(command))
    return "task running (avalanche)"


def _release(task: Task, command: TaskCommand) -> str:
    if task.status not in (T.THROTTLED, T.PENDING):
        return f"nothing to release: the task is {task.status}"
    was = task.status
    back = _back(task, {T.DEFINED, T.ASSIGNING, T.READY, T.SCOUTING, T.RUNNING})
    task_change_status(task, new=back, changes={"oldstatus": None, "throttledtime": None}, reason=_reason(command))
    return f"task released from {was} to {back}"


HANDLERS: dict[str, Callable[[Task, TaskCommand], str]] = {
    Command.KILL: _kill,
    Command.FINISH: _finish,
    Command.RETRY: _retry,
    Command.INCEXEC: _incexec,
    Command.REASSIGN: _reassign,
    Command.PAUSE: _pause,
    Command.RESUME: _resume,
    Command.AVALANCHE: _avalanche,
    Command.RELEASE: _release,
}


def tasks_complete(*, limit: int = DEFAULT_BATCH_SIZE) -> int:
    """Tasks waiting in aborting/finishing/toreassign whose jobs are all final go to their next state."""
    queued = TaskCommand.objects.filter(status=CommandStatus.QUEUED).values("task_id")
    # Only tasks whose jobs are all final are claimed, so tasks still waiting never crowd out the others.
    unfinished = Job.objects.filter(jeditaskid=OuterRef("jeditaskid")).exclude(jobstatus__in=JOB_FINAL)
    ready = ~Q(jeditaskid__in=queued) & ~Q(Exists(unfinished))
    tasks = tasks_claim(agent=AGENT, statuses=list(WAITING_FOR_JOBS), limit=limit, extra=ready)
    completed = 0
    for task in tasks:
        waiting = task.status
        try:
            _complete(task, reason=f"jobs of the {waiting} task ended")
            completed += task.status != waiting
        except (StaleStatus, IllegalTransition):
            pass
        finally:
            task_release(task, agent=AGENT)
    return completed
