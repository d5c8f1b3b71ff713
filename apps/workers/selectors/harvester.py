"""Read-only views of Harvester's data for Harvester itself and the monitor (protocol.md §9)."""

import datetime as dt

from django.db.models import Max, Sum

from apps.core.timeutil import utcnow
from apps.workers.models import Worker, WorkerStats

# Older reports are stale: the instance stopped reporting that queue.
WORKER_STATS_MAX_AGE = dt.timedelta(hours=4)


def worker_max_id(*, harvester_id: str) -> int:
    """Largest ``workerID`` the server knows for the instance; 0 when it knows none."""
    return Worker.objects.filter(harvesterid=harvester_id).aggregate(top=Max("workerid"))["top"] or 0


def worker_statistics() -> dict:
    """``{queue: {harvester_id: {jobtype: {resource_type: {status: n}}}}}`` of recent reports."""
    rows = (
        WorkerStats.objects.filter(lastupdate__gte=utcnow() - WORKER_STATS_MAX_AGE)
        .values("computingsite", "harvesterid", "jobtype", "resourcetype", "status")
        .annotate(n=Sum("nworkers"))
        .order_by()
    )
    stats: dict = {}
    for row in rows:
        per_type = stats.setdefault(row["computingsite"], {}).setdefault(row["harvesterid"], {})
        per_type.setdefault(row["jobtype"], {}).setdefault(row["resourcetype"], {})[row["status"]] = row["n"]
    return stats
