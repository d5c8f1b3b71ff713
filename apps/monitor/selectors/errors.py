"""The error summary (monitor.md §1 Errors, §5): failed jobs' errors grouped in the database.

Everything is counted from ``JobError`` (one row per non-zero error field of a failed job) with
``values().annotate()``. For windows longer than :data:`HOURLY_AFTER` whose filters the hourly
aggregate can answer (queue, label, time), the by-code, by-component, by-site and over-time counts
read ``ErrorHourly`` for the whole hours its last run covered and ``JobError`` for the rest of the
window (the partial first hour, the recent tail), so the counts stay exact; the two grouped answers
are added up. Distinct failed jobs per site (``toterrjobs``) are then unknown (``None``).
A selection is the job filter grammar's :class:`~apps.monitor.filters.parser.Selection`: filters on
the columns ``JobError`` copies from the job apply to it directly, any other filter selects the jobs
through a sub-query on the job table.

Legacy JSON shapes (BigPanDA): ``errsByCount`` rows ``{error: "pilot:1305", codename, codeval, diag,
desc, count, example_pandaid}``; ``errsBySite`` / ``errsByUser`` / ``errsByTask`` rows ``{name,
errors: {"pilot:1305": {error, codename, codeval, count}}, toterrors, toterrjobs}`` (tasks add
``longname``, the task name, and ``tasktype``); ``jobSummary`` rows ``{name: jobstatus, count}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour

from apps.core.timeutil import utcnow
from apps.jedi.models import Task
from apps.jobs.error_codes import COMPONENT_BY_NAME, error_description
from apps.jobs.models import Job, JobError
from apps.jobs.states import JobStatus
from apps.monitor.filters.parser import Selection
from apps.monitor.models import ErrorHourly, ErrorHourlyState
from apps.monitor.services.error_hourly import HOUR, LATE_MARGIN, hour_of

# Filters on these job columns apply to JobError as they are (it holds copies of them).
DIRECT_FIELDS = frozenset({"computingsite", "produsername", "jeditaskid", "prodsourcelabel", "modificationtime"})
# ... and these to ErrorHourly (modificationtime becomes its hour).
HOURLY_FIELDS = frozenset({"computingsite", "prodsourcelabel", "modificationtime"})
HOURLY_AFTER = dt.timedelta(hours=24)
DAILY_BINS_AFTER = dt.timedelta(days=3)
DEFAULT_TOP = 50


def _leaf_fields(q: Q) -> Iterator[str | None]:
    """The column each condition of ``q`` filters on; ``None`` for an expression condition (Exists, ...)."""
    for child in q.children:
        if isinstance(child, Q):
            yield from _leaf_fields(child)
        elif isinstance(child, tuple):
            yield child[0].split("__", 1)[0]
        else:
            yield None


def filters_only_on(selection: Selection, fields: frozenset[str]) -> bool:
    if selection.extra.get("conditions"):  # expressions on the job table (drop mode)
        return False
    return all(name in fields for name in _leaf_fields(selection.q))


def _hour_q(q: Q) -> Q:
    """``q`` for ErrorHourly: its ``modificationtime`` (window) conditions become always true.

    Only used when every condition is on :data:`HOURLY_FIELDS`, where the window conditions are
    plain ANDed bounds; the hourly span is applied separately.
    """
    rewritten = Q()
    rewritten.connector, rewritten.negated = q.connector, q.negated
    for child in q.children:
        if isinstance(child, Q):
            rewritten.children.append(_hour_q(child))
        elif child[0].split("__", 1)[0] == "modificationtime":
            rewritten.children.append(("hour__isnull", False))
        else:
            rewritten.children.append(child)
    return rewritten


def selected_jobs(selection: Selection) -> QuerySet:
    """The jobs of the selection (filters, window, drop mode), unordered."""
    return selection.filter(Job.objects.all()).order_by()


def selected_errors(selection: Selection) -> QuerySet:
    """The JobError rows of the selection's failed jobs."""
    errors = JobError.objects.filter(selection.window_q())
    if filters_only_on(selection, DIRECT_FIELDS):
        return errors.filter(selection.q)
    return errors.filter(job_id__in=selected_jobs(selection).values("pandaid"))


def _ceil_hour(moment: dt.datetime) -> dt.datetime:
    floor = hour_of(moment)
    return floor if floor == moment else floor + HOUR


