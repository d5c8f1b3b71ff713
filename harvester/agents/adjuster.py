"""WorkerAdjuster: how many new workers a queue gets this cycle (pilot-harvester.md §10.1).

The queue's caps always hold: ``maxWorkers`` live workers, ``nQueueLimitWorker`` queued ones and
``maxNewWorkersPerCycle`` new ones per cycle. Inside them the demand is

* pull: the activated jobs at the queue not yet covered by a queued worker (or ``nNewWorkers`` when
  set, or, with ``runMode: slave``, the number the server commanded with SET_N_WORKERS_JOBTYPE);
* push: one worker per held job that has no worker yet.
"""

from __future__ import annotations

from harvester.config import QueueConfig
from harvester.states import LIVE, QUEUED


def new_workers_count(
    queue: QueueConfig,
    *,
    worker_counts: dict[str, int],
    activated_jobs: int = 0,
    unbound_jobs: int = 0,
    commanded: int | None = None,
) -> int:
    live = sum(worker_counts.get(status, 0) for status in LIVE)
    queued = sum(worker_counts.get(status, 0) for status in QUEUED)
    room = min(
        queue.max_workers - live,
        queue.n_queue_limit_worker - queued,
        queue.max_new_workers_per_cycle,
    )
    if room <= 0:
        return 0
    if not queue.pull:
        wanted = unbound_jobs
    elif queue.run_mode == "slave":
        wanted = commanded or 0
    elif queue.n_new_workers > 0:
        wanted = queue.n_new_workers
    else:
        wanted = activated_jobs - queued
    return max(0, min(wanted, room))
