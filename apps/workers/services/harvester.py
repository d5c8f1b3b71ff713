"""What a Harvester instance tells the server about itself: heartbeat, worker statistics, dialogs
and service metrics (protocol.md §9)."""

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction

from apps.accounts.identity import clean_user_id
from apps.core.timeutil import utcnow
from apps.core.values import is_null
from apps.workers.models import HarvesterDialog, HarvesterInstance, HarvesterServiceMetrics, WorkerStats
from apps.workers.services.worker_updates import harvester_time

HARVESTER_ID_MAX = HarvesterInstance._meta.get_field("harvester_id").max_length
SUCCEEDED = "succeeded"
NO_INSTANCE_RECORD = "no instance record"
UNDEFINED_RESOURCE_TYPE = "Undefined"
_SHORT_COLUMNS = {"sw_version": "sw_version", "commit_stamp": "commit_stamp", "description": "description"}


class HarvesterDataError(ValueError):
    """Input that cannot be stored; the message is the wire text."""


def harvester_id_check(harvester_id: str | None) -> str:
    if is_null(harvester_id) or len(harvester_id) > HARVESTER_ID_MAX:
        raise HarvesterDataError(f"harvester ID must have 1 to {HARVESTER_ID_MAX} characters")
    return harvester_id


def json_value(name: str, value: Any, *, kind: type) -> Any:
    """Harvester sends most structured parameters as JSON *strings*; JSON bodies may carry objects."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise HarvesterDataError(f"{name} is not valid JSON") from None
    if not isinstance(value, kind):
        raise HarvesterDataError(f"{name} must be a JSON {'object' if kind is dict else 'list'}")
    return value


def harvester_record_heartbeat(*, harvester_id: str, owner_dn: str, host: str, data: Mapping[str, Any]) -> str:
    """Record that the instance is alive, who runs it and where, and what it says about itself.

    ``startTime``, ``sw_version``, ``commit_stamp`` and ``description`` have columns; every other key
    (except ``commands``, Harvester's command-lock requests) is kept in ``metadata``. Answers
    ``succeeded``, or ``no instance record`` when this heartbeat created the instance.
    """
    harvester_id_check(harvester_id)
    values: dict[str, Any] = {
        "owner": (clean_user_id(owner_dn) if owner_dn else "")[:250],
        "hostname": (host or "")[:250],
        "lastupdate": utcnow(),
    }
    extra = {}
    for key, value in data.items():
        if key == "commands":
            continue
        if key == "startTime":
            try:
                values["starttime"] = harvester_time(value)
            except ValueError:
                raise HarvesterDataError(f"startTime must be a time, got {value!r}") from None
        elif key in _SHORT_COLUMNS:
            column = _SHORT_COLUMNS[key]
            limit = HarvesterInstance._meta.get_field(column).max_length
            values[column] = "" if value is None else str(value)[:limit]
        else:
            extra[key] = value
    with transaction.atomic():
        instance = HarvesterInstance.objects.filter(harvester_id=harvester_id).first()
        if instance is not None:
            if extra:
                values["metadata"] = {**instance.metadata, **extra}
            HarvesterInstance.objects.filter(pk=instance.pk).update(**values)
            return SUCCEEDED
        try:
            with transaction.atomic():
                HarvesterInstance.objects.create(
                    harvester_id=harvester_id, description="automatic", metadata=extra, **values
                )
        except IntegrityError:
            HarvesterInstance.objects.filter(harvester_id=harvester_id).update(**values)
            return SUCCEEDED
    return NO_INSTANCE_RECORD


def _statistics_rows(harvester_id: str, queue: str, statistics: Mapping, now: dt.datetime) -> list[WorkerStats]:
    rows = []
    for job_type, per_resource in statistics.items():
        if not isinstance(per_resource, Mapping):
            raise HarvesterDataError(f"statistics[{job_type!r}] must be an object of resource types")
        for resource_type, per_status in per_resource.items():
            if not isinstance(per_status, Mapping):
                raise HarvesterDataError(f"statistics[{job_type!r}][{resource_type!r}] must be an object")
            for status, count in per_status.items():
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise HarvesterDataError(
                        f"statistics[{job_type!r}][{resource_type!r}][{status!r}] must be a count, got {count!r}"
                    )
                if resource_type == UNDEFINED_RESOURCE_TYPE:
                    continue
                rows.append(
                    WorkerStats(
                        harvesterid=harvester_id,
                        computingsite=queue,
                        jobtype=str(job_type)[:80],
                        resourcetype=str(resource_type)[:56],
                        status=str(status)[:80],
                        nworkers=count,
                        lastupdate=now,
                    )
                )
    return rows


def worker_stats_replace(*, harvester_id: str, queue: str, statistics: Mapping) -> None:
    """Replace the instance's worker counts for ``queue`` with ``{jobtype: {resource_type: {status: n}}}``."""
    harvester_id_check(harvester_id)
    if is_null(queue) or len(queue) > WorkerStats._meta.get_field("computingsite").max_length:
        raise HarvesterDataError("panda_queue must be a queue name")
    rows = _statistics_rows(harvester_id, queue, statistics, utcnow())
    with transaction.atomic():
        WorkerStats.objects.filter(harvesterid=harvester_id, computingsite=queue).delete()
        WorkerStats.objects.bulk_create(rows)


def _dialog_time(value) -> dt.datetime:
    try:
        return harvester_time(value) or utcnow()
    except ValueError:
        raise HarvesterDataError(f"creationTime must be a time, got {value!r}") from None


def harvester_add_dialogs(*, harvester_id: str, dialogs: Sequence[Any]) -> int:
    """Store the instance's dialog messages; a message with a known ``diagID`` replaces the old one."""
    harvester_id_check(harvester_id)
    rows = []
    for index, dialog in enumerate(dialogs):
        if not isinstance(dialog, Mapping) or is_null(dialog.get("diagID")):
            raise HarvesterDataError(f"dialogs[{index}] must be an object with a diagID")
        try:
            diag_id = int(dialog["diagID"])
        except (TypeError, ValueError):
            raise HarvesterDataError(f"dialogs[{index}].diagID must be an integer") from None
        rows.append(
            HarvesterDialog(
                harvester_id=harvester_id,
                diagid=diag_id,
                modulename=str(dialog.get("moduleName") or "")[:100],
                identifier=str(dialog.get("identifier") or "")[:100],
                creationtime=_dialog_time(dialog.get("creationTime")),
                messagelevel=str(dialog.get("messageLevel") or "")[:10],
                diagmessage=str(dialog.get("diagMessage") or ""),
            )
        )
    with transaction.atomic():
        HarvesterDialog.objects.filter(harvester_id=harvester_id, diagid__in=[row.diagid for row in rows]).delete()
        HarvesterDialog.objects.bulk_create(rows)
    return len(rows)


def _metrics_entry(index: int, entry: Any) -> tuple[Any, str, Any]:
    """``[creation_time, host, metrics]`` as Harvester's service monitor sends it, or an object."""
    if isinstance(entry, Mapping):
        return entry.get("creation_time"), entry.get("harvester_host") or "", entry.get("metrics")
    if isinstance(entry, list) and len(entry) == 3:
        return entry[0], entry[1] or "", entry[2]
    raise HarvesterDataError(f"metrics[{index}] must be [creation_time, host, metrics]")


def harvester_add_service_metrics(*, harvester_id: str, metrics: Sequence[Any]) -> int:
    harvester_id_check(harvester_id)
    rows = []
    for index, entry in enumerate(metrics):
        created, host, values = _metrics_entry(index, entry)
        if isinstance(values, str):
            try:
                values = json.loads(values)
            except ValueError:
                raise HarvesterDataError(f"metrics[{index}] is not valid JSON") from None
        if not isinstance(values, Mapping):
            raise HarvesterDataError(f"metrics[{index}] must carry an object of metrics")
        try:
            creation_time = harvester_time(created) or utcnow()
        except ValueError:
            raise HarvesterDataError(f"metrics[{index}] has a bad creation time {created!r}") from None
        rows.append(
            HarvesterServiceMetrics(
                harvester_id=harvester_id, creation_time=creation_time, harvester_host=str(host)[:128], metrics=values
            )
        )
    HarvesterServiceMetrics.objects.bulk_create(rows)
    return len(rows)
