"""Submitter: make new workers for each queue and submit them through the queue's plugin.

A worker is recorded (``pending``, with its push job bound to it) before the plugin submits it, so
a Harvester stopped in between finds it at the next start: the plugin is asked whether it knows the
worker (``find_worker``) and the worker is submitted again only when it does not.
"""

from __future__ import annotations

import logging
import os

from harvester import messenger
from harvester.agents.adjuster import new_workers_count
from harvester.communicator import CommunicationError
from harvester.config import QueueConfig
from harvester.context import Harvester
from harvester.states import JobStatus as J
from harvester.states import WorkerStatus as W
from harvester.store import JobSpec, WorkSpec, utcnow

log = logging.getLogger(__name__)

COMMANDED_KEY = "n_workers:{queue}"


def submitter_run(h: Harvester, *, job_stats: dict[str, dict[str, int]] | None = None) -> int:
    """Submit what every queue needs; returns the number of workers submitted."""
    if job_stats is None and any(queue.pull for queue in h.config.queues.values()):
        try:
            job_stats = h.comm.active_job_stats()
        except CommunicationError as exc:
            log.warning("no job statistics this cycle: %s", exc)
            job_stats = {}
    submitted = 0
    for queue in h.config.queues.values():
        try:
            submitted += _submit_queue(h, queue, job_stats or {})
        except Exception:
            log.exception("submitter failed for %s", queue.name)
    return submitted


def _submit_queue(h: Harvester, queue: QueueConfig, job_stats: dict[str, dict[str, int]]) -> int:
    retry = h.store.workers(queue=queue.name, statuses=[W.PENDING], with_jobs=True)
    for worker in retry:
        if h.plugin(worker).find_worker(worker):
            log.info("worker %s was submitted before a restart: batch ID %s", worker.worker_id, worker.batch_id)
            h.store.worker_update(
                worker.worker_id,
                status=W.SUBMITTED,
                batch_id=worker.batch_id,
                plugin_data=worker.plugin_data,
                submit_time=worker.submit_time or utcnow(),
                to_propagate=True,
            )
    retry = [worker for worker in retry if not worker.batch_id]
    commanded_key = COMMANDED_KEY.format(queue=queue.name)
    commanded = h.store.state_get(commanded_key)
    count = new_workers_count(
        queue,
        worker_counts=h.store.worker_counts(queue.name),
        activated_jobs=job_stats.get(queue.name, {}).get("activated", 0),
        unbound_jobs=len(h.store.jobs(queue=queue.name, statuses=[J.FETCHED], unbound=True)),
        commanded=int(commanded) if commanded is not None else None,
    )
    new = _make_workers(h, queue, count) if count else []
    if commanded is not None and new:
        h.store.state_set(commanded_key, str(max(0, int(commanded) - len(new))))
    workers = retry + new
    if not workers:
        return 0
    _feed(h, queue, workers)
    results = h.plugins[queue.name].submit_workers(workers)
    submitted = 0
    for worker, (ok, diag) in zip(workers, results, strict=True):
        if ok:
            submitted += 1
            h.store.worker_update(
                worker.worker_id,
                status=W.SUBMITTED,
                batch_id=worker.batch_id,
                plugin_data=worker.plugin_data,
                submit_time=worker.submit_time or utcnow(),
                submission_attempts=worker.submission_attempts + 1,
                to_propagate=True,
            )
            log.info("queue %s: submitted worker %s (batch ID %s)", queue.name, worker.worker_id, worker.batch_id)
        else:
            _submission_failed(h, queue, worker, diag)
    return submitted


def _make_workers(h: Harvester, queue: QueueConfig, count: int) -> list[WorkSpec]:
    first = h.first_worker_id()
    if first is None:
        return []
    jobs: list[JobSpec] = []
    if not queue.pull:
        jobs = h.store.jobs(queue=queue.name, statuses=[J.FETCHED], unbound=True)[:count]
        count = len(jobs)
    workers = []
    for worker_id, job in zip(h.store.worker_ids_allocate(count, at_least=first), jobs or [None] * count, strict=True):
        worker = WorkSpec(
            worker_id=worker_id,
            queue=queue.name,
            status=W.PENDING,
            mode=queue.mode,
            plugin=queue.plugin,
            access_point=h.access_point(worker_id),
            job_type=queue.job_type,
            resource_type=queue.resource_type,
            n_core=queue.n_core,
        )
        with h.store.transaction():
            h.store.worker_insert(worker)
            if job is not None:
                h.store.job_update(job.pandaid, worker_id=worker_id, status=J.SUBMITTED)
                worker.pandaids = [job.pandaid]
        workers.append(worker)
    return workers


def _feed(h: Harvester, queue: QueueConfig, workers: list[WorkSpec]) -> None:
    """Put the bound jobs (and, without server access, the documents) into the access points."""
    if queue.pull:
        return
    documents = _documents(h, queue) if queue.shared_fs else (None, None)
    for worker in workers:
        jobs = [job.job_data for job in h.store.jobs(worker_id=worker.worker_id)]
        if not jobs:
            continue
        if queue.shared_fs:
            messenger.feed_jobs_shared_fs(worker.access_point, jobs, queuedata=documents[0], storagedata=documents[1])
            for job in jobs:
                _place_transformation(h, worker.access_point, str(job.get("transformation") or ""))
        else:
            messenger.feed_job_push(worker.access_point, jobs[0])


def _place_transformation(h: Harvester, access_point: str, url: str) -> None:
    """The pilot copies ``<HARVESTER_WORKDIR>/<name>`` instead of downloading the transformation."""
    if not url.startswith(("http://", "https://")):
        return
    name = url.rstrip("/").rsplit("/", 1)[-1]
    path = os.path.join(access_point, name)
    if not name or os.path.exists(path):
        return
    try:
        data = h.comm.download(url)
    except CommunicationError as exc:
        log.warning("cannot fetch the transformation %s: %s", url, exc)
        return
    with open(path, "wb") as handle:
        handle.write(data)


def _documents(h: Harvester, queue: QueueConfig) -> tuple[dict | None, dict | None]:
    try:
        return h.comm.document(f"cache/schedconfig/{queue.name}.all.json"), h.comm.document("cache/ddmendpoints.json")
    except CommunicationError as exc:
        log.warning("cannot fetch the documents of %s for the pilots: %s", queue.name, exc)
        return None, None


def _submission_failed(h: Harvester, queue: QueueConfig, worker: WorkSpec, diag: str) -> None:
    attempts = worker.submission_attempts + 1
    log.warning("queue %s: worker %s not submitted (attempt %s): %s", queue.name, worker.worker_id, attempts, diag)
    if attempts < queue.max_submission_attempts:
        h.store.worker_update(worker.worker_id, submission_attempts=attempts, diag=diag[:500])
        return
    with h.store.transaction():
        h.store.worker_update(
            worker.worker_id,
            status=W.FAILED,
            submission_attempts=attempts,
            diag=f"submission failed: {diag}"[:500],
            end_time=utcnow(),
            to_propagate=True,
        )
        # Its job was never started: another worker takes it.
        for job in h.store.jobs(worker_id=worker.worker_id):
            h.store.job_update(job.pandaid, worker_id=None, status=J.FETCHED)
