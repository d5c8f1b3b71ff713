"""Propagator: tell the server what happened (pilot-harvester.md §10.1).

In order: job updates in bulk (push and shared filesystem), then worker updates, then worker
statistics. A worker whose jobs still have an update to send waits, so that the server never hears
that a worker ended (``syncLevel`` 1, which fails its still-running jobs) before it heard the job's
own final state.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from harvester.communicator import CommunicationError
from harvester.context import Harvester
from harvester.launch import PILOT_STDERR, PILOT_STDOUT
from harvester.states import FINAL, LIVE, QUEUED
from harvester.states import JobStatus as J
from harvester.states import WorkerStatus as W
from harvester.store import TIME_FORMAT, JobSpec, WorkSpec, utcnow

log = logging.getLogger(__name__)

BULK = 100
TOBEKILLED = "tobekilled"
ALREADYDONE = "alreadydone"
STATS_KEY = "stats_reported_at"


def propagator_run(h: Harvester) -> None:
    _schedule_job_heartbeats(h)
    _send_job_updates(h)
    _send_worker_updates(h)
    _send_statistics(h)


# --- jobs ----------------------------------------------------------------------------------------


def _schedule_job_heartbeats(h: Harvester) -> None:
    """Jobs Harvester speaks for get an update at least every ``update_interval``: a push job whose
    worker waits in the batch system is ``starting`` (else the server's 30-min ``sent`` timeout
    fails it); a shared-filesystem job repeats its last state."""
    stale = utcnow() - dt.timedelta(seconds=h.config.update_interval)
    for queue in h.config.queues.values():
        if queue.pull:
            continue
        for job in h.store.jobs(queue=queue.name, statuses=[J.SUBMITTED, J.RUNNING]):
            if job.pending_update is not None or job.worker_id is None or job.server_status == "final":
                continue
            if job.server_status != "sent" and job.modification_time > stale:
                continue
            worker = h.store.worker(job.worker_id)
            if worker is None or worker.status == W.PENDING:
                continue
            if worker.status in QUEUED:
                state = "starting"
            elif queue.shared_fs and worker.status in LIVE:
                state = job.server_status if job.server_status in ("starting", "running") else "running"
            else:
                continue  # a true pilot reports its running job itself
            h.store.job_update(
                job.pandaid,
                pending_update={"job_id": job.pandaid, "job_status": state, "attempt_nr": job.attempt_nr},
                server_status=state,
            )


def _send_job_updates(h: Harvester) -> None:
    jobs = h.store.jobs(with_pending_update=True)
    for start in range(0, len(jobs), BULK):
        chunk = jobs[start : start + BULK]
        try:
            answers = h.comm.update_jobs_bulk([job.pending_update for job in chunk])
        except CommunicationError as exc:
            log.warning("job updates not sent: %s", exc)
            return
        for job, answer in zip(chunk, answers, strict=False):
            _job_answer(h, job, answer)


def _job_answer(h: Harvester, job: JobSpec, answer: dict[str, Any]) -> None:
    final = job.server_status == "final"
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(answer, dict) or not answer.get("success"):
        message = answer.get("message") if isinstance(answer, dict) else answer
        log.warning("job %s: update refused (%s); not sent again", job.pandaid, message)
        h.store.job_update(job.pandaid, pending_update=None, **({"status": J.DONE} if final else {}))
        return
    if not isinstance(data, dict) or data.get("StatusCode") not in (0, None):
        log.warning("job %s: update not applied (%s), retrying later", job.pandaid, data)
        return
    command = str(data.get("command") or "")
    if final or ALREADYDONE in command:
        h.store.job_update(job.pandaid, pending_update=None, status=J.DONE, final_update=True)
        return
    h.store.job_update(job.pandaid, pending_update=None)
    if TOBEKILLED in command and job.worker_id is not None:
        log.info("job %s: the server asks to kill it; killing worker %s", job.pandaid, job.worker_id)
        h.store.worker_update(job.worker_id, kill_requested=True)


# --- workers -------------------------------------------------------------------------------------


def _time(value: dt.datetime | None) -> str | None:
    return "datetime/" + value.strftime(TIME_FORMAT) if value else None


def worker_record(h: Harvester, worker: WorkSpec) -> dict[str, Any]:
    """The worker dict of update_workers (protocol.md §9)."""
    record = {
        "workerID": worker.worker_id,
        "batchID": worker.batch_id,
        "queueName": worker.queue,
        "computingSite": worker.queue,
        "status": worker.status,
        "nCore": worker.n_core,
        "submitTime": _time(worker.submit_time),
        "startTime": _time(worker.start_time),
        "endTime": _time(worker.end_time),
        "jobType": worker.job_type,
        "resourceType": worker.resource_type,
        "nativeExitCode": worker.native_exit_code,
        "nativeStatus": worker.native_status,
        "diagMessage": worker.diag,
        "nJobs": len(worker.pandaids),
        "computingElement": f"{worker.plugin}://{h.hostname}",
        "syncLevel": 1 if worker.status in FINAL else 0,
        "submissionHost": h.hostname,
        "harvesterHost": h.hostname,
        "errorCode": worker.error_code,
        "stdOut": f"file://{worker.access_point}/{PILOT_STDOUT}",
        "stdErr": f"file://{worker.access_point}/{PILOT_STDERR}",
    }
    if worker.pandaids:
        record["pandaid_list"] = worker.pandaids
    return {key: value for key, value in record.items() if value is not None}


def _send_worker_updates(h: Harvester) -> None:
    waiting = {job.worker_id for job in h.store.jobs(with_pending_update=True) if job.worker_id is not None}
    workers = [
        worker
        for worker in h.store.workers(to_propagate=True, with_jobs=True)
        if worker.status != W.PENDING and worker.worker_id not in waiting
    ]
    for start in range(0, len(workers), BULK):
        chunk = workers[start : start + BULK]
        try:
            results = h.comm.update_workers([worker_record(h, worker) for worker in chunk])
        except CommunicationError as exc:
            log.warning("worker updates not sent: %s", exc)
            return
        for worker, ok in zip(chunk, results, strict=False):
            if ok:
                # Only if nothing changed meanwhile (the monitor runs in the same process, but be exact).
                current = h.store.worker(worker.worker_id)
                if current is not None and current.status == worker.status:
                    h.store.worker_update(worker.worker_id, to_propagate=False)


# --- statistics ----------------------------------------------------------------------------------


def _send_statistics(h: Harvester) -> None:
    last = h.store.state_get(STATS_KEY)
    due = last is None or dt.datetime.strptime(last, TIME_FORMAT) < utcnow() - dt.timedelta(
        seconds=h.config.stats_interval
    )
    if not (due or h.report_stats_now):
        return
    statuses = sorted(LIVE - {W.PENDING})
    try:
        for queue in h.config.queues:
            h.comm.report_worker_statistics(queue, h.store.worker_stats(queue, statuses))
    except CommunicationError as exc:
        log.warning("worker statistics not sent: %s", exc)
        return
    h.report_stats_now = False
    h.store.state_set(STATS_KEY, utcnow().strftime(TIME_FORMAT))
