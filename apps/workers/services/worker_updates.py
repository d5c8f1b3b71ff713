"""Harvester's worker updates: updateWorkers / ``harvester/update_workers`` (protocol.md §9).

Each worker dict upserts one :class:`Worker` row, replaces the worker's job relations when it
carries ``pandaid_list``, and then looks at the worker's jobs that are still active (not
``holding``):

* a worker that ended (``finished``, ``failed``, ``cancelled``, ``missed``) with ``syncLevel`` 1
  while a job is still ``running``/``starting`` means the job can no longer report: the job gets
  ``taskBufferErrorCode=300`` and ``The worker was <status> while the job was <jobStatus> :
  <diagMessage>``, and an empty ``failed`` output report is queued for the Adder. The job moves to
  ``holding`` here, like a pilot's final ``failed`` update, so that the Adder finalises it as
  ``failed`` through its usual path (files, retry, archive);
* an ended worker with a non-zero ``errorCode`` gives its jobs that are not ``finished``
  ``supErrorCode=<errorCode>`` and ``supErrorDiag=Diag from worker : <diagMessage>``.

A worker whose stored status is final and was updated less than 3 hours ago keeps that status:
late updates of a worker Harvester already closed must not reopen it.

Every dict is validated before anything is written, so a bad request changes nothing; each worker
is then written in its own transaction.
"""

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from apps.core.timeutil import parse_wire_time, utcnow
from apps.core.values import is_null
from apps.jobs.models import Job, JobOutputReport
from apps.jobs.services.transitions import StaleStatus, job_change_status, truncate_diags
from apps.jobs.states import ACTIVE_GROUP, JobStatus
from apps.workers.models import JobWorker, Worker

log = logging.getLogger(__name__)

WORKER_DONE_STATES = frozenset({"finished", "failed", "cancelled", "missed"})
KEEP_FINAL_STATUS_FOR = dt.timedelta(hours=3)
SUP_ERROR_MAX_AGE = dt.timedelta(days=30)
EC_WORKER_DONE = 300  # taskbuffer "worker done before job" (states.md §9.2)
_INT64 = 2**63 - 1
_INT32 = 2**31 - 1

# wire key -> column of the text fields (lengths come from the model).
_TEXT_KEYS = {
    "batchID": "batchid",
    "queueName": "queuename",
    "status": "status",
    "computingSite": "computingsite",
    "nodeID": "nodeid",
    "jobType": "jobtype",
    "resourceType": "resourcetype",
    "nativeStatus": "nativestatus",
    "diagMessage": "diagmessage",
    "computingElement": "computingelement",
    "submissionHost": "submissionhost",
    "harvesterHost": "harvesterhost",
    "stdOut": "stdout",
    "stdErr": "stderr",
    "batchLog": "batchlog",
    "jdl": "jdl",
}
_INT_KEYS = {
    "nCore": "ncore",
    "nativeExitCode": "nativeexitcode",
    "nJobs": "njobs",
    "syncLevel": "synclevel",
    "errorCode": "errorcode",
    "minRamCount": "minramcount",
}
_TIME_KEYS = {"submitTime": "submittime", "startTime": "starttime", "endTime": "endtime"}
_HARVESTER_TIME_PREFIX = "datetime/"


class WorkerDataError(ValueError):
    """A worker dict that cannot be stored; the message says which key is wrong."""


@dataclass
class WorkerUpdate:
    worker_id: int
    values: dict[str, Any] = field(default_factory=dict)
    pandaids: list[int] | None = None  # None: the dict had no (or an empty) pandaid_list


def _int(key: str, value, *, bound: int = _INT32) -> int | None:
    if is_null(value):
        return None
    if isinstance(value, bool):
        raise WorkerDataError(f"{key} must be an integer, got {value!r}")
    try:
        number = int(float(value)) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise WorkerDataError(f"{key} must be an integer, got {value!r}") from None
    if abs(number) > bound:
        raise WorkerDataError(f"{key} is out of range: {value!r}")
    return number


