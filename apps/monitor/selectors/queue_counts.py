"""Job counts per queue × nucleus × jobtype × resource type × state, aggregated in the database.

The per-minute snapshot (apps/monitor/services/snapshots.py) stores exactly this aggregate; the
dashboards read the latest snapshot and fall back to running it live when there is none yet.
"""

import datetime as dt

from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from apps.core.timeutil import utcnow
from apps.jobs.models import Job
from apps.jobs.states import ACTIVE_GROUP, ARCHIVED_GROUP, DEFINED_GROUP, JobStatus

# monitor.md §2 `jobtype`: labels that are only analysis; every other label counts as production.
ANALYSIS_LABELS = ("user", "panda")
JOBTYPES = ("analysis", "production")
# The same split in the jobs list's filter grammar, for links from a count to its jobs.
JOBTYPE_LABEL_FILTERS = {
    "analysis": "|".join(ANALYSIS_LABELS),
    "production": "|".join(f"!{x}" for x in ANALYSIS_LABELS),
}
# Column order of every dashboard: the life of a job, then its end.
STATE_ORDER = tuple(JobStatus.values)
NON_FINAL = DEFINED_GROUP | ACTIVE_GROUP
# Jobs in a final state count when they ended within this many hours (the dashboards' window).
DEFAULT_FINAL_HOURS = 12


def jobtype_expression() -> Case:
    return Case(
        When(prodsourcelabel__in=ANALYSIS_LABELS, then=Value("analysis")),
        default=Value("production"),
        output_field=CharField(),
    )


def counted_jobs(*, final_hours: int = DEFAULT_FINAL_HOURS, now: dt.datetime | None = None) -> QuerySet:
    """Jobs not yet final, plus final jobs modified in the last ``final_hours``.

    Both branches name their states (no negation), so PostgreSQL serves each from the
    ``(jobstatus, modificationtime)`` index and ORs the two bitmaps instead of scanning the table.
    """
    since = (now or utcnow()) - dt.timedelta(hours=final_hours)
    return Job.objects.filter(
        Q(jobstatus__in=NON_FINAL) | Q(jobstatus__in=ARCHIVED_GROUP, modificationtime__gte=since),
        computingsite__isnull=False,
    )


def queue_state_counts(jobs: QuerySet) -> QuerySet:
    """``values(computingsite, nucleus, jobtype, resourcetype, jobstatus, count)`` of ``jobs``: one GROUP BY."""
    return (
        jobs.annotate(
            snap_nucleus=Coalesce("nucleus", Value("")),
            snap_jobtype=jobtype_expression(),
            snap_resourcetype=Coalesce("resource_type", Value("")),
        )
        .values("computingsite", "snap_nucleus", "snap_jobtype", "snap_resourcetype", "jobstatus")
        .annotate(count=Count("pandaid"))
        .order_by()
    )


def rows_as_snapshot(rows) -> list[dict]:
    """The aggregate's rows under the snapshot's column names."""
    return [
        {
            "computingsite": row["computingsite"],
            "nucleus": row["snap_nucleus"],
            "jobtype": row["snap_jobtype"],
            "resourcetype": row["snap_resourcetype"],
            "jobstatus": row["jobstatus"],
            "count": row["count"],
        }
        for row in rows
    ]
