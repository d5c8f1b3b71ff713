"""Harvester killed (SIGKILL) in the middle of a run and started again: no job lost, none run twice.

On both store back-ends: an SQLite file, and a PostgreSQL schema (where the restarted service must
also get the advisory lock the killed one held).
"""

import signal

import pytest

from apps.jobs.models import Job, JobStatusLog
from apps.workers.models import Worker
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
from tests.harvester.conftest import postgres_scratch_database, postgres_store_url  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(params=["sqlite", "postgresql"])
def harvester_db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "harvester" / "harvester.sqlite3")
    return request.getfixturevalue("postgres_store_url")


def test_a_harvester_killed_and_restarted_resumes_its_pilots_and_every_job_runs_once(site, tmp_path, harvester_db):
    config_path = write_config(tmp_path, site, harvester={"database": harvester_db}, maxWorkers=3, nQueueLimitWorker=3)
    first = HarvesterProcess(config_path, tmp_path / "harvester-1.log")
    second = HarvesterProcess(config_path, tmp_path / "harvester-2.log")
    jobs = [make_job(site, n_inputs=0, n_outputs=1, extra="sleep 2") for _ in range(9)]
    pandaids = [job.pandaid for job in jobs]
    try:
        first.start()
        wait_until(lambda: live_workers(config_path) > 0, timeout=60, what="pilots", output=first.log)
        wait_until(
            lambda: Job.objects.filter(pandaid__in=pandaids, jobstatus="running").exists(),
            timeout=120,
            what="a running job",
            output=first.log,
        )
        first.stop(signal.SIGKILL)  # no clean-up of any kind
        store = store_of(config_path)
        orphans = {w.worker_id for w in store.workers(statuses=["submitted", "running"])}
        store.close()
        assert orphans  # pilots kept running without their Harvester

        second.start()
        run_until_jobs_final(pandaids, timeout=400, log=lambda: first.log() + second.log())
        wait_until(lambda: live_workers(config_path) == 0, timeout=120, what="pilots ending", output=second.log)
    finally:
        second.stop()
        kill_leftover_workers(config_path)

    assert set(Job.objects.filter(pandaid__in=pandaids).values_list("jobstatus", flat=True)) == {"finished"}
    for pandaid in pandaids:  # dispatched exactly once each
        assert JobStatusLog.objects.filter(pandaid=pandaid, oldstatus="activated", jobstatus="sent").count() == 1
    # the restarted Harvester followed the pilots of the first one to their end
    store = store_of(config_path)
    statuses = {w.worker_id: w.status for w in store.workers()}
    store.close()
    assert all(statuses[worker_id] == "finished" for worker_id in orphans), statuses
    assert len(statuses) == len(set(statuses))  # worker IDs never reused
    wait_until(
        lambda: (
            set(Worker.objects.filter(harvesterid=HARVESTER_ID, workerid__in=orphans).values_list("status", flat=True))
            == {"finished"}
        ),
        timeout=60,
        what="the orphans reported finished",
        output=second.log,
    )