def harvester_time(value) -> dt.datetime | None:
    """Harvester sends ``datetime/%Y-%m-%d %H:%M:%S.%f``; the wire formats and epoch seconds also work."""
    if is_null(value):
        return None
    if isinstance(value, str) and value.startswith(_HARVESTER_TIME_PREFIX):
        value = value[len(_HARVESTER_TIME_PREFIX) :]
    try:
        parsed = parse_wire_time(value)
    except (OverflowError, OSError, ValueError):
        parsed = None
    if parsed is None:
        raise ValueError(f"not a time: {value!r}")
    return parsed


def _text_length(column: str) -> int | None:
    return Worker._meta.get_field(column).max_length


def worker_update_parse(data: Any) -> WorkerUpdate:
    """One worker dict of the wire -> :class:`WorkerUpdate`; unknown keys are ignored."""
    if not isinstance(data, Mapping):
        raise WorkerDataError("must be an object")
    if is_null(data.get("workerID")):
        raise WorkerDataError("workerID is missing")
    update = WorkerUpdate(worker_id=_int("workerID", data["workerID"], bound=_INT64))
    for key, column in _TEXT_KEYS.items():
        if key not in data:
            continue
        value = data[key]
        if value is None:
            update.values[column] = None
            continue
        if isinstance(value, (dict, list)):
            raise WorkerDataError(f"{key} must be a string")
        text = value if isinstance(value, str) else str(value)
        length = _text_length(column)
        update.values[column] = text[:length] if length else text
    for key, column in _INT_KEYS.items():
        if key in data:
            update.values[column] = _int(key, data[key])
    for key, column in _TIME_KEYS.items():
        if key in data:
            try:
                update.values[column] = harvester_time(data[key])
            except ValueError:
                raise WorkerDataError(f"{key} must be a time, got {data[key]!r}") from None
    if update.values.get("status") is None:
        update.values.pop("status", None)  # the column is NOT NULL; keep what is stored
    pandaids = data.get("pandaid_list")
    if not is_null(pandaids):
        if not isinstance(pandaids, list):
            raise WorkerDataError("pandaid_list must be a list of PandaIDs")
        parsed = [_int("pandaid_list", pandaid, bound=_INT64) for pandaid in pandaids]
        if any(pandaid is None or pandaid <= 0 for pandaid in parsed):
            raise WorkerDataError(f"pandaid_list must be a list of PandaIDs, got {pandaids!r}")
        update.pandaids = list(dict.fromkeys(parsed)) or None
    return update


def workers_update(*, harvester_id: str, workers: Sequence[Any]) -> list[bool]:
    """Apply Harvester's worker dicts; one True per worker. :class:`WorkerDataError` (naming the index)
    before anything is written when a dict is unusable."""
    if not harvester_id or len(harvester_id) > _text_length_harvester():
        raise WorkerDataError(f"harvester ID must have 1 to {_text_length_harvester()} characters")
    updates = []
    for index, data in enumerate(workers):
        try:
            updates.append(worker_update_parse(data))
        except WorkerDataError as exc:
            raise WorkerDataError(f"workers[{index}]: {exc}") from None
    return [_apply(harvester_id, update) for update in updates]


def _text_length_harvester() -> int:
    return Worker._meta.get_field("harvesterid").max_length


def _apply(harvester_id: str, update: WorkerUpdate) -> bool:
    now = utcnow()
    with transaction.atomic():
        worker = _upsert(harvester_id, update, now)
        if update.pandaids:
            _sync_relations(harvester_id, update.worker_id, update.pandaids, now)
        if worker.status in WORKER_DONE_STATES:
            _close_jobs(harvester_id, worker, now)
    return True


