"""The one function that moves a task between states (spec/states.md §7).

Same contract as the jobs' ``job_change_status``: the transition table is checked, the row is
updated only while it still holds the state the caller saw, one row must change, and the
status-log row is written in the same transaction. ``paused`` remembers the state it came from in
``oldstatus`` (so does ``pending``), and resuming returns there.
"""

from collections.abc import Mapping

from django.db import transaction

from apps.core.timeutil import utcnow
from apps.core.transitions import IllegalTransition, StaleStatus, check_transition, conditional_status_update
from apps.jedi.models import Task, TaskStatusLog
from apps.jedi.states import TRANSITIONS, TaskStatus

__all__ = ["IllegalTransition", "StaleStatus", "task_change_status", "task_log_creation"]

# Entering these records the state the task came from, for resume / retry of pending tasks.
_REMEMBERS_OLD = frozenset({TaskStatus.PAUSED, TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.EXHAUSTED})


def task_change_status(task: Task, *, new: str, changes: Mapping | None = None, reason: str = "") -> Task:
    """Move ``task`` from the state it holds in memory to ``new``; updates the instance on success."""
    old = task.status
    check_transition("task", TRANSITIONS, old, new)
    now = utcnow()
    values = {"statechangetime": now, "modificationtime": now, **(changes or {}), "status": new}
    if new in _REMEMBERS_OLD and "oldstatus" not in values:
        values["oldstatus"] = old
    if (
        reason
        and "errordialog" not in values
        and new in (TaskStatus.PENDING, TaskStatus.TOBROKEN, TaskStatus.EXHAUSTED)
    ):
        values["errordialog"] = reason[:255]
    with transaction.atomic(savepoint=False):
        rows = conditional_status_update(
            Task.objects.filter(jeditaskid=task.jeditaskid), status_field="status", expected=[old], changes=values
        )
        if rows == 1:
            TaskStatusLog.objects.create(
                jeditaskid=task.jeditaskid,
                modificationtime=now,
                oldstatus=old,
                status=new,
                attemptnr=values.get("attemptnr", task.attemptnr),
                reason=reason[:250],
            )
    if rows != 1:
        raise StaleStatus("task", task.jeditaskid, [old])
    for field, value in values.items():
        setattr(task, field, value)
    return task


def task_log_creation(task: Task, *, reason: str = "submitted") -> None:
    TaskStatusLog.objects.create(
        jeditaskid=task.jeditaskid,
        modificationtime=task.creationdate,
        oldstatus=None,
        status=task.status,
        reason=reason,
    )
