"""What a pilot says about its own worker: updateWorkerPilotStatus (protocol.md §8.3)."""

from django.db import IntegrityError, transaction

from apps.core.timeutil import utcnow
from apps.workers.models import Worker

WORKER_PILOT_STATES = ("started", "finished")
INVALID_WORKER_STATE = f"Invalid worker state. The worker state has to be in {WORKER_PILOT_STATES}"
_NODEID_MAX = Worker._meta.get_field("nodeid").max_length
_HARVESTERID_MAX = Worker._meta.get_field("harvesterid").max_length
_SITE_MAX = Worker._meta.get_field("computingsite").max_length


class InvalidWorkerState(ValueError):
    def __init__(self):
        super().__init__(INVALID_WORKER_STATE)


def worker_update_pilot_status(
    *, harvester_id: str, worker_id: int, status: str, node_id: str | None = None, site: str | None = None
) -> bool:
    """Record ``pilotStatus``, ``nodeID`` and the pilot start/end time on the worker row.

    The pilot can start before Harvester's first worker update reaches the server, so a missing row
    is created (with ``site`` as its queue) instead of losing the report; True when it was created.
    """
    if status not in WORKER_PILOT_STATES:
        raise InvalidWorkerState()
    if not harvester_id or len(harvester_id) > _HARVESTERID_MAX:
        raise ValueError(f"harvester ID must have 1 to {_HARVESTERID_MAX} characters")
    now = utcnow()
    values = {"pilotstatus": status, "nodeid": node_id[:_NODEID_MAX] if node_id else node_id}
    values["pilotstarttime" if status == "started" else "pilotendtime"] = now
    workers = Worker.objects.filter(harvesterid=harvester_id, workerid=worker_id)
    if workers.update(**values):
        return False
    try:
        with transaction.atomic():
            Worker.objects.create(
                harvesterid=harvester_id,
                workerid=worker_id,
                computingsite=(site or None) and site[:_SITE_MAX],
                lastupdate=now,
                **values,
            )
    except IntegrityError:
        # Harvester (or another pilot report) inserted the row meanwhile.
        workers.update(**values)
        return False
    return True