def _upsert(harvester_id: str, update: WorkerUpdate, now: dt.datetime) -> Worker:
    rows = Worker.objects.filter(harvesterid=harvester_id, workerid=update.worker_id)
    values = {**update.values, "lastupdate": now}
    existing = rows.first()
    if existing is None:
        try:
            with transaction.atomic():
                return Worker.objects.create(harvesterid=harvester_id, workerid=update.worker_id, **values)
        except IntegrityError:
            # A getJob of the worker's pilot (or a parallel update) inserted it meanwhile.
            existing = rows.get()
    if (
        existing.status in WORKER_DONE_STATES
        and existing.lastupdate > now - KEEP_FINAL_STATUS_FOR
        and values.get("status", existing.status) != existing.status
    ):
        log.info(
            "worker %s/%s keeps status %s instead of %s",
            harvester_id,
            update.worker_id,
            existing.status,
            values["status"],
        )
        values["status"] = existing.status
    rows.update(**values)
    for column, value in values.items():
        setattr(existing, column, value)
    return existing


def _sync_relations(harvester_id: str, worker_id: int, pandaids: list[int], now: dt.datetime) -> None:
    relations = JobWorker.objects.filter(harvesterid=harvester_id, workerid=worker_id)
    relations.exclude(pandaid__in=pandaids).delete()
    relations.filter(pandaid__in=pandaids).update(lastupdate=now)
    JobWorker.objects.bulk_create(
        [
            JobWorker(harvesterid=harvester_id, workerid=worker_id, pandaid=pandaid, lastupdate=now)
            for pandaid in pandaids
        ],
        ignore_conflicts=True,
    )


def _close_jobs(harvester_id: str, worker: Worker, now: dt.datetime) -> None:
    pandaids = JobWorker.objects.filter(harvesterid=harvester_id, workerid=worker.workerid).values("pandaid")
    jobs = Job.objects.filter(pandaid__in=pandaids, jobstatus__in=ACTIVE_GROUP - {JobStatus.HOLDING}).only(
        "pandaid", "jobstatus", "attemptnr", "computingsite", "prodsourcelabel", "endtime"
    )
    sup_changes = {}
    if worker.errorcode:
        sup_changes = truncate_diags(
            {"superrorcode": worker.errorcode, "superrordiag": f"Diag from worker : {worker.diagmessage}"}
        )
    for job in jobs:
        if worker.synclevel == 1 and job.jobstatus in (JobStatus.RUNNING, JobStatus.STARTING):
            _fail_out_of_sync(job, worker, sup_changes, now)
        elif sup_changes:
            _set_sup_error(job.pandaid, sup_changes, now)


def _fail_out_of_sync(job: Job, worker: Worker, sup_changes: dict, now: dt.datetime) -> None:
    diag = f"The worker was {worker.status} while the job was {job.jobstatus} : {worker.diagmessage}"
    changes = {
        "taskbuffererrorcode": EC_WORKER_DONE,
        "taskbuffererrordiag": diag,
        "modificationtime": now,
        "endtime": job.endtime or now,
        **sup_changes,
    }
    if job.jobstatus == JobStatus.STARTING:
        changes["starttime"] = None
    try:
        with transaction.atomic():
            job_change_status(job, new=JobStatus.HOLDING, changes=changes, reason=f"worker {worker.status}")
            JobOutputReport.objects.bulk_create(
                [JobOutputReport(job_id=job.pandaid, attemptnr=job.attemptnr, final_status=JobStatus.FAILED, data="")],
                ignore_conflicts=True,
            )
    except StaleStatus:
        # The pilot's own update won the race: its outcome stands.
        log.info("job %s left %s before the worker update", job.pandaid, job.jobstatus)
        if sup_changes:
            _set_sup_error(job.pandaid, sup_changes, now)


def _set_sup_error(pandaid: int, sup_changes: dict, now: dt.datetime) -> None:
    Job.objects.filter(pandaid=pandaid, modificationtime__gt=now - SUP_ERROR_MAX_AGE).exclude(
        jobstatus=JobStatus.FINISHED
    ).update(**sup_changes, statechangetime=now)
