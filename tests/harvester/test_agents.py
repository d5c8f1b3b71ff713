"""Harvester's agents, in process, against the real server (live_server), with the stand-in pilot.

The store follows the run's database (``service_store_database``: PostgreSQL with DATABASE_URL, else SQLite).
"""

import datetime as dt
from pathlib import Path

import pytest

from apps.jobs.models import Job
from apps.jobs.services.kill import job_kill
from apps.workers.models import HarvesterCommand, HarvesterInstance, Worker, WorkerStats
from apps.workers.services.commands import harvester_command_add
from harvester.agents.commands import commands_run
from harvester.agents.credmanager import credmanager_run
from harvester.agents.fetcher import fetcher_run
from harvester.agents.monitor import monitor_run
from harvester.agents.propagator import propagator_run, worker_record
from harvester.agents.submitter import submitter_run
from harvester.agents.sweeper import sweeper_run
from harvester.context import Harvester
from harvester.store import Store, WorkSpec, utcnow
from tests.factories import JobFactory, PandaQueueFactory, production_user, token_for
from tests.harvester.conftest import harvester_config, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HID = "unit-harvester"


@pytest.fixture
def make_harvester(live_server, tmp_path, service_store_database):
    token = tmp_path / "token"
    token.write_text(token_for(production_user()))
    made = []

    def make(**queue):
        env = queue.pop("pilot_env", {"STAND_IN_SLEEP": "600"})
        config = harvester_config(
            tmp_path,
            pilot_env=env,
            harvester={"server_url": live_server.url, "token_file": str(token), "database": service_store_database},
            **queue,
        )
        harvester = Harvester.from_config(config)
        made.append(harvester)
        return harvester

    yield make
    for harvester in made:
        for worker in harvester.store.workers():
            harvester.plugin(worker).kill_worker(worker)
        harvester.close()


def one_worker(h) -> WorkSpec:
    assert submitter_run(h, job_stats={}) == 1
    [worker] = h.store.workers()
    return worker


def test_a_worker_reaches_the_server_with_its_record(make_harvester):
    h = make_harvester(nNewWorkers=1, maxWorkers=1, jobType="managed", resourceType="SCORE")
    worker = one_worker(h)
    monitor_run(h)
    propagator_run(h)

    row = Worker.objects.get(harvesterid=HID, workerid=worker.worker_id)
    assert (row.status, row.batchid, row.computingsite, row.resourcetype) == ("running", worker.batch_id, "Q1", "SCORE")
    assert row.submittime is not None and row.starttime is not None and row.synclevel == 0
    assert h.store.worker(worker.worker_id).to_propagate is False
    assert WorkerStats.objects.get(harvesterid=HID, computingsite="Q1").status == "running"


def test_new_worker_ids_follow_the_servers_largest(make_harvester):
    Worker.objects.create(harvesterid=HID, workerid=40)
    h = make_harvester(nNewWorkers=1, maxWorkers=1)

    assert one_worker(h).worker_id == 41


def test_the_heartbeat_records_the_instance_and_a_kill_command_stops_the_workers(make_harvester):
    h = make_harvester(nNewWorkers=1, maxWorkers=1)
    worker = one_worker(h)
    monitor_run(h)
    harvester_command_add(
        harvester_id=HID,
        command="KILL_WORKERS",
        params={"status": ["running"], "computingSite": ["Q1"], "computingElement": "ALL", "submissionHost": []},
    )

    commands_run(h, started=utcnow())
    assert h.store.worker(worker.worker_id).kill_requested
    sweeper_run(h)
    propagator_run(h)

    assert HarvesterInstance.objects.get(harvester_id=HID).sw_version == "0.1.0"
    assert HarvesterCommand.objects.get(harvester_id=HID).status == "acknowledged"
    assert h.store.worker(worker.worker_id).status == "cancelled"
    row = Worker.objects.get(harvesterid=HID, workerid=worker.worker_id)
    assert (row.status, row.synclevel) == ("cancelled", 1)


def test_a_kill_command_for_other_queues_or_hosts_kills_nothing(make_harvester):
    h = make_harvester(nNewWorkers=1, maxWorkers=1)
    worker = one_worker(h)
    harvester_command_add(harvester_id=HID, command="KILL_WORKERS", params={"computingSite": ["OTHER"]})
    commands_run(h, started=utcnow())
    harvester_command_add(harvester_id=HID, command="SYNC_WORKERS_KILL", params={"workerIDs": [worker.worker_id + 1]})
    commands_run(h, started=utcnow())

    assert not h.store.worker(worker.worker_id).kill_requested


