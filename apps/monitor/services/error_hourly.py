"""Hourly error aggregates (monitor.md §8): ``JobError`` folded into :class:`ErrorHourly` in the database.

Incremental: a run rebuilds only the hours that received error rows since the previous run (rows
recorded since then, looked up through ``recorded_at``, name the hours of their failures; a
backfill of old failures therefore rebuilds old hours). Idempotent: an hour is rebuilt by deleting
its aggregate rows and inserting fresh counts in one transaction, so running twice gives the same
table. The ``ErrorHourlyState`` row is locked for the run (PostgreSQL), so concurrent runs queue up.
Error rows whose job is later deleted leave their hour's counts until that hour is rebuilt.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Max, Q, Value
from django.db.models.functions import Coalesce, TruncHour

from apps.core.timeutil import utcnow
from apps.jobs.models import JobError
from apps.monitor.models import ErrorHourly, ErrorHourlyState

HOUR = dt.timedelta(hours=1)
# Error rows are written inside the transaction of a job's failure; one still uncommitted when a run
# starts carries a recorded_at before that start, so the next run looks this far back too.
LATE_MARGIN = dt.timedelta(minutes=10)
_HOURS_PER_STATEMENT = 200


@dataclass
class ErrorHourlyResult:
    hours: int
    rows: int

    def __str__(self) -> str:
        return f"error aggregates: {self.hours} hours rebuilt, {self.rows} rows"


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _spans(hours: list[dt.datetime]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Consecutive hours merged into [start, end) spans."""
    spans: list[list[dt.datetime]] = []
    for hour in hours:
        if spans and spans[-1][1] == hour:
            spans[-1][1] = hour + HOUR
        else:
            spans.append([hour, hour + HOUR])
    return [(start, end) for start, end in spans]


def _rebuild(hours: list[dt.datetime]) -> int:
    spans = Q()
    for start, end in _spans(hours):
        spans |= Q(modificationtime__gte=start, modificationtime__lt=end)
    counts = (
        JobError.objects.filter(spans)
        .annotate(
            hour=TruncHour("modificationtime"),
            site=Coalesce("computingsite", Value("")),
            label=Coalesce("prodsourcelabel", Value("")),
        )
        .values("hour", "component", "code", "site", "label")
        .annotate(n=Count("id"), sample=Max("diag"), example=Max("job_id"))
        .order_by()
    )
    rows = [
        ErrorHourly(
            hour=row["hour"],
            component=row["component"],
            code=row["code"],
            computingsite=row["site"],
            prodsourcelabel=row["label"],
            count=row["n"],
            diag=row["sample"] or "",
            pandaid=row["example"],
        )
        for row in counts
    ]
    ErrorHourly.objects.filter(hour__in=hours).delete()
    ErrorHourly.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def error_hourly_update(*, now: dt.datetime | None = None) -> ErrorHourlyResult:
    """Rebuild the aggregate hours touched by error rows recorded since the last run."""
    now = now or utcnow()
    ErrorHourlyState.objects.get_or_create(pk=1)
    with transaction.atomic():
        state = ErrorHourlyState.objects.select_for_update().get(pk=1)
        recorded = JobError.objects.all()
        if state.covered_until is not None:
            recorded = recorded.filter(recorded_at__gte=state.covered_until - LATE_MARGIN)
        hours = sorted(
            set(
                recorded.annotate(hour=TruncHour("modificationtime"))
                .values_list("hour", flat=True)
                .order_by()
                .distinct()
            )
        )
        rows = 0
        for start in range(0, len(hours), _HOURS_PER_STATEMENT):
            rows += _rebuild(hours[start : start + _HOURS_PER_STATEMENT])
        state.covered_until = now
        state.save(update_fields=["covered_until"])
    return ErrorHourlyResult(hours=len(hours), rows=rows)
