"""TaskBroker agent (jedi.md §2, §10.4): choose a nucleus for production tasks in ``assigning``.

Each run claims a batch of ``assigning`` tasks (a lease, so concurrent workers never broker the
same task), asks the configured ``task_broker`` plugin (apps/jedi/plugins.py) for a nucleus, and
moves the task to ``ready`` with ``nucleus`` and ``cloud`` (the nucleus site's cloud) set. When
no nucleus fits, the task goes ``pending`` with the reason. The WatchDog retries a pending task
``PANDA_JEDI_PENDING_RETRY`` (60 min) after its ``statechangetime``; a failed task brokerage is
retried after ``PENDING_RETRY`` (30 min, states.md §6.4), so ``statechangetime`` is set back by
the difference (the status-log row keeps the true time). A task changed meanwhile by someone else
(killed, paused) is left alone; a broker failure leaves the task in ``assigning`` for the next run.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings

from apps.core.timeutil import utcnow
from apps.jedi.models import Task
from apps.jedi.plugins import task_broker
from apps.jedi.services.locks import task_release, tasks_claim
from apps.jedi.services.transitions import StaleStatus, task_change_status
from apps.jedi.states import TaskStatus
from apps.sites.models import Site

log = logging.getLogger(__name__)

AGENT = "task_broker"
DEFAULT_BATCH_SIZE = 20
PENDING_RETRY = dt.timedelta(minutes=30)
REASON_LENGTH = 250


@dataclass
class TaskBrokerSummary:
    assigned: int = 0
    pending: int = 0
    failed: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return (
            f"task_broker: {self.assigned} assigned, {self.pending} pending, {self.failed} failed, "
            f"{self.skipped} changed meanwhile"
        )


def no_nucleus_reason(rejected: dict[str, str]) -> str:
    if not rejected:
        return "task brokerage: no nucleus available"
    details = "; ".join(f"{name} {why}" for name, why in sorted(rejected.items()))
    return f"task brokerage: no nucleus ({details})"[:REASON_LENGTH]


def task_assign_nucleus(task: Task) -> str:
    """Broker one claimed ``assigning`` task; answers ``assigned``, ``pending`` or ``skipped``."""
    result = task_broker(task)(task)
    try:
        if result.nucleus:
            cloud = Site.objects.filter(name=result.nucleus).values_list("cloud", flat=True).first() or ""
            task_change_status(
                task,
                new=TaskStatus.READY,
                changes={"nucleus": result.nucleus, "cloud": cloud or task.cloud},
                reason=f"nucleus {result.nucleus} chosen by task brokerage",
            )
            return "assigned"
        watchdog_retry = dt.timedelta(seconds=settings.PANDA_JEDI_PENDING_RETRY)
        backdated = utcnow() - max(watchdog_retry - PENDING_RETRY, dt.timedelta(0))
        reason = no_nucleus_reason(result.rejected)
        task_change_status(task, new=TaskStatus.PENDING, changes={"statechangetime": backdated}, reason=reason)
        return "pending"
    except StaleStatus:
        return "skipped"


def task_broker_run(*, batch_size: int = DEFAULT_BATCH_SIZE) -> TaskBrokerSummary:
    summary = TaskBrokerSummary()
    for task in tasks_claim(agent=AGENT, statuses=[TaskStatus.ASSIGNING], limit=batch_size):
        try:
            outcome = task_assign_nucleus(task)
        except Exception:
            log.exception("task brokerage of jediTaskID=%s failed", task.jeditaskid)
            summary.failed += 1
        else:
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        finally:
            task_release(task, agent=AGENT)
    return summary
