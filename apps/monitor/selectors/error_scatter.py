"""The task × site failure matrix of ``/errorsscat/`` (monitor.md §1 "Error scattering"), counted in the database.

For the tasks with most failed jobs in the selection: per site the failed and the ended (finished or
failed) jobs, and the failure percentage. JSON: ``{"sites": [...], "tasks": [{jeditaskid, taskname,
failed, total, percent, sites: {site: {failed, total, percent}}}]}``.
"""

from django.db.models import Count, Q, Value
from django.db.models.functions import Coalesce

from apps.jedi.models import Task
from apps.jobs.states import JobStatus
from apps.monitor.filters.parser import Selection
from apps.monitor.selectors.errors import selected_jobs

ENDED = (JobStatus.FINISHED, JobStatus.FAILED)
NO_SITE = "Not specified"


def _percent(failed: int, total: int) -> float:
    return round(100.0 * failed / total, 1) if total else 0.0


def error_scatter(selection: Selection, *, top: int = 50) -> dict:
    ended = selected_jobs(selection).filter(jobstatus__in=ENDED, jeditaskid__isnull=False)
    counts = {"failed": Count("pandaid", filter=Q(jobstatus=JobStatus.FAILED)), "total": Count("pandaid")}
    head = list(
        ended.values("jeditaskid").annotate(**counts).filter(failed__gt=0).order_by("-failed", "jeditaskid")[:top]
    )
    ids = [row["jeditaskid"] for row in head]
    names = dict(Task.objects.filter(jeditaskid__in=ids).values_list("jeditaskid", "taskname"))
    cells: dict[int, dict[str, dict]] = {}
    sites: set[str] = set()
    by_site = ended.filter(jeditaskid__in=ids).annotate(site=Coalesce("computingsite", Value("")))
    for row in by_site.values("jeditaskid", "site").annotate(**counts):
        site = row["site"] or NO_SITE
        sites.add(site)
        cells.setdefault(row["jeditaskid"], {})[site] = {
            "failed": row["failed"],
            "total": row["total"],
            "percent": _percent(row["failed"], row["total"]),
        }
    return {
        "sites": sorted(sites),
        "tasks": [
            {
                "jeditaskid": row["jeditaskid"],
                "taskname": names.get(row["jeditaskid"], ""),
                "failed": row["failed"],
                "total": row["total"],
                "percent": _percent(row["failed"], row["total"]),
                "sites": cells.get(row["jeditaskid"], {}),
            }
            for row in head
        ],
    }
