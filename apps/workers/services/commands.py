"""Commands for Harvester instances and per-queue slot targets (protocol.md §9).

An instance holds at most one command of a given name: adding one replaces the previous one (the
rule of upstream's ``commandToHarvester``), unless the previous one is still recent enough under the
optional lock/command intervals. ``acquire`` hands the oldest ``new`` commands out exactly once,
with one conditional update per command, so concurrent Harvester processes never both get one.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from apps.core.timeutil import parse_wire_time, utcnow
from apps.core.values import is_null
from apps.sites.models import PandaQueue
from apps.workers.models import HarvesterCommand, HarvesterSlots
from apps.workers.services.harvester import HarvesterDataError, harvester_id_check

KILL_WORKERS = "KILL_WORKERS"
SYNC_WORKERS_KILL = "SYNC_WORKERS_KILL"
SET_N_WORKERS_JOBTYPE = "SET_N_WORKERS_JOBTYPE"
REPORT_WORKER_STATS = "REPORT_WORKER_STATS"
CREATION_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"  # what Harvester's CommandSpec parses
ALL_CES = "ALL"
SWEEP_OK = "OK"
NOT_SERVED = "Queue not served by any harvester ID"
NO_QUEUE = "Error retrieving queue configuration from DB"
REMOVE_SLOTS = -1

S = HarvesterCommand.Status


def harvester_command_add(
    *,
    harvester_id: str,
    command: str,
    params: Any = None,
    ack_requested: bool = False,
    lock_minutes: int | None = None,
    command_minutes: int | None = None,
) -> bool:
    """Queue ``command`` for the instance; False when a recent one of the same name is kept instead.

    ``lock_minutes``: a ``new``/``retrieved`` command younger than this is kept; ``command_minutes``:
    a ``retrieved``/``acknowledged`` command younger than this is kept.
    """
    harvester_id_check(harvester_id)
    now = utcnow()
    with transaction.atomic():
        previous = HarvesterCommand.objects.filter(harvester_id=harvester_id, command=command)
        for status, status_date in previous.values_list("status", "status_date"):
            locked = lock_minutes is not None and status in (S.NEW, S.RETRIEVED)
            if locked and status_date > now - dt.timedelta(minutes=lock_minutes):
                return False
            recent = command_minutes is not None and status in (S.RETRIEVED, S.ACKNOWLEDGED)
            if recent and status_date > now - dt.timedelta(minutes=command_minutes):
                return False
        previous.delete()
        HarvesterCommand.objects.create(
            harvester_id=harvester_id,
            command=command,
            params=params,
            ack_requested=ack_requested,
            status=S.NEW,
            creation_date=now,
            status_date=now,
        )
    return True


def command_as_dict(command: HarvesterCommand) -> dict:
    return {
        "command_id": command.command_id,
        "command": command.command,
        "params": command.params,
        "ack_requested": command.ack_requested,
        "creation_date": command.creation_date.strftime(CREATION_DATE_FORMAT),
    }


def harvester_commands_acquire(*, harvester_id: str, n_commands: int) -> list[dict]:
    """The oldest ``n_commands`` ``new`` commands of the instance, now ``retrieved``."""
    harvester_id_check(harvester_id)
    if n_commands <= 0:
        return []
    candidates = list(
        HarvesterCommand.objects.filter(harvester_id=harvester_id, status=S.NEW).order_by("creation_date", "pk")[
            :n_commands
        ]
    )
    now = utcnow()
    taken = []
    for command in candidates:
        rows = HarvesterCommand.objects.filter(pk=command.pk, status=S.NEW).update(status=S.RETRIEVED, status_date=now)
        if rows == 1:
            taken.append(command_as_dict(command))
    return taken


def harvester_commands_acknowledge(*, command_ids: Sequence[int]) -> int:
    return HarvesterCommand.objects.filter(pk__in=list(command_ids)).update(status=S.ACKNOWLEDGED, status_date=utcnow())


def _queue_ce_names(queue: PandaQueue) -> set[str]:
    entries = queue.document.get("queues") or []
    return {str(entry.get("ce_endpoint")) for entry in entries if isinstance(entry, dict) and entry.get("ce_endpoint")}


def harvester_sweep_queue(
    *, panda_queue: str, status_list: Sequence[str], ce_list: Sequence[str] | str, submission_host_list: Sequence[str]
) -> tuple[bool, str]:
    """Ask the instance serving ``panda_queue`` (the queue's ``harvester``) to kill its workers there,
    filtered by worker status, CE (names the queue does not know are dropped; ``ALL`` for every CE)
    and submission host."""
    queue = PandaQueue.objects.filter(name=panda_queue).first()
    if queue is None:
        return False, NO_QUEUE
    if not queue.harvester:
        return False, NOT_SERVED
    if ce_list == ALL_CES:
        computing_elements: list[str] | str = ALL_CES
    else:
        known = _queue_ce_names(queue)
        computing_elements = [ce for ce in ce_list if ce in known]
    params = {
        "status": list(status_list),
        "computingSite": [panda_queue],
        "computingElement": computing_elements,
        "submissionHost": list(submission_host_list),
    }
    harvester_command_add(harvester_id=queue.harvester, command=KILL_WORKERS, params=params)
    return True, SWEEP_OK


def _expiration(value: Any, now: dt.datetime) -> dt.datetime | None:
    """A number of days (legacy ``validPeriod``) or a date (v1 ``expiration_date``)."""
    if is_null(value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return now + dt.timedelta(days=float(value))
    text = str(value).strip()
    try:
        return now + dt.timedelta(days=float(text))
    except ValueError:
        pass
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        parsed = parse_wire_time(text)
    if parsed is None:
        raise HarvesterDataError(f"expiration date must be a date or a number of days, got {value!r}")
    return parsed


def harvester_slots_set(
    *, panda_queue: str, slots: int, gshare: str | None, resource_type: str | None, expiration: Any = None
) -> str:
    """Set (or with ``-1`` remove) the slot target of a queue, optionally per share and resource type."""
    if is_null(panda_queue) or len(panda_queue) > HarvesterSlots._meta.get_field("pandaqueuename").max_length:
        raise HarvesterDataError("panda_queue must be a queue name")
    if slots < REMOVE_SLOTS:
        raise HarvesterDataError(f"slots must be a number of slots or -1 to remove, got {slots}")
    now = utcnow()
    key = {
        "pandaqueuename": panda_queue,
        "gshare": "" if is_null(gshare) else gshare[:32],
        "resourcetype": "" if is_null(resource_type) else resource_type[:56],
    }
    expires = _expiration(expiration, now)
    if slots == REMOVE_SLOTS:
        HarvesterSlots.objects.filter(**key).delete()
    else:
        HarvesterSlots.objects.update_or_create(
            **key, defaults={"numslots": slots, "modificationtime": now, "expirationtime": expires}
        )
    return f"set numSlots={slots} for PQ={panda_queue} gshare={gshare} resource={resource_type}"