def test_a_slave_queue_submits_what_the_server_commands(make_harvester):
    h = make_harvester(runMode="slave", maxWorkers=5, nQueueLimitWorker=5, jobType="managed", resourceType="SCORE")
    assert submitter_run(h, job_stats={"Q1": {"activated": 50}}) == 0
    harvester_command_add(harvester_id=HID, command="SET_N_WORKERS_JOBTYPE:Q1", params={"managed": {"SCORE": 2}})

    commands_run(h, started=utcnow())

    assert submitter_run(h, job_stats={}) == 2
    assert submitter_run(h, job_stats={}) == 0  # the command is used up


def test_a_pending_worker_of_a_stopped_harvester_is_submitted_again(make_harvester):
    h = make_harvester(maxWorkers=1)
    h.store.worker_insert(
        WorkSpec(worker_id=3, queue="Q1", status="pending", mode="PULL", plugin="local", access_point=h.access_point(3))
    )

    assert submitter_run(h, job_stats={}) == 1
    assert h.store.worker(3).status == "submitted" and h.store.worker(3).batch_id


def test_a_worker_that_cannot_be_submitted_fails_after_the_allowed_attempts(make_harvester, tmp_path):
    h = make_harvester(nNewWorkers=1, maxWorkers=1, maxSubmissionAttempts=2)
    h.plugins["Q1"].shell = str(tmp_path / "no-shell")

    submitter_run(h, job_stats={})
    assert h.store.workers()[0].status == "pending"
    submitter_run(h, job_stats={})
    [worker] = h.store.workers()
    assert worker.status == "failed" and "cannot start" in worker.diag
    propagator_run(h)
    assert Worker.objects.get(harvesterid=HID, workerid=worker.worker_id).status == "failed"


def test_ended_workers_are_swept_after_the_keep_period(make_harvester):
    h = make_harvester(nNewWorkers=1, maxWorkers=1, pilot_env={})
    worker = one_worker(h)
    wait_for(lambda: monitor_run(h) and h.store.worker(worker.worker_id).status == "finished", what="the end")
    propagator_run(h)
    sweeper_run(h)
    assert Path(worker.access_point).exists()  # kept for an hour

    h.store.worker_update(worker.worker_id, end_time=utcnow() - dt.timedelta(hours=2))
    sweeper_run(h)

    assert h.store.worker(worker.worker_id).swept and not Path(worker.access_point).exists()


def test_push_jobs_are_fetched_bound_reported_starting_and_killed_when_the_server_says_so(make_harvester):
    PandaQueueFactory(name="Q1")
    job = JobFactory(computingsite="Q1", jobstatus="activated", prodsourcelabel="managed")
    h = make_harvester(mode="PUSH", maxWorkers=2, nQueueLimitJob=2, pilot_env={"STAND_IN_SLEEP": "600"})

    assert fetcher_run(h) == 1
    assert submitter_run(h) == 1
    [worker] = h.store.workers(with_jobs=True)
    assert worker.pandaids == [job.pandaid]
    assert f'"PandaID": {job.pandaid}' in (Path(worker.access_point) / "pandaJobData.out").read_text()
    propagator_run(h)  # the job is "starting" while its worker is queued: the server hears it
    assert Job.objects.get(pk=job.pk).jobstatus == "starting"
    assert worker_record(h, h.store.worker(worker.worker_id))["pandaid_list"] == [job.pandaid]

    job_kill(Job.objects.get(pk=job.pk), code=9, killer="test")  # a production job: gone at once
    h.store.job_update(job.pandaid, pending_update={"job_id": job.pandaid, "job_status": "running"})
    propagator_run(h)

    assert h.store.worker(worker.worker_id).kill_requested
    sweeper_run(h)
    assert h.store.worker(worker.worker_id).status == "cancelled"


def test_nothing_is_lost_while_the_server_is_unreachable(make_harvester):
    h = make_harvester(nNewWorkers=1, maxWorkers=1)
    worker = one_worker(h)
    h.comm.base = "http://127.0.0.1:9/api/v1"  # nothing listens there

    propagator_run(h)
    commands_run(h, started=utcnow())

    assert h.store.worker(worker.worker_id).to_propagate is True
    assert not Worker.objects.exists()
    reopened = Store(h.config.database)  # what a restarted Harvester finds: still owed to the server
    assert reopened.worker(worker.worker_id).to_propagate is True
    reopened.close()


def test_the_token_refresh_command_rewrites_the_token_file_when_due(make_harvester, tmp_path):
    h = make_harvester()
    token = h.config.token_file
    good = Path(token).read_text()
    h.config.token_refresh_command = ["/bin/sh", "-c", f"echo {good} > {token}.new && mv {token}.new {token}"]

    assert credmanager_run(h) is True
    assert credmanager_run(h) is False  # not due again before token_refresh_seconds
    assert Path(token).read_text().strip() == good
    assert h.comm.heartbeat({}).success  # the refreshed file is what the next call sends

    h.store.state_delete("token_refreshed_at")
    h.config.token_refresh_command = ["/bin/sh", "-c", "exit 3"]
    assert credmanager_run(h) is False
