"""Harvester in PULL mode with the local plugin: real pilots on this machine, against the live server."""

import pytest
from django.conf import settings

from apps.jobs.models import Job
from apps.workers.models import HarvesterInstance, JobWorker, Worker, WorkerStats
from tests.e2e.harvester_support import (
    HARVESTER_ID,
    HarvesterProcess,
    kill_leftover_workers,
    live_workers,
    run_until_jobs_final,
    store_of,
    write_config,
)
from tests.e2e.pilot_support import install_trf, make_job, make_site

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CAP = 3
N_JOBS = int(__import__("os").environ.get("HARVESTER_E2E_JOBS", "30"))


@pytest.fixture
def site(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    # timefloor (minutes): a pilot keeps asking for jobs for a while, as multi-job pilots do
    return make_site(tmp_path, live_server.url, timefloor=1)


@pytest.fixture
def cap():
    return CAP


@pytest.fixture
def harvester(tmp_path, site, cap):
    config_path = write_config(tmp_path, site, maxWorkers=cap, nQueueLimitWorker=cap)
    process = HarvesterProcess(config_path, tmp_path / "harvester.log")
    yield process
    process.stop()
    kill_leftover_workers(config_path)


# SQLite's in-memory test database is shared by the live server's threads and refuses concurrent
# writers ("database table is locked"), so several pilots at once need PostgreSQL.
@pytest.mark.postgres
def test_thirty_jobs_run_in_pilots_the_harvester_starts_and_never_more_pilots_than_the_cap(site, harvester):
    jobs = [make_job(site, n_inputs=1, n_outputs=1) for _ in range(N_JOBS)]
    pandaids = [job.pandaid for job in jobs]
    most_live, stats_seen = [], []

    def observe():
        most_live.append(live_workers(harvester.config_path))
        stats_seen.append(WorkerStats.objects.filter(harvesterid=HARVESTER_ID, computingsite=site.queue).exists())

    harvester.start()
    run_until_jobs_final(pandaids, timeout=400, on_poll=observe, log=harvester.log)

    assert set(Job.objects.filter(pandaid__in=pandaids).values_list("jobstatus", flat=True)) == {"finished"}
    assert max(most_live) <= CAP
    assert max(most_live) > 0
    # every job ran in a worker of this Harvester, recorded by getJob (harvester_id/worker_id from the pilot)
    related = set(JobWorker.objects.filter(harvesterid=HARVESTER_ID).values_list("pandaid", flat=True))
    assert related == set(pandaids)
    # the server heard about the instance and its workers
    assert HarvesterInstance.objects.filter(harvester_id=HARVESTER_ID).exists()
    assert Worker.objects.filter(harvesterid=HARVESTER_ID).exists()
    assert any(stats_seen)  # report_worker_statistics while pilots ran


@pytest.mark.parametrize("cap", [1])
def test_the_workers_end_finished_and_the_server_knows_it(site, harvester):
    jobs = [make_job(site, n_inputs=0, n_outputs=1) for _ in range(2)]
    harvester.start()
    run_until_jobs_final([job.pandaid for job in jobs], timeout=200, log=harvester.log)

    def all_workers_final_on_the_server():
        store = store_of(harvester.config_path)
        try:
            ours = {w.worker_id: w.status for w in store.workers()}
        finally:
            store.close()
        theirs = dict(Worker.objects.filter(harvesterid=HARVESTER_ID).values_list("workerid", "status"))
        return ours and all(status == "finished" for status in ours.values()) and theirs == ours

    from tests.e2e.pilot_support import wait_until

    wait_until(
        all_workers_final_on_the_server, timeout=120, what="workers finished on both sides", output=harvester.log
    )
    for worker in Worker.objects.filter(harvesterid=HARVESTER_ID):
        assert worker.pilotstatus == "finished"  # the pilot's own updateWorkerPilotStatus
        assert worker.batchid and worker.submittime and worker.endtime
