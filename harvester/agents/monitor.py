"""Monitor: follow every submitted worker through its plugin and the files of its access point.

A status change is recorded and marked for the propagator. The jobs a push worker holds follow
it: ``running`` with the worker; when the worker ends, a true pilot has reported its job itself
(the server fails a job still running under an ended worker, syncLevel 1), while on a shared
filesystem Harvester queues the pilot's final update, with the outputs the pilot transferred.
"""

from __future__ import annotations

import logging
import os

from harvester import jobupdates, messenger
from harvester.context import Harvester
from harvester.states import FINAL, HELD
from harvester.states import JobStatus as J
from harvester.states import WorkerStatus as W
from harvester.store import WorkSpec, utcnow

log = logging.getLogger(__name__)

CHECKED = (W.SUBMITTED, W.READY, W.RUNNING, W.IDLE)
_WATCHED_FIELDS = ("native_status", "native_exit_code", "error_code", "start_time", "end_time", "batch_id")


def monitor_run(h: Harvester) -> int:
    """Check every submitted worker; returns the number whose status changed."""
    changed = 0
    for queue in h.config.queues.values():
        workers = h.store.workers(queue=queue.name, statuses=CHECKED, with_jobs=True)
        if workers:
            changed += _check_queue(h, queue.name, workers)
        if not queue.pull:
            _catch_up(h, queue.name)
    return changed


def _check_queue(h: Harvester, queue_name: str, workers: list[WorkSpec]) -> int:
    queue = h.queue(queue_name)
    try:
        ok, results = h.plugins[queue.name].check_workers(workers)
    except Exception:
        log.exception("monitor: check_workers failed for %s", queue.name)
        return 0
    if not ok:
        log.warning("monitor: the %s plugin could not check the workers of %s", queue.plugin, queue.name)
        return 0
    changed = 0
    for worker, (status, diag) in zip(workers, results, strict=True):
        changed += _record(h, worker, status, diag)
        if queue.shared_fs:
            _read_messenger(h, worker)
    return changed


def _catch_up(h: Harvester, queue: str) -> None:
    """Jobs still held by workers that already ended (a Harvester stopped between the two records)."""
    for job in h.store.jobs(queue=queue, statuses=HELD):
        if job.worker_id is None or job.server_status == "final":
            continue
        worker = h.store.worker(job.worker_id)
        if worker is None or worker.status not in FINAL:
            continue
        if h.queue(queue).shared_fs:
            _read_messenger(h, worker)
        else:
            h.store.job_update(job.pandaid, status=J.DONE, pending_update=None)


def _record(h: Harvester, worker: WorkSpec, status: str, diag: str) -> int:
    stored = h.store.worker(worker.worker_id)
    if stored is None:
        return 0
    changes = {
        field: getattr(worker, field) for field in _WATCHED_FIELDS if getattr(worker, field) != getattr(stored, field)
    }
    if status == W.RUNNING and worker.start_time is None:
        changes["start_time"] = utcnow()
    if status in FINAL and worker.end_time is None:
        changes["end_time"] = utcnow()
    moved = status != stored.status
    if moved:
        changes["status"] = status
        changes["to_propagate"] = True
        if diag:
            changes["diag"] = diag[:500]
        log.info("worker %s (%s): %s -> %s %s", worker.worker_id, worker.queue, stored.status, status, diag)
    if changes:
        h.store.worker_update(worker.worker_id, **changes)
    if moved:
        _follow_jobs(h, worker, status)
    return int(moved)


def _follow_jobs(h: Harvester, worker: WorkSpec, status: str) -> None:
    queue = h.queue(worker.queue)
    for job in h.store.jobs(worker_id=worker.worker_id, statuses=HELD):
        if status == W.RUNNING and job.status == J.SUBMITTED:
            h.store.job_update(job.pandaid, status=J.RUNNING)
        elif status in FINAL:
            if queue.shared_fs:
                h.store.job_update(job.pandaid, status=J.TO_TRANSFER)
            else:
                # A true pilot reports its job; a job it never reached is failed by the server.
                h.store.job_update(job.pandaid, status=J.DONE, pending_update=None)


def _read_messenger(h: Harvester, worker: WorkSpec) -> None:
    """Shared filesystem: turn the pilot's files into job updates for the propagator."""
    stored = h.store.worker(worker.worker_id)
    attributes = messenger.work_attributes(worker.access_point)
    ended = stored is not None and stored.status in FINAL
    # The final attributes come before the outputs list: wait until the pilot says it is done.
    done = ended or messenger.kill_requested(worker.access_point)
    for job in h.store.jobs(worker_id=worker.worker_id, statuses=HELD):
        if job.server_status == "final":
            continue
        update = jobupdates.update_from_attributes(job.pandaid, attributes) if attributes else None
        if update is not None and update["job_status"] in jobupdates.FINAL_STATES and done:
            staged = (messenger.files_to_stage_out(worker.access_point) or {}).get(str(job.pandaid), [])
            update["job_output_report"] = jobupdates.output_report(job.job_data, staged)
            report = messenger.job_report_text(worker.access_point)
            if report:
                update["meta_data"] = report
            messenger.acknowledge_stage_out(worker.access_point)
            h.store.job_update(job.pandaid, status=J.TO_TRANSFER, pending_update=update, server_status="final")
        elif ended:
            lost = jobupdates.worker_lost_update(
                job.pandaid,
                job.attempt_nr,
                worker_status=stored.status,
                diag=stored.diag,
                exit_code=stored.native_exit_code,
            )
            h.store.job_update(job.pandaid, status=J.TO_TRANSFER, pending_update=lost, server_status="final")
        elif (
            update is not None
            and update["job_status"] not in jobupdates.FINAL_STATES
            and _attributes_changed(h, job.pandaid, worker.access_point)
        ):
            h.store.job_update(job.pandaid, pending_update=update, server_status=update["job_status"])


def _attributes_changed(h: Harvester, pandaid: int, access_point: str) -> bool:
    path = os.path.join(access_point, messenger.WORKER_ATTRIBUTES)
    try:
        stamp = str(os.stat(path).st_mtime_ns)
    except OSError:
        return False
    key = f"attributes_seen:{pandaid}"
    if h.store.state_get(key) == stamp:
        return False
    h.store.state_set(key, stamp)
    return True
