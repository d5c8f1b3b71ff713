"""The JEDI WatchDog (jedi.md §2): the timers of spec/states.md §6.4, one function each.

Timers are settings in seconds (pandaweb/settings.py, env vars of the same name):

* :func:`leases_release_stale` — ``PANDA_JEDI_LOCK_TIMEOUT`` (60 min): agent leases on tasks and
  task datasets older than this belong to a dead agent and are dropped.
* :func:`files_rescue_picked` — ``PANDA_JEDI_PICKED_RESCUE`` (30 min): an input row ``picked`` for
  a job that does not exist (or with no PandaID) goes back to ``ready`` with its PandaID cleared
  and ``nfilesused`` - 1. The JobGenerator picks rows and stores their jobs in one transaction, so
  such rows are rare (a deleted job); the clock starts when the WatchDog first sees the orphan:
  it stamps ``lastattempttime`` on orphans that have none, and rescues those stamped long enough ago.
* :func:`tasks_expire_pending` — ``PANDA_JEDI_PENDING_TIMEOUT`` (7 days; per label
  ``PANDA_JEDI_PENDING_TIMEOUT_<LABEL>``): a task ``pending`` that long -> ``exhausted``. "That
  long" counts from ``frozentime``, the start of the pending streak, which the retry below sets
  when it first retries the task and the feedback clears when a job of the task finishes a file.
* :func:`tasks_retry_pending` — ``PANDA_JEDI_PENDING_RETRY`` (60 min since it went ``pending``):
  back to the state it came from (``oldstatus``: defined, assigning, ready, scouting, running),
  ``ready`` otherwise.
* :func:`tasks_recheck_throttled` — ``PANDA_JEDI_THROTTLED_RECHECK`` (120 min): a ``throttled``
  task back to ``oldstatus`` (ready, scouting, running), ``ready`` otherwise; the JobGenerator's
  throttle check then decides again.
* :func:`tasks_kick_exhausted` — ``PANDA_JEDI_EXHAUSTED_KICK`` (48 h): "kick exhausted tasks" is
  upstream's ``kickExhaustedTasks``: an ``exhausted`` task left alone that long is finished
  (``finishing``, then the PostProcessor gives it its final state), unless its split rule has
  upstream's ``DF`` (disableAutoFinish).
* :func:`tasks_check_goal` — every run (the spec's hourly check; the query is cheap and queueing
  is idempotent): a task that has a ``goal`` and reached it (finished master input files ≥ goal per
  mille of all) gets a queued soft ``finish`` command from ``watchdog``, which the TaskCommando
  executes (queued jobs killed, running ones finish) unless a command is already waiting.

Status changes go through :func:`task_change_status` on tasks leased with
:func:`~apps.jedi.services.locks.tasks_claim`, so the WatchDog never moves a task an agent is
working on; tests move the clock by updating the rows' timestamps.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum

from apps.core.timeutil import utcnow
from apps.jedi.models import (
    INPUT_TYPES,
    CommandStatus,
    ContentStatus,
    DatasetContent,
    Task,
    TaskCommand,
    TaskDataset,
)
from apps.jedi.services.locks import task_release, tasks_claim
from apps.jedi.services.retry_module import split_rule_int
from apps.jedi.services.transitions import IllegalTransition, StaleStatus, task_change_status
from apps.jedi.states import TaskStatus
from apps.jobs.models import Job

log = logging.getLogger(__name__)

AGENT = "watchdog"
DEFAULT_BATCH_SIZE = 100
T = TaskStatus
PENDING_RETURNS = frozenset({T.DEFINED, T.ASSIGNING, T.READY, T.SCOUTING, T.RUNNING})
THROTTLED_RETURNS = frozenset({T.READY, T.SCOUTING, T.RUNNING})
GOAL_STATES = (T.READY, T.SCOUTING, T.SCOUTED, T.RUNNING, T.THROTTLED, T.PENDING)
DISABLE_AUTO_FINISH = "DF"  # upstream's split-rule code


@dataclass
class WatchdogSummary:
    leases: int = 0
    rescued: int = 0
    expired: int = 0
    retried: int = 0
    unthrottled: int = 0
    kicked: int = 0
    goal_reached: int = 0

    def __str__(self) -> str:
        return (
            f"watchdog: leases={self.leases} rescued={self.rescued} pending->exhausted={self.expired} "
            f"pending->retry={self.retried} throttled->back={self.unthrottled} exhausted->finishing={self.kicked} "
            f"goal->finish={self.goal_reached}"
        )


def _ago(seconds: int):
    return utcnow() - timedelta(seconds=seconds)


def _since(field: str, cutoff) -> Q:
    """``field`` older than ``cutoff``, ``modificationtime`` standing in when ``field`` is unset."""
    return Q(**{f"{field}__lt": cutoff}) | Q(**{f"{field}__isnull": True, "modificationtime__lt": cutoff})


def _move(task: Task, new: str, *, reason: str, changes: dict | None = None) -> bool:
    try:
        task_change_status(task, new=new, changes=changes, reason=reason)
    except (StaleStatus, IllegalTransition) as exc:
        log.info("watchdog: jediTaskID=%s not moved to %s: %s", task.jeditaskid, new, exc)
        return False
    return True


def _claimed(statuses, extra: Q, limit: int) -> list[Task]:
    return tasks_claim(agent=AGENT, statuses=statuses, limit=limit, extra=extra)


# --- leases --------------------------------------------------------------------------------------


def leases_release_stale(*, age: int | None = None) -> int:
    """Drop task and dataset leases older than ``age`` seconds; answers how many."""
    cutoff = _ago(settings.PANDA_JEDI_LOCK_TIMEOUT if age is None else age)
    stale = Q(lockedby__isnull=False) & (Q(lockedtime__lt=cutoff) | Q(lockedtime__isnull=True))
    n = Task.objects.filter(stale).update(lockedby=None, lockedtime=None)
    n += TaskDataset.objects.filter(stale).update(lockedby=None, lockedtime=None)
    return n


# --- picked files without a job -------------------------------------------------------------------


def files_rescue_picked(*, age: int | None = None, limit: int = 5000) -> int:
    """``picked`` input rows whose job does not exist -> ``ready`` after ``age`` seconds; answers how many."""
    cutoff = _ago(settings.PANDA_JEDI_PICKED_RESCUE if age is None else age)
    job = Job.objects.filter(pandaid=OuterRef("pandaid"))
    orphans = DatasetContent.objects.filter(status=ContentStatus.PICKED, type__in=INPUT_TYPES).filter(~Exists(job))
    first_seen = list(orphans.filter(lastattempttime__isnull=True).values_list("fileid", flat=True)[:limit])
    if first_seen:
        orphans.filter(fileid__in=first_seen, lastattempttime__isnull=True).update(lastattempttime=utcnow())
    due = list(orphans.filter(lastattempttime__lt=cutoff).values_list("fileid", "dataset_id")[:limit])
    rescued = 0
    by_dataset: dict[int, list[int]] = {}
    for fileid, dataset_id in due:
        by_dataset.setdefault(dataset_id, []).append(fileid)
    for dataset_id in sorted(by_dataset):
        with transaction.atomic():
            n = orphans.filter(fileid__in=by_dataset[dataset_id]).update(
                status=ContentStatus.READY, pandaid=None, lastattempttime=None
            )
            TaskDataset.objects.filter(datasetid=dataset_id).update(nfilesused=F("nfilesused") - n)
        rescued += n
    if rescued:
        log.info("watchdog: %s picked files without a job back to ready", rescued)
    return rescued


# --- pending ----------------------------------------------------------------------------------------


def _pending_timeout(task: Task) -> int:
    return settings.PANDA_JEDI_PENDING_TIMEOUTS.get(
        (task.prodsourcelabel or "").lower(), settings.PANDA_JEDI_PENDING_TIMEOUT
    )


def tasks_expire_pending(*, limit: int = DEFAULT_BATCH_SIZE) -> int:
    """Tasks ``pending`` for longer than their label's timeout -> ``exhausted``."""
    shortest = min([settings.PANDA_JEDI_PENDING_TIMEOUT, *settings.PANDA_JEDI_PENDING_TIMEOUTS.values()])
    cutoff = _ago(shortest)
    streak = Q(frozentime__lt=cutoff) | (Q(frozentime__isnull=True) & _since("statechangetime", cutoff))
    expired = 0
    now = utcnow()
    for task in _claimed([T.PENDING], streak, limit):
        try:
            since = task.frozentime or task.statechangetime or task.modificationtime
            timeout = _pending_timeout(task)
            if since < now - timedelta(seconds=timeout):
                days = timeout / 86400
                expired += _move(task, T.EXHAUSTED, reason=f"pending for more than {days:g} days")
        finally:
            task_release(task, agent=AGENT)
    return expired


