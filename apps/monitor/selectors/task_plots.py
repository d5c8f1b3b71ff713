"""Series for the task page's plots (monitor.md §5): progress over time and consumption histograms.

Progress is counted by the database (jobs reaching ``finished``/``failed`` per hour or day). The
histograms need one value per job: those values are computed by the database where it can
(duration as ``endtime - starttime``) and fetched with ``values_list`` for at most
:data:`MAX_HISTOGRAM_JOBS` finished jobs; the summary figures over *all* finished jobs (count,
averages, maxima) are database aggregates.
"""

import datetime as dt

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max
from django.db.models.functions import Coalesce, TruncDay, TruncHour

from apps.core.timeutil import utcnow
from apps.jedi.models import Task
from apps.jobs.models import Job
from apps.jobs.states import JobStatus

MAX_HISTOGRAM_JOBS = 5000
# Beyond this span progress is counted per day instead of per hour.
HOURLY_SPAN = dt.timedelta(days=3)
PROGRESS_STATES = (JobStatus.FINISHED, JobStatus.FAILED)


def task_progress(task: Task) -> dict[str, list[tuple[dt.datetime, int]]]:
    """Cumulative finished and failed jobs over time: ``{state: [(time, cumulative count)]}``.

    A job's time is its ``endtime`` (its ``modificationtime`` when it never started), which is when
    the status log recorded its final state; reading it from the jobs row keeps this one aggregated
    query on the task's index instead of a join with the much larger status log.
    """
    end = task.endtime or utcnow()
    trunc = TruncHour if end - task.creationdate <= HOURLY_SPAN else TruncDay
    rows = (
        Job.objects.filter(jeditaskid=task.jeditaskid, jobstatus__in=PROGRESS_STATES)
        .annotate(bucket=trunc(Coalesce("endtime", "modificationtime")))
        .values("bucket", "jobstatus")
        .annotate(n=Count("pandaid"))
        .order_by("bucket")
    )
    series: dict[str, list[tuple[dt.datetime, int]]] = {}
    totals: dict[str, int] = {}
    for row in rows:
        state = row["jobstatus"]
        totals[state] = totals.get(state, 0) + row["n"]
        series.setdefault(state, []).append((row["bucket"], totals[state]))
    return {state: series[state] for state in PROGRESS_STATES if state in series}


def _finished_jobs(task_id: int):
    return Job.objects.filter(jeditaskid=task_id, jobstatus=JobStatus.FINISHED)


def task_consumption(task_id: int) -> dict:
    """Per-job values for the histograms (capped) and summary aggregates over all finished jobs.

    ``duration`` in minutes, ``maxpss`` in MB (kB from the pilot, ``maxrss`` when no PSS was
    reported), ``cpu_efficiency`` in percent: CPU time / (wall time × cores).
    """
    duration = ExpressionWrapper(F("endtime") - F("starttime"), output_field=DurationField())
    finished = _finished_jobs(task_id)
    summary = finished.aggregate(
        njobs=Count("pandaid"),
        avg_maxpss=Avg("maxpss"),
        max_maxpss=Max("maxpss"),
        avg_cpu=Avg("cpuconsumptiontime"),
        max_duration=Max(duration),
    )
    rows = (
        finished.filter(starttime__isnull=False, endtime__isnull=False)
        .annotate(duration=duration)
        .order_by()  # any MAX_HISTOGRAM_JOBS of them: no sort of the whole task
        .values_list("duration", "maxpss", "maxrss", "cpuconsumptiontime", "corecount")[:MAX_HISTOGRAM_JOBS]
    )
    durations, memory, efficiency = [], [], []
    for spent, maxpss, maxrss, cpu, cores in rows:
        seconds = spent.total_seconds() if spent is not None else 0
        durations.append(seconds / 60)
        if maxpss or maxrss:
            memory.append((maxpss or maxrss) / 1024)
        if seconds > 0 and cpu is not None:
            efficiency.append(100.0 * cpu / (seconds * (cores or 1)))
    if summary["max_duration"] is not None:
        summary["max_duration"] = summary["max_duration"].total_seconds()
    return {
        "summary": summary,
        "sampled": len(rows),
        "duration": durations,
        "maxpss": memory,
        "cpu_efficiency": efficiency,
    }
