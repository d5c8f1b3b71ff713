"""Harvester in PULL mode on a real single-node Slurm: pilots run as batch jobs against the live server."""

import pytest

from apps.jobs.models import Job
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
from tests.harvester.slurm_cluster import MISSING, SKIP_REASON, start_slurm

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON or "slurm"),
]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    yield cluster
    cluster.stop()


def slurm_harvester(tmp_path, site, slurm, cap):
    config_path = write_config(
        tmp_path,
        site,
        plugin={"name": "slurm", "partition": "debug", "slurm_conf": str(slurm.conf)},
        maxWorkers=cap,
        nQueueLimitWorker=cap,
        maxNewWorkersPerCycle=cap,
    )
    return config_path, HarvesterProcess(config_path, tmp_path / "harvester.log")


def _run(tmp_path, site, slurm, *, cap, n_jobs, timeout):
    config_path, harvester = slurm_harvester(tmp_path, site, slurm, cap)
    jobs = [make_job(site, n_inputs=1, n_outputs=1) for _ in range(n_jobs)]
    pandaids = [job.pandaid for job in jobs]
    most_live = []
    try:
        harvester.start()
        run_until_jobs_final(
            pandaids,
            timeout=timeout,
            on_poll=lambda: most_live.append(live_workers(config_path)),
            log=lambda: harvester.log() + slurm.log("slurmctld.log")[-3000:],
        )
        wait_until(
            lambda: live_workers(config_path) == 0, timeout=120, what="the batch jobs to end", output=harvester.log
        )
    finally:
        harvester.stop()
        kill_leftover_workers(config_path)
    return config_path, pandaids, most_live


def test_jobs_run_in_pilots_submitted_to_slurm(slurm, site, tmp_path):
    config_path, pandaids, most_live = _run(tmp_path, site, slurm, cap=1, n_jobs=2, timeout=300)

    assert set(Job.objects.filter(pandaid__in=pandaids).values_list("jobstatus", flat=True)) == {"finished"}
    assert max(most_live) <= 1
    store = store_of(config_path)
    workers = store.workers()
    store.close()
    assert workers and {w.status for w in workers} == {"finished"}
    assert all(w.batch_id and w.batch_id.isdigit() for w in workers)  # Slurm job IDs
    assert {w.native_status for w in workers} == {"COMPLETED"}
    server = dict(Worker.objects.filter(harvesterid=HARVESTER_ID).values_list("workerid", "batchid"))
    assert server == {w.worker_id: w.batch_id for w in workers}
    assert set(JobWorker.objects.filter(harvesterid=HARVESTER_ID).values_list("pandaid", flat=True)) == set(pandaids)


@pytest.mark.postgres
def test_many_jobs_on_slurm_never_take_more_batch_jobs_than_the_cap(slurm, site, tmp_path):
    _, pandaids, most_live = _run(tmp_path, site, slurm, cap=3, n_jobs=12, timeout=400)

    assert set(Job.objects.filter(pandaid__in=pandaids).values_list("jobstatus", flat=True)) == {"finished"}
    assert 0 < max(most_live) <= 3
