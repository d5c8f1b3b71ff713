"""What getJob records about the Harvester worker whose pilot took jobs (protocol.md §5.1).

Both writes are single statements that tolerate repeats: a worker's pilot may call getJob many
times (multi-job pilots), and two requests may race to create the same worker row.
"""

from collections.abc import Sequence

from apps.core.timeutil import utcnow
from apps.workers.models import JobWorker, Worker

HARVESTER_ID_LENGTH = Worker._meta.get_field("harvesterid").max_length


def worker_record_dispatch(
    *, harvester_id: str, worker_id: int, pandaids: Sequence[int], computingsite: str | None
) -> None:
    """Upsert the worker row and add one job<->worker relation per dispatched job."""
    if not pandaids:
        return
    now = utcnow()
    harvester_id = harvester_id[:HARVESTER_ID_LENGTH]
    Worker.objects.bulk_create(
        [Worker(harvesterid=harvester_id, workerid=worker_id, computingsite=computingsite, lastupdate=now)],
        update_conflicts=True,
        unique_fields=["harvesterid", "workerid"],
        update_fields=["lastupdate"],
    )
    JobWorker.objects.bulk_create(
        [
            JobWorker(harvesterid=harvester_id, workerid=worker_id, pandaid=pandaid, lastupdate=now)
            for pandaid in pandaids
        ],
        ignore_conflicts=True,
    )