def tasks_retry_pending(*, age: int | None = None, limit: int = DEFAULT_BATCH_SIZE) -> int:
    """Tasks ``pending`` for ``age`` seconds go back to where they came from (``ready`` otherwise)."""
    cutoff = _ago(settings.PANDA_JEDI_PENDING_RETRY if age is None else age)
    retried = 0
    for task in _claimed([T.PENDING], _since("statechangetime", cutoff), limit):
        try:
            back = task.oldstatus if task.oldstatus in PENDING_RETURNS else T.READY
            streak_start = task.frozentime or task.statechangetime or task.modificationtime
            retried += _move(
                task,
                back,
                reason="watchdog: retry pending task",
                changes={"oldstatus": None, "frozentime": streak_start},
            )
        finally:
            task_release(task, agent=AGENT)
    return retried


# --- throttled / exhausted --------------------------------------------------------------------------


def tasks_recheck_throttled(*, age: int | None = None, limit: int = DEFAULT_BATCH_SIZE) -> int:
    """Tasks ``throttled`` for ``age`` seconds go back to their state so the throttle is checked again."""
    cutoff = _ago(settings.PANDA_JEDI_THROTTLED_RECHECK if age is None else age)
    moved = 0
    for task in _claimed([T.THROTTLED], _since("statechangetime", cutoff), limit):
        try:
            back = task.oldstatus if task.oldstatus in THROTTLED_RETURNS else T.READY
            changes = {"oldstatus": None, "throttledtime": None}
            moved += _move(task, back, reason="watchdog: re-check throttled task", changes=changes)
        finally:
            task_release(task, agent=AGENT)
    return moved