def hourly_span(selection: Selection, *, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime] | None:
    """The whole hours of the window that ErrorHourly answers, or ``None`` when it answers nothing.

    Only for windows over :data:`HOURLY_AFTER` whose filters the aggregate holds, and only for hours
    its last run has folded in; the error rows answer the partial hours at both ends and the rest.
    """
    if selection.date_from is None or not filters_only_on(selection, HOURLY_FIELDS):
        return None
    end = selection.date_to or now or utcnow()
    if end - selection.date_from <= HOURLY_AFTER:
        return None
    covered = ErrorHourlyState.objects.values_list("covered_until", flat=True).first()
    if covered is None:
        return None
    first, last = _ceil_hour(selection.date_from), min(hour_of(covered - LATE_MARGIN), hour_of(end))
    return (first, last) if last > first else None


@dataclass
class ErrorSources:
    """Where the counts come from: error rows, plus hourly aggregates for the whole hours they cover."""

    errors: QuerySet
    hourly: QuerySet | None = None


def error_sources(selection: Selection, *, now: dt.datetime | None = None) -> ErrorSources:
    errors = selected_errors(selection)
    span = hourly_span(selection, now=now)
    if span is None:
        return ErrorSources(errors)
    first, last = span
    return ErrorSources(
        errors=errors.exclude(modificationtime__gte=first, modificationtime__lt=last),
        hourly=ErrorHourly.objects.filter(_hour_q(selection.q), hour__gte=first, hour__lt=last),
    )


def _key(row: dict, fields: tuple[str, ...]) -> tuple:
    # The aggregate stores no site as "", the error rows as NULL: one group.
    return tuple(("" if row[f] is None and f in HOURLY_FIELDS else row[f]) for f in fields)


def _grouped(sources: ErrorSources, fields: tuple[str, ...], *, samples: bool = False, bins=None) -> dict:
    """Error counts per value of ``fields`` (``"bin"``: the time bin), both sources added up.

    Each source is grouped in the database; this only adds the two answers together.
    """
    groups: dict[tuple, dict] = {}

    def add(rows) -> None:
        for row in rows:
            entry = groups.setdefault(_key(row, fields), {"n": 0, "sample": "", "example": None})
            entry["n"] += row["n"]
            if samples:
                entry["sample"] = max(entry["sample"], row["sample"] or "")
                entry["example"] = max(filter(None, (entry["example"], row["example"])), default=None)

    errors = sources.errors
    if bins is not None:
        errors = errors.annotate(bin=bins("modificationtime"))
    extra = {"sample": Max("diag"), "example": Max("job_id")} if samples else {}
    add(errors.values(*fields).annotate(n=Count("id"), **extra).order_by())
    if sources.hourly is not None:
        hourly = sources.hourly if bins is None else sources.hourly.annotate(bin=bins("hour"))
        extra = {"sample": Max("diag"), "example": Max("pandaid")} if samples else {}
        add(hourly.values(*fields).annotate(n=Sum("count"), **extra).order_by())
    return groups


def error_key(component: str, code: int) -> str:
    return f"{component}:{code}"


def _code_entry(component: str, code: int, count: int) -> dict:
    return {
        "error": error_key(component, code),
        "codename": COMPONENT_BY_NAME[component].code_field,
        "codeval": code,
        "count": count,
    }


def errors_by_count(sources: ErrorSources) -> list[dict]:
    """``errsByCount``: one row per component:code, most frequent first."""
    groups = _grouped(sources, ("component", "code"), samples=True)
    result = []
    for (component, code), entry in sorted(groups.items(), key=lambda item: (-item[1]["n"], item[0])):
        row = _code_entry(component, code, entry["n"])
        row.update(diag=entry["sample"], desc=error_description(component, code), example_pandaid=entry["example"])
        result.append(row)
    return result


def errors_by_component(sources: ErrorSources) -> list[tuple[str, int]]:
    """Error counts per component, for the bar plot."""
    groups = _grouped(sources, ("component",))
    return [(name, entry["n"]) for (name,), entry in sorted(groups.items(), key=lambda item: (-item[1]["n"], item[0]))]


def errors_by_site(sources: ErrorSources, *, top: int = DEFAULT_TOP) -> list[dict]:
    """``errsBySite``; ``toterrjobs`` (distinct failed jobs) is ``None`` when hourly aggregates answered."""
    totals = _grouped(sources, ("computingsite",))
    head = sorted(totals.items(), key=lambda item: (-item[1]["n"], item[0]))[:top]
    codes: dict[str, dict] = {}
    for (site, component, code), entry in _grouped(sources, ("computingsite", "component", "code")).items():
        codes.setdefault(site, {})[error_key(component, code)] = _code_entry(component, code, entry["n"])
    jobs = {}
    if sources.hourly is None:
        names = [site for (site,), _ in head]
        among = Q(computingsite__in=names)
        if "" in names:
            among |= Q(computingsite__isnull=True)
        rows = sources.errors.filter(among).values("computingsite").annotate(n=Count("job_id", distinct=True))
        for row in rows.order_by():
            site = row["computingsite"] or ""
            jobs[site] = jobs.get(site, 0) + row["n"]
    return [
        {"name": site, "errors": codes.get(site, {}), "toterrors": entry["n"], "toterrjobs": jobs.get(site)}
        for (site,), entry in head
    ]


