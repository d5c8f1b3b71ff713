"""Users and a user's activity (monitor.md §1 "Users"): counted in the database from jobs and tasks.

A user is the compact name PanDA stores on jobs (``produsername``) and tasks (``username``).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDay, TruncHour

from apps.core.timeutil import utcnow
from apps.jedi.models import Task
from apps.jedi.states import FINAL as TASK_FINAL
from apps.jobs.models import Job
from apps.jobs.states import ACTIVE_GROUP, DEFINED_GROUP, JobStatus
from apps.monitor.filters.parser import Selection
from apps.monitor.selectors.errors import (
    DAILY_BINS_AFTER,
    error_sources,
    errors_by_count,
    filters_only_on,
    job_summary,
    selected_jobs,
)

NOT_ENDED = sorted(str(state) for state in ACTIVE_GROUP | DEFINED_GROUP)
ENDED = (JobStatus.FINISHED, JobStatus.FAILED)
JOB_COLUMNS = ("pandaid", "jobstatus", "computingsite", "jeditaskid", "attemptnr", "modificationtime", "jobname")
TASK_COLUMNS = ("jeditaskid", "taskname", "status", "prodsourcelabel", "creationdate", "modificationtime")


def _job_counts() -> dict:
    return {
        "njobs": Count("pandaid"),
        "nactive": Count("pandaid", filter=Q(jobstatus__in=NOT_ENDED)),
        "nfinished": Count("pandaid", filter=Q(jobstatus=JobStatus.FINISHED)),
        "nfailed": Count("pandaid", filter=Q(jobstatus=JobStatus.FAILED)),
    }


def users_active(selection: Selection, *, limit: int) -> list[dict]:
    """Users with jobs in the selection, most recently active first, with their job and task counts.

    Without job filters (a plain time window) users whose only activity is a task are listed too.
    """
    jobs = selected_jobs(selection).exclude(Q(produsername__isnull=True) | Q(produsername=""))
    rows = list(
        jobs.values("produsername")
        .annotate(**_job_counts(), latest=Max("modificationtime"))
        .order_by("-latest")[:limit]
    )
    users = {
        row["produsername"]: {
            "name": row["produsername"],
            **{key: row[key] for key in ("njobs", "nactive", "nfinished", "nfailed", "latest")},
            "ntasks": 0,
            "nactivetasks": 0,
        }
        for row in rows
    }
    tasks = Task.objects.filter(selection.window_q())
    if not filters_only_on(selection, frozenset({"modificationtime"})):
        tasks = tasks.filter(username__in=list(users))
    task_rows = (
        tasks.values("username")
        .annotate(
            ntasks=Count("jeditaskid"),
            nactivetasks=Count("jeditaskid", filter=~Q(status__in=sorted(TASK_FINAL))),
            latest=Max("modificationtime"),
        )
        .order_by("-latest")[:limit]
    )
    for row in task_rows:
        user = users.setdefault(
            row["username"],
            {"name": row["username"], "njobs": 0, "nactive": 0, "nfinished": 0, "nfailed": 0, "latest": row["latest"]},
        )
        user["ntasks"], user["nactivetasks"] = row["ntasks"], row["nactivetasks"]
        user["latest"] = max(user["latest"], row["latest"])
    return sorted(users.values(), key=lambda user: (user["latest"], user["name"]), reverse=True)[:limit]


def user_tasks(name: str, selection: Selection, *, limit: int) -> list[dict]:
    """The user's tasks modified in the window, newest first, each with its jobs per state and % done."""
    tasks = list(
        Task.objects.filter(selection.window_q(), username=name)
        .order_by("-modificationtime")
        .values(*TASK_COLUMNS)[:limit]
    )
    states: dict[int, dict[str, int]] = {}
    rows = (
        Job.objects.filter(jeditaskid__in=[task["jeditaskid"] for task in tasks])
        .values("jeditaskid", "jobstatus")
        .annotate(n=Count("pandaid"))
        .order_by()
    )
    for row in rows:
        states.setdefault(row["jeditaskid"], {})[row["jobstatus"]] = row["n"]
    for task in tasks:
        counts = states.get(task["jeditaskid"], {})
        total = sum(counts.values())
        task["jobs"] = counts
        task["njobs"] = total
        task["percent_finished"] = round(100.0 * counts.get(JobStatus.FINISHED, 0) / total, 1) if total else 0.0
    return tasks


def user_jobs(selection: Selection, *, limit: int) -> list[dict]:
    return list(selected_jobs(selection).order_by("-modificationtime", "-pandaid").values(*JOB_COLUMNS)[:limit])


def user_progress(selection: Selection, *, now: dt.datetime | None = None) -> dict[str, list[tuple[dt.datetime, int]]]:
    """Jobs that ended (finished / failed) per hour, per day for windows over three days."""
    start = selection.date_from
    span = (selection.date_to or now or utcnow()) - start if start else None
    trunc = TruncDay if span is None or span > DAILY_BINS_AFTER else TruncHour
    rows = (
        selected_jobs(selection)
        .filter(jobstatus__in=ENDED)
        .annotate(bin=trunc("modificationtime"))
        .values("bin", "jobstatus")
        .annotate(n=Count("pandaid"))
        .order_by("bin", "jobstatus")
    )
    series: dict[str, list[tuple[dt.datetime, int]]] = {str(status): [] for status in ENDED}
    for row in rows:
        series[row["jobstatus"]].append((row["bin"], row["n"]))
    return series


def user_activity(name: str, selection: Selection, *, limit: int) -> dict:
    """Everything the user pages show; ``selection`` already narrowed to the user's jobs."""
    return {
        "job_summary": job_summary(selection),
        "tasks": user_tasks(name, selection, limit=limit),
        "jobs": user_jobs(selection, limit=limit),
        "errors": errors_by_count(error_sources(selection))[:limit],
        "progress": user_progress(selection),
    }


def narrowed_to_user(selection: Selection, name: str) -> Selection:
    selection.q &= Q(produsername=name)
    selection.echo = {"produsername": name, **selection.echo}
    return selection
