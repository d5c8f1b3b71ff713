"""The task profile (monitor.md §1 "Task profile"): jobs and events completed over a task's life.

Jobs come from :func:`apps.monitor.selectors.task_plots.task_progress` (cumulative finished and
failed jobs per hour, per day for long tasks); events are the ``nevents`` of the finished jobs,
summed per the same time bin and accumulated. Both are one grouped query each.
"""

import datetime as dt

from django.db.models import Sum
from django.db.models.functions import Coalesce, TruncDay, TruncHour

from apps.core.timeutil import utcnow
from apps.jedi.models import Task
from apps.jobs.models import Job
from apps.jobs.states import JobStatus
from apps.monitor.selectors.task_plots import HOURLY_SPAN, task_progress


def task_events_progress(task: Task) -> list[tuple[dt.datetime, int]]:
    """Cumulative events of the task's finished jobs over time, in ``task_progress``'s bins."""
    end = task.endtime or utcnow()
    trunc = TruncHour if end - task.creationdate <= HOURLY_SPAN else TruncDay
    rows = (
        Job.objects.filter(jeditaskid=task.jeditaskid, jobstatus=JobStatus.FINISHED)
        .annotate(bucket=trunc(Coalesce("endtime", "modificationtime")))
        .values("bucket")
        .annotate(events=Sum("nevents"))
        .order_by("bucket")
    )
    points, total = [], 0
    for row in rows:
        total += row["events"] or 0
        points.append((row["bucket"], total))
    return points


def task_profile(task: Task) -> dict[str, dict[str, list[tuple[dt.datetime, int]]]]:
    """``{"jobs": {state: [(time, cumulative jobs)]}, "events": {"finished": [(time, cumulative events)]}}``."""
    events = task_events_progress(task)
    return {"jobs": task_progress(task), "events": {JobStatus.FINISHED.value: events} if events else {}}
