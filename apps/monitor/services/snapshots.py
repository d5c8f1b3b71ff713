"""The per-minute queue snapshot (monitor.md §8): one aggregate query, one bulk insert, old minutes pruned.

Idempotent per minute: the :class:`QueueSnapshotRun` row of a minute is created first, in the same
transaction as the rows, so a second run in that minute (or a concurrent one) writes nothing.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.core.timeutil import utcnow
from apps.monitor.models import QueueSnapshot, QueueSnapshotRun
from apps.monitor.selectors.queue_counts import counted_jobs, queue_state_counts, rows_as_snapshot


@dataclass
class SnapshotResult:
    taken_at: dt.datetime
    taken: bool
    nrows: int = 0
    njobs: int = 0
    pruned: int = 0

    def __str__(self) -> str:
        if not self.taken:
            return f"queue snapshot {self.taken_at:%Y-%m-%d %H:%M}: already taken, pruned {self.pruned} rows"
        return (
            f"queue snapshot {self.taken_at:%Y-%m-%d %H:%M}: {self.nrows} rows, {self.njobs} jobs,"
            f" pruned {self.pruned} rows"
        )


def minute_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def queue_snapshot_take(*, now: dt.datetime | None = None, keep_minutes: int | None = None) -> SnapshotResult:
    """Store this minute's job counts unless they are stored already; prune snapshots older than ``keep_minutes``."""
    now = now or utcnow()
    taken_at = minute_of(now)
    keep = settings.PANDA_MONITOR_SNAPSHOT_KEEP_MINUTES if keep_minutes is None else keep_minutes
    if keep < 1:
        raise ValueError(f"keep_minutes must be at least 1, got {keep}")
    result = SnapshotResult(taken_at=taken_at, taken=False)
    try:
        with transaction.atomic():
            run = QueueSnapshotRun.objects.create(taken_at=taken_at)
            rows = rows_as_snapshot(
                queue_state_counts(counted_jobs(final_hours=settings.PANDA_MONITOR_DASH_HOURS, now=now))
            )
            QueueSnapshot.objects.bulk_create([QueueSnapshot(taken_at=taken_at, **row) for row in rows])
            run.nrows, run.njobs = len(rows), sum(row["count"] for row in rows)
            run.save(update_fields=["nrows", "njobs"])
            result.taken, result.nrows, result.njobs = True, run.nrows, run.njobs
    except IntegrityError:
        pass  # this minute's snapshot exists: taken by an earlier or a concurrent run
    result.pruned = snapshots_prune(before=taken_at - dt.timedelta(minutes=keep))
    return result


def snapshots_prune(*, before: dt.datetime) -> int:
    """Delete every snapshot taken before ``before``; the number of rows deleted."""
    deleted, _ = QueueSnapshot.objects.filter(taken_at__lt=before).delete()
    QueueSnapshotRun.objects.filter(taken_at__lt=before).delete()
    return deleted
