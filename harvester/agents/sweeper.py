"""Sweeper: kill the workers that must stop and clean up after the ones that ended.

Kills come from server commands, from the server's ``tobekilled`` for a push job, and from the
queue's time limits (``maxQueuedTime`` in the batch system, ``maxWalltime`` running), and — with
``kill_workers_on_stop`` — from the service stopping (:func:`sweeper_kill_all`). Ended workers
whose last state reached the server are swept (access point removed) after ``keep_finished_hours``
(finished) or ``keep_failed_hours`` (failed, cancelled, missed), and the jobs they held forgotten.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor

from harvester.context import Harvester
from harvester.states import FINAL, HELD, LIVE, QUEUED
from harvester.states import WorkerStatus as W
from harvester.store import WorkSpec, utcnow

log = logging.getLogger(__name__)


def sweeper_run(h: Harvester) -> None:
    _request_overtime_kills(h)
    _kill(h)
    _clean(h)


def _request_overtime_kills(h: Harvester) -> None:
    now = utcnow()
    for queue in h.config.queues.values():
        if not (queue.max_queued_time or queue.max_walltime):
            continue
        for worker in h.store.workers(queue=queue.name, statuses=LIVE, kill_requested=False):
            queued = worker.status in QUEUED
            queued_for = now - worker.submit_time if queued and worker.submit_time else None
            running_for = now - worker.start_time if not queued and worker.start_time else None
            if queue.max_queued_time and queued_for and queued_for > dt.timedelta(seconds=queue.max_queued_time):
                log.info("worker %s queued for too long: killing it", worker.worker_id)
                h.store.worker_update(worker.worker_id, kill_requested=True, diag="queued for too long")
            if queue.max_walltime and running_for and running_for > dt.timedelta(seconds=queue.max_walltime):
                log.info("worker %s ran for too long: killing it", worker.worker_id)
                h.store.worker_update(worker.worker_id, kill_requested=True, diag="reached maxWalltime")


def _kill(h: Harvester) -> None:
    for worker in h.store.workers(statuses=LIVE, kill_requested=True):
        _killed(h, worker, *_kill_one(h, worker))


def sweeper_kill_all(h: Harvester, *, reason: str) -> int:
    """Kill every live worker at once; returns how many were ended.

    The plugin calls run in parallel threads (they only signal processes or run batch commands; the
    store is written from this thread), so stopping takes one kill grace period, not one per worker.
    """
    workers = h.store.workers(statuses=LIVE)
    for worker in workers:
        h.store.worker_update(worker.worker_id, kill_requested=True)
        worker.diag = worker.diag or reason
    if not workers:
        return 0
    with ThreadPoolExecutor(max_workers=min(len(workers), 32), thread_name_prefix="kill") as pool:
        outcomes = list(pool.map(lambda worker: _kill_one(h, worker), workers))
    return sum(_killed(h, worker, ok, diag) for worker, (ok, diag) in zip(workers, outcomes, strict=True))


def _kill_one(h: Harvester, worker: WorkSpec) -> tuple[bool, str]:
    if worker.status == W.PENDING and not worker.batch_id and not h.plugin(worker).find_worker(worker):
        return True, "killed before submission"
    return h.plugin(worker).kill_worker(worker)


def _killed(h: Harvester, worker: WorkSpec, ok: bool, diag: str) -> bool:
    if not ok:
        log.warning("worker %s: kill failed: %s", worker.worker_id, diag)
        return False
    log.info("worker %s killed (%s)", worker.worker_id, diag)
    h.store.worker_update(
        worker.worker_id,
        status=W.CANCELLED,
        end_time=worker.end_time or utcnow(),
        diag=(worker.diag or f"killed by Harvester: {diag}")[:500],
        to_propagate=True,
    )
    return True


def _keep_for(h: Harvester, worker: WorkSpec) -> dt.timedelta:
    hours = h.config.keep_finished_hours if worker.status == W.FINISHED else h.config.keep_failed_hours
    return dt.timedelta(hours=hours)


def _clean(h: Harvester) -> None:
    now = utcnow()
    for worker in h.store.workers(statuses=FINAL, swept=False, to_propagate=False, with_jobs=True):
        ended = worker.end_time or worker.modification_time
        if now - ended < _keep_for(h, worker):
            continue
        if h.store.jobs(worker_id=worker.worker_id, statuses=HELD):
            continue  # a job still has something to report
        ok, diag = h.plugin(worker).sweep_worker(worker)
        if not ok:
            log.warning("worker %s: sweep failed: %s", worker.worker_id, diag)
            continue
        with h.store.transaction():
            h.store.worker_update(worker.worker_id, swept=True)
            for pandaid in worker.pandaids:
                h.store.job_delete(pandaid)
                h.store.state_delete(f"attributes_seen:{pandaid}")