def tasks_kick_exhausted(*, age: int | None = None, limit: int = DEFAULT_BATCH_SIZE) -> int:
    """Tasks ``exhausted`` for ``age`` seconds are finished (``finishing``) unless auto-finish is disabled."""
    cutoff = _ago(settings.PANDA_JEDI_EXHAUSTED_KICK if age is None else age)
    kicked = 0
    for task in _claimed([T.EXHAUSTED], _since("statechangetime", cutoff), limit):
        try:
            if split_rule_int(task.splitrule, DISABLE_AUTO_FINISH):
                continue
            kicked += _move(task, T.FINISHING, reason="watchdog: exhausted for too long, finishing")
        finally:
            task_release(task, agent=AGENT)
    return kicked


# --- goal --------------------------------------------------------------------------------------------


def tasks_check_goal(*, limit: int = DEFAULT_BATCH_SIZE) -> int:
    """Queue a soft ``finish`` for tasks whose finished master input reached their ``goal``; answers how many."""
    queued_command = TaskCommand.objects.filter(task_id=OuterRef("jeditaskid"), status=CommandStatus.QUEUED)
    candidates = (
        Task.objects.filter(status__in=GOAL_STATES, goal__isnull=False, goal__gt=0)
        .filter(~Exists(queued_command))
        .values_list("jeditaskid", "goal")[:limit]
    )
    goals = dict(candidates)
    if not goals:
        return 0
    totals = (
        TaskDataset.objects.filter(task_id__in=list(goals), type__in=INPUT_TYPES, masterid__isnull=True)
        .values("task_id")
        .annotate(nfiles=Sum("nfiles"), finished=Sum("nfilesfinished"))
    )
    queued = 0
    reached = set()
    for row in totals:
        nfiles, finished = row["nfiles"] or 0, row["finished"] or 0
        if nfiles and finished * 1000 >= goals[row["task_id"]] * nfiles:
            reached.add(row["task_id"])
    for task_id in sorted(reached):
        try:
            with transaction.atomic():
                TaskCommand.objects.create(
                    task_id=task_id,
                    command="finish",
                    owner=AGENT,
                    comment=f"goal of {goals[task_id] / 10:g}% of the input reached",
                    parameters={"soft": True},
                )
        except IntegrityError:  # another command was queued meanwhile: it goes first
            continue
        queued += 1
    return queued


def watchdog_run(*, batch_size: int = DEFAULT_BATCH_SIZE) -> WatchdogSummary:
    summary = WatchdogSummary()
    summary.leases = leases_release_stale()
    summary.rescued = files_rescue_picked()
    summary.expired = tasks_expire_pending(limit=batch_size)
    summary.retried = tasks_retry_pending(limit=batch_size)
    summary.unthrottled = tasks_recheck_throttled(limit=batch_size)
    summary.kicked = tasks_kick_exhausted(limit=batch_size)
    summary.goal_reached = tasks_check_goal(limit=batch_size)
    return summary
