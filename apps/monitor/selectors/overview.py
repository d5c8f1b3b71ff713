"""The front page's "system at a glance": a handful of aggregates, each one query (monitor.md §1 Home)."""

import datetime as dt

from django.conf import settings
from django.db.models import Count, Q, Sum

from apps.core.timeutil import utcnow
from apps.jedi.models import Task
from apps.jedi.states import FINAL as TASK_FINAL
from apps.jedi.states import TaskStatus
from apps.jobs.states import JobStatus
from apps.monitor.models import QueueSnapshot
from apps.monitor.selectors.dashboards import latest_snapshot_run
from apps.monitor.selectors.queue_counts import STATE_ORDER, counted_jobs
from apps.workers.models import Worker

# Final tasks count when they ended this recently; jobs and workers use the dashboards' window
# (PANDA_MONITOR_DASH_HOURS), so the front page agrees with /dash/.
TASK_DAYS = 7
TOP_FAILING = 10


def tasks_by_status(*, days: int = TASK_DAYS, now: dt.datetime | None = None) -> dict[str, int]:
    """Tasks not yet final, plus final tasks modified in the last ``days``, counted per status."""
    since = (now or utcnow()) - dt.timedelta(days=days)
    rows = (
        Task.objects.filter(~Q(status__in=TASK_FINAL) | Q(modificationtime__gte=since))
        .values("status")
        .annotate(n=Count("jeditaskid"))
        .order_by()
    )
    counts = {row["status"]: row["n"] for row in rows}
    return {status: counts[status] for status in TaskStatus.values if status in counts}


def jobs_by_state(*, now: dt.datetime | None = None) -> tuple[dict[str, int], str]:
    """Jobs per state (final ones of the dashboards' window), from the latest snapshot when there is one."""
    hours = settings.PANDA_MONITOR_DASH_HOURS
    run = latest_snapshot_run(now=now)
    if run is not None:
        rows = (
            QueueSnapshot.objects.filter(taken_at=run.taken_at).values("jobstatus").annotate(n=Sum("count")).order_by()
        )
        source = "snapshot"
    else:
        rows = counted_jobs(final_hours=hours, now=now).values("jobstatus").annotate(n=Count("pandaid")).order_by()
        source = "live"
    counts = {row["jobstatus"]: row["n"] for row in rows}
    return {state: counts[state] for state in STATE_ORDER if state in counts}, source


def top_failing_queues(*, hours: int, limit: int = TOP_FAILING, now: dt.datetime | None = None) -> list[dict]:
    """Queues with the most failed jobs ended in the last ``hours``, with their failure rate."""
    since = (now or utcnow()) - dt.timedelta(hours=hours)
    rows = (
        counted_jobs(final_hours=hours, now=now)
        .filter(jobstatus__in=(JobStatus.FAILED, JobStatus.FINISHED), modificationtime__gte=since)
        .values("computingsite")
        .annotate(
            failed=Count("pandaid", filter=Q(jobstatus=JobStatus.FAILED)),
            finished=Count("pandaid", filter=Q(jobstatus=JobStatus.FINISHED)),
        )
        .filter(failed__gt=0)
        .order_by("-failed", "computingsite")[:limit]
    )
    return [
        {
            "computingsite": row["computingsite"],
            "failed": row["failed"],
            "finished": row["finished"],
            "failure_rate": round(row["failed"] / (row["failed"] + row["finished"]), 3),
        }
        for row in rows
    ]


def workers_by_status(*, hours: int, now: dt.datetime | None = None) -> dict[str, int]:
    """Harvester workers updated in the last ``hours``, per status."""
    since = (now or utcnow()) - dt.timedelta(hours=hours)
    rows = Worker.objects.filter(lastupdate__gte=since).values("status").annotate(n=Count("id")).order_by("status")
    return {row["status"] or "Not specified": row["n"] for row in rows}
