"""The jobs list's reads (monitor.md §1 Jobs, §4, §5): one page of rows, facets, errors by count, JSON rows.

Every function takes a parsed :class:`~apps.monitor.filters.parser.Selection`; counts and groupings
run in the database, and a page of rows costs one query whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Floor

from apps.jedi.models import Task
from apps.jobs.models import Job, JobFile
from apps.monitor.filters.jobs import JOB_FACETS
from apps.monitor.filters.parser import Selection
from apps.monitor.selectors.errors import error_sources
from apps.monitor.selectors.errors import errors_by_count as error_summary_by_count
from apps.monitor.selectors.facets import Facet, facet_counts

# Buckets as the filter keys take them: priorityrange=1000:1099, minramcount=2-3GB.
PRIORITY_BUCKET = Facet(
    "priorityrange",
    Floor(F("currentpriority") / Value(100.0)),
    lambda bucket: f"{int(bucket) * 100}:{int(bucket) * 100 + 99}",
)
RAM_BUCKET = Facet("minramcount", Floor(F("minramcount") / Value(1000.0)), lambda gb: f"{int(gb)}-{int(gb) + 1}GB")
FACETS: tuple[str | Facet, ...] = (
    *(name for name in JOB_FACETS if name != "resource_type"),
    PRIORITY_BUCKET,
    RAM_BUCKET,
    Facet("resourcetype", "resource_type"),
)
JOB_COLUMNS = tuple(f.attname for f in Job._meta.concrete_fields)
_CHUNK = 900  # below every backend's limit on bound parameters in one IN list


@dataclass
class JobsPage:
    rows: list[Job]
    next_cursor: str | None
    total: int


def jobs_queryset(selection: Selection) -> QuerySet:
    return selection.apply(Job.objects.all())


def jobs_page(selection: Selection) -> JobsPage:
    """``display_limit`` rows from the cursor on (keyset on modificationtime, pandaid) and the total."""
    matching = selection.filter(Job.objects.all())
    total = matching.count()
    rows_qs = jobs_queryset(selection)
    cursor = selection.extra.get("cursor")
    descending = selection.ordering[:1] == ["-modificationtime"]
    if cursor:
        stamp, pandaid = cursor
        if descending:
            rows_qs = rows_qs.filter(Q(modificationtime__lt=stamp) | Q(modificationtime=stamp, pandaid__lt=pandaid))
        else:
            rows_qs = rows_qs.filter(Q(modificationtime__gt=stamp) | Q(modificationtime=stamp, pandaid__gt=pandaid))
    size = min(selection.display_limit, selection.limit)
    rows = list(rows_qs[: size + 1])
    next_cursor = None
    keyset = selection.ordering[:1] in (["-modificationtime"], ["modificationtime"])
    if len(rows) > size:
        rows = rows[:size]
        if keyset:
            last = rows[-1]
            next_cursor = f"{last.modificationtime.isoformat()},{last.pandaid}"
    return JobsPage(rows=rows, next_cursor=next_cursor, total=total)


def dropped_count(selection: Selection) -> int:
    """How many jobs drop mode hides (0 outside drop mode)."""
    superseded = selection.extra.get("dropped")
    if superseded is None:
        return 0
    return Job.objects.filter(superseded).filter(selection.q).count()


def job_facets(selection: Selection) -> dict[str, list[tuple[Any, int]]]:
    return facet_counts(selection.filter(Job.objects.all()), FACETS, by_count=bool(selection.extra.get("facet_order")))


def errors_by_count(selection: Selection) -> list[dict]:
    """Failed jobs' errors grouped by ``component:code``, largest first: the error summary's ``errsByCount``.

    Counted from the per-job error rows (``JobError``, written when a job fails) by
    :mod:`apps.monitor.selectors.errors`, so this panel and ``/errors/`` agree; rows add ``component``.
    """
    rows = error_summary_by_count(error_sources(selection))
    for row in rows:
        row["component"] = row["error"].split(":", 1)[0]
    return rows


def jobs_json_rows(selection: Selection, *, with_files: bool = False) -> list[dict]:
    """Up to ``limit`` jobs with every column (or ``fields=``), and their files with ``datasets=true``."""
    columns = selection.fields or list(JOB_COLUMNS)
    wanted = columns if "pandaid" in columns else ["pandaid", *columns]
    rows = list(jobs_queryset(selection).values(*wanted)[: selection.limit])
    if with_files:
        files: dict[int, list[dict]] = {}
        ids = [row["pandaid"] for row in rows]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for jobfile in JobFile.objects.filter(job_id__in=chunk).order_by("row_id").values():
                jobfile["pandaid"] = jobfile.pop("job_id")
                files.setdefault(jobfile["pandaid"], []).append(jobfile)
        for row in rows:
            row["datasets"] = files.get(row["pandaid"], [])
    if "pandaid" not in columns:
        for row in rows:
            row.pop("pandaid")
    return rows


def task_is_event_service(params: dict) -> bool:
    """Whether the one task a jobs URL names runs event service (drop mode does not apply then)."""
    raw = params.get("jeditaskid") or params.get("taskid")
    if not raw or not str(raw).isdigit():
        return False
    return Task.objects.filter(jeditaskid=int(raw), eventservice__gt=0).exists()
