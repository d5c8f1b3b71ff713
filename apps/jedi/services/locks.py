"""Agents' leases on tasks (jedi.md §1): ``lockedby``/``lockedtime`` set by a conditional update.

A claim takes tasks in the given states that nobody holds (or whose lease is older than
``stale_after``), one conditional UPDATE per candidate, so two agents never hold the same task,
on SQLite as on PostgreSQL. On PostgreSQL the candidate SELECT adds ``FOR UPDATE SKIP LOCKED`` so
concurrent agents do not even queue behind each other. Transactions stay short: the claim commits
before any work starts, and ``task_release`` gives the task back.
"""

import os
import socket
from collections.abc import Iterable
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q

from apps.core.timeutil import utcnow
from apps.jedi.models import Task

DEFAULT_STALE_SECONDS = 3600


def agent_name(agent: str) -> str:
    """``<agent>:<host>:<pid>``, what ``lockedby`` holds (unique per process)."""
    return f"{agent}:{socket.gethostname()}:{os.getpid()}"[:64]


def _free(stale_after: int) -> Q:
    return Q(lockedby__isnull=True) | Q(lockedtime__lt=utcnow() - timedelta(seconds=stale_after))


def tasks_claim(
    *,
    agent: str,
    statuses: Iterable[str],
    limit: int = 20,
    stale_after: int = DEFAULT_STALE_SECONDS,
    extra: Q | None = None,
) -> list[Task]:
    """Claim up to ``limit`` tasks in ``statuses`` for ``agent``; oldest modification first."""
    owner = agent_name(agent)
    candidates = Task.objects.filter(Q(status__in=list(statuses)) & _free(stale_after))
    if extra is not None:
        candidates = candidates.filter(extra)
    candidates = candidates.order_by("modificationtime", "jeditaskid")
    claimed: list[int] = []
    with transaction.atomic():
        if connection.vendor == "postgresql":
            ids = list(candidates.select_for_update(skip_locked=True).values_list("jeditaskid", flat=True)[:limit])
        else:
            ids = list(candidates.values_list("jeditaskid", flat=True)[:limit])
        now = utcnow()
        for task_id in ids:
            rows = Task.objects.filter(Q(jeditaskid=task_id) & _free(stale_after)).update(
                lockedby=owner, lockedtime=now
            )
            if rows == 1:
                claimed.append(task_id)
    return list(Task.objects.filter(jeditaskid__in=claimed).order_by("modificationtime", "jeditaskid"))


def task_release(task: Task, *, agent: str) -> bool:
    """Give the lease back (only our own)."""
    rows = Task.objects.filter(jeditaskid=task.jeditaskid, lockedby=agent_name(agent)).update(
        lockedby=None, lockedtime=None
    )
    task.lockedby = None
    task.lockedtime = None
    return rows == 1


def task_lease_renew(task: Task, *, agent: str) -> bool:
    """Extend our lease during long work; False when the lease was lost (stop working on the task)."""
    return Task.objects.filter(jeditaskid=task.jeditaskid, lockedby=agent_name(agent)).update(lockedtime=utcnow()) == 1
