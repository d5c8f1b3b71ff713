"""Harvester in PUSH one-to-one mode: it fetches each job and ships it with its worker's pilot."""

import json
from pathlib import Path

import pytest

from apps.jobs.models import Job, JobStatusLog
from apps.workers.models import JobWorker, Worker
from tests.e2e.harvester_support import (
    HARVESTER_ID,
    HarvesterProcess,
    kill_leftover_workers,
    live_workers,
    run_until_jobs_final,
    store_of,
    write_config,
)
from tests.e2e.pilot_support import make_job, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_push_jobs_are_fetched_by_harvester_and_run_by_the_pilot_of_their_own_worker(site, tmp_path):
    config_path = write_config(tmp_path, site, mode="PUSH", maxWorkers=1, nQueueLimitWorker=1, nQueueLimitJob=1)
    harvester = HarvesterProcess(config_path, tmp_path / "harvester.log")
    jobs = [make_job(site, n_inputs=1, n_outputs=1) for _ in range(2)]
    pandaids = [job.pandaid for job in jobs]
    try:
        harvester.start()
        run_until_jobs_final(pandaids, timeout=300, log=harvester.log)
        wait_until(lambda: live_workers(config_path) == 0, timeout=120, what="workers to end", output=harvester.log)
        store = store_of(config_path)
        workers = store.workers(with_jobs=True)
        store.close()
    finally:
        harvester.stop()
        kill_leftover_workers(config_path)

    assert set(Job.objects.filter(pandaid__in=pandaids).values_list("jobstatus", flat=True)) == {"finished"}
    # one job per worker, each dispatched once, to Harvester (scheduler harvester-<id>)
    assert sorted(pandaid for w in workers for pandaid in w.pandaids) == sorted(pandaids)
    assert all(len(w.pandaids) == 1 for w in workers)
    for worker in workers:  # the pilot consumed the job Harvester placed (pilot-harvester.md §12)
        assert not (Path(worker.access_point) / "pandaJobData.out").exists()
        assert json.loads((Path(worker.access_point) / "worker_pandaids.json").read_text()) == worker.pandaids
    for job in Job.objects.filter(pandaid__in=pandaids):
        assert JobStatusLog.objects.filter(pandaid=job.pandaid, jobstatus="sent").count() == 1
        assert JobStatusLog.objects.filter(pandaid=job.pandaid, oldstatus="sent", jobstatus="starting").exists()
    relations = set(JobWorker.objects.filter(harvesterid=HARVESTER_ID).values_list("workerid", "pandaid"))
    assert relations == {(w.worker_id, w.pandaids[0]) for w in workers}
    assert set(Worker.objects.filter(harvesterid=HARVESTER_ID).values_list("status", flat=True)) == {"finished"}