def _breakdown(errors: QuerySet, field: str, *, top: int) -> list[dict]:
    """Rows ``{name, errors, toterrors, toterrjobs}`` for the ``top`` values of ``field`` with most errors."""
    totals = errors.values(field).annotate(toterrors=Count("id"), toterrjobs=Count("job_id", distinct=True))
    head = list(totals.order_by("-toterrors", field)[:top])
    if not head:
        return []
    names = [row[field] for row in head]
    among = Q(**{f"{field}__in": [name for name in names if name is not None]})
    if None in names:
        among |= Q(**{f"{field}__isnull": True})
    codes: dict = {}
    rows = errors.filter(among).values(field, "component", "code").annotate(n=Count("id"))
    for row in rows.order_by("-n", "component", "code"):
        codes.setdefault(row[field], {})[error_key(row["component"], row["code"])] = _code_entry(
            row["component"], row["code"], row["n"]
        )
    return [
        {
            "name": row[field],
            "errors": codes.get(row[field], {}),
            "toterrors": row["toterrors"],
            "toterrjobs": row["toterrjobs"],
        }
        for row in head
    ]


def errors_by_user(selection: Selection, *, top: int = DEFAULT_TOP) -> list[dict]:
    return _breakdown(selected_errors(selection), "produsername", top=top)


def errors_by_task(selection: Selection, *, top: int = DEFAULT_TOP) -> list[dict]:
    rows = _breakdown(selected_errors(selection), "jeditaskid", top=top)
    names = dict(
        Task.objects.filter(jeditaskid__in=[row["name"] for row in rows if row["name"]]).values_list(
            "jeditaskid", "taskname"
        )
    )
    for row in rows:
        row["longname"] = names.get(row["name"], "")
        row["tasktype"] = "jeditaskid"
    return rows


def errors_over_time(
    sources: ErrorSources, selection: Selection, *, now: dt.datetime | None = None
) -> list[tuple[dt.datetime, int]]:
    """Errors per hour (per day for windows over three days), oldest first."""
    start = selection.date_from
    span = (selection.date_to or now or utcnow()) - start if start else None
    bins = TruncDay if span is None or span > DAILY_BINS_AFTER else TruncHour
    groups = _grouped(sources, ("bin",), bins=bins)
    return [(moment, entry["n"]) for (moment,), entry in sorted(groups.items())]


def job_summary(selection: Selection) -> list[dict]:
    """``jobSummary``: the selection's jobs per state (states.md §1), most first.

    One count per state, all in one ``UNION ALL`` query: each is a range of the (jobstatus,
    modificationtime) index that PostgreSQL counts from the index alone, where grouping the window by
    state reads every job row of the window (PostgreSQL has no skip scan; the benchmark's 24 h window
    holds 140,000 jobs).
    """
    jobs = selected_jobs(selection)
    counts = [
        jobs.filter(jobstatus=state).values("jobstatus").annotate(count=Count("*")).order_by() for state in JobStatus
    ]
    rows = sorted(counts[0].union(*counts[1:], all=True), key=lambda row: (-row["count"], row["jobstatus"]))
    return [{"name": row["jobstatus"], "count": row["count"]} for row in rows]


@dataclass
class ErrorSummary:
    job_summary: list[dict]
    by_count: list[dict]
    by_site: list[dict]
    by_user: list[dict]
    by_task: list[dict]
    by_component: list[tuple[str, int]]
    over_time: list[tuple[dt.datetime, int]]
    hourly: bool


def error_summary(selection: Selection, *, top: int = DEFAULT_TOP, now: dt.datetime | None = None) -> ErrorSummary:
    sources = error_sources(selection, now=now)
    return ErrorSummary(
        job_summary=job_summary(selection),
        by_count=errors_by_count(sources),
        by_site=errors_by_site(sources, top=top),
        by_user=errors_by_user(selection, top=top),
        by_task=errors_by_task(selection, top=top),
        by_component=errors_by_component(sources),
        over_time=errors_over_time(sources, selection, now=now),
        hourly=sources.hourly is not None,
    )
