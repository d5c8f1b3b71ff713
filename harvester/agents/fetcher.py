"""JobFetcher (push modes): hold up to ``nQueueLimitJob`` jobs per queue that no worker runs yet.

Fetched jobs are stored before anything else happens to them; the submitter binds each to a new
worker. Fewer are fetched when the queue has no room for their workers (``maxWorkers``), so a job is
never held long without one.
"""

from __future__ import annotations

import logging

from harvester.communicator import CommunicationError
from harvester.context import Harvester
from harvester.states import LIVE
from harvester.states import JobStatus as J
from harvester.store import JobSpec

log = logging.getLogger(__name__)


def fetcher_run(h: Harvester) -> int:
    fetched = 0
    for queue in h.config.queues.values():
        if queue.pull:
            continue
        waiting = len(h.store.jobs(queue=queue.name, statuses=[J.FETCHED, J.SUBMITTED]))
        live = sum(n for status, n in h.store.worker_counts(queue.name).items() if status in LIVE)
        unbound = len(h.store.jobs(queue=queue.name, statuses=[J.FETCHED], unbound=True))
        wanted = min(queue.n_queue_limit_job - waiting, queue.max_workers - live - unbound)
        if wanted <= 0:
            continue
        try:
            jobs = h.comm.acquire_jobs(
                queue=queue.name,
                n_jobs=wanted,
                prod_source_label=queue.prod_source_label,
                node=h.hostname,
                job_type=queue.job_type,
                resource_type=queue.resource_type or None,
            )
        except CommunicationError as exc:
            log.warning("no jobs fetched for %s: %s", queue.name, exc)
            continue
        for job in jobs:
            spec = JobSpec(
                pandaid=int(job["PandaID"]),
                queue=queue.name,
                status=J.FETCHED,
                job_data=job,
                attempt_nr=int(job.get("attemptNr") or 0),
            )
            if h.store.job_insert(spec):
                fetched += 1
        if jobs:
            log.info("queue %s: fetched %s jobs", queue.name, len(jobs))
    return fetched
