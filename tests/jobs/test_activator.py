from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.timeutil import utcnow
from apps.ddm.interface import ddm
from apps.ddm.models import Dataset, Replica, Rule
from apps.ddm.names import deterministic_path
from apps.ddm.services.rules import rules_process
from apps.jobs.models import FileType, Job, JobFile, JobStatusLog
from apps.jobs.services import activator
from apps.jobs.services.activator import activator_run, jobs_activate, jobs_setup
from tests.ddm.storage import file_on, local_endpoint
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, job_with_files

pytestmark = pytest.mark.django_db


def fresh(job):
    return Job.objects.get(pk=job.pk)


def set_inputs(job, *statuses):
    inputs = list(JobFile.objects.filter(job=job, type=FileType.INPUT).order_by("row_id"))
    for f, status in zip(inputs, statuses, strict=True):
        f.status = status
    JobFile.objects.bulk_update(inputs, ["status"])


def assigned_job(hours_ago: float, *inputs: str):
    since = utcnow() - timedelta(hours=hours_ago)
    job = job_with_files(jobstatus="assigned", n_inputs=len(inputs), statechangetime=since, modificationtime=since)
    set_inputs(job, *inputs)
    return job


def last_move(job):
    log = JobStatusLog.objects.filter(pandaid=job.pandaid).order_by("id").last()
    return log.oldstatus, log.jobstatus


@pytest.mark.parametrize("inputs", [("ready", "ready"), ("ready", "cached"), ("cached",), ()])
def test_the_setupper_activates_a_defined_job_whose_inputs_are_available(inputs):
    job = job_with_files(jobstatus="defined", n_inputs=len(inputs))
    set_inputs(job, *inputs)

    assert jobs_setup() == (1, 0)

    assert fresh(job).jobstatus == "activated"
    assert last_move(job) == ("defined", "activated")


@pytest.mark.parametrize("inputs", [("ready", "unknown"), ("pending",), ("missing", "cached")])
def test_the_setupper_assigns_a_defined_job_whose_inputs_must_be_transferred(inputs):
    job = job_with_files(jobstatus="defined", n_inputs=len(inputs))
    set_inputs(job, *inputs)

    assert jobs_setup() == (0, 1)

    assert fresh(job).jobstatus == "assigned"
    assert last_move(job) == ("defined", "assigned")


def test_the_setupper_ignores_output_and_log_files():
    job = job_with_files(jobstatus="defined", n_inputs=1)

    jobs_setup()

    assert fresh(job).jobstatus == "activated"


def test_the_setupper_can_be_run_for_given_jobs_only():
    chosen = job_with_files(jobstatus="defined")
    other = job_with_files(jobstatus="defined")

    assert jobs_setup(pandaids=[chosen.pandaid]) == (1, 0)

    assert (fresh(chosen).jobstatus, fresh(other).jobstatus) == ("activated", "defined")


@pytest.mark.parametrize("status", ["pending", "waiting", "assigned", "activated", "sent", "finished"])
def test_the_setupper_only_looks_at_defined_jobs(status):
    job = job_with_files(jobstatus=status)

    assert jobs_setup() == (0, 0)

    assert fresh(job).jobstatus == status


def test_the_activator_activates_jobs_assigned_long_enough_with_all_inputs_available():
    ready = assigned_job(2, "ready", "cached")
    not_ready = assigned_job(2, "ready", "transferring")
    too_recent = assigned_job(0.5, "ready", "ready")

    assert jobs_activate() == 1

    assert fresh(ready).jobstatus == "activated"
    assert last_move(ready) == ("assigned", "activated")
    assert fresh(not_ready).jobstatus == "assigned"
    assert fresh(too_recent).jobstatus == "assigned"


def test_the_activator_minimum_age_comes_from_the_settings(settings):
    settings.PANDA_ACTIVATOR_MIN_AGE = 60
    job = assigned_job(0.5, "ready")

    assert jobs_activate() == 1
    assert fresh(job).jobstatus == "activated"


def test_the_activator_minimum_age_can_be_given_per_call():
    job = assigned_job(0.5, "ready")

    assert jobs_activate(min_age=7200) == 0
    assert jobs_activate(min_age=0) == 1
    assert fresh(job).jobstatus == "activated"


def test_an_assigned_job_without_state_change_time_is_aged_by_its_modification_time():
    job = JobFactory(jobstatus="assigned", statechangetime=None, modificationtime=utcnow() - timedelta(hours=2))

    assert jobs_activate() == 1
    assert fresh(job).jobstatus == "activated"


def test_activation_bumps_the_modification_time():
    job = assigned_job(2, "ready")
    before = fresh(job).modificationtime

    jobs_activate()

    assert fresh(job).modificationtime > before


def test_a_run_sets_up_defined_jobs_then_activates_assigned_ones_in_batches():
    defined = [job_with_files(jobstatus="defined") for _ in range(3)]
    waiting = job_with_files(jobstatus="defined", n_inputs=1)
    set_inputs(waiting, "unknown")
    assigned = [assigned_job(2, "ready") for _ in range(3)]

    summary = activator_run(batch_size=2)

    assert (summary.setup_activated, summary.setup_assigned, summary.activated) == (3, 1, 3)
    assert {fresh(job).jobstatus for job in defined + assigned} == {"activated"}
    assert fresh(waiting).jobstatus == "assigned"
    assert str(summary) == "activator: defined->activated=3 defined->assigned=1 assigned->activated=3"


def test_a_second_run_has_nothing_to_do():
    job_with_files(jobstatus="defined")
    activator_run()

    summary = activator_run()

    assert (summary.setup_activated, summary.setup_assigned, summary.activated) == (0, 0, 0)


# --- data placement: dispatch blocks and their rules ---------------------------------------


@pytest.fixture
def grid(tmp_path):
    """QUEUE_A reads from SITE_A_DATADISK (a local directory); the inputs start on SOURCE_DATADISK."""
    queue = PandaQueueFactory(name="QUEUE_A", site=SiteFactory(name="SITE_A"))
    return {
        "queue": queue,
        "here": local_endpoint("SITE_A_DATADISK", tmp_path / "site_a"),
        "source": local_endpoint("SOURCE_DATADISK", tmp_path / "source"),
        "tape": local_endpoint("SOURCE_TAPE", tmp_path / "tape", is_tape=True),
    }


def job_reading(*files, status="unknown", jobstatus="defined", **fields) -> Job:
    job = JobFactory(jobstatus=jobstatus, **fields)
    JobFile.objects.bulk_create(
        [
            JobFile(
                job=job,
                type=FileType.INPUT,
                lfn=f.lfn,
                scope=f.scope,
                dataset="mc23:mc23.EVNT.a",
                guid=f.guid,
                fsize=f.fsize,
                checksum=f"ad:{f.adler32}",
                status=status,
            )
            for f in files
        ]
    )
    return job


def inputs_of(job):
    return list(JobFile.objects.filter(job=job, type=FileType.INPUT).order_by("row_id"))


def test_inputs_the_catalogue_has_on_the_queue_storage_become_ready_and_the_job_is_activated(grid):
    files = [file_on(grid["here"], scope="mc23", lfn=f"a{i}.root") for i in range(2)]
    job = job_reading(*files)

    assert jobs_setup() == (1, 0)

    assert fresh(job).jobstatus == "activated"
    assert {f.status for f in inputs_of(job)} == {"ready"}
    assert not Dataset.objects.filter(name=f"panda.{job.pandaid}.dis").exists()


def test_inputs_elsewhere_go_into_the_jobs_dispatch_block_with_a_rule_to_the_queue_storage(grid):
    here = file_on(grid["here"], scope="mc23", lfn="here.root")
    away = [file_on(grid["source"], scope="mc23", lfn=f"away{i}.root") for i in range(2)]
    job = job_reading(here, *away)

    assert jobs_setup() == (0, 1)

    block = f"panda.{job.pandaid}.dis"
    job = fresh(job)
    assert (job.jobstatus, job.dispatchdblock) == ("assigned", block)
    assert last_move(job) == ("defined", "assigned")
    assert [(f.lfn, f.status, f.dispatchdblock) for f in inputs_of(job)] == [
        ("here.root", "ready", None),
        ("away0.root", "pending", block),
        ("away1.root", "pending", block),
    ]
    catalogue = ddm()
    assert catalogue.get_dataset(block).state == "closed"
    assert [f.lfn for f in catalogue.list_files(block)] == ["away0.root", "away1.root"]
    (rule,) = catalogue.list_rules([block])[block]
    assert (rule.endpoint, rule.activity, rule.state) == ("SITE_A_DATADISK", "replicate", "replicating")


def test_inputs_available_only_on_tape_are_staged(grid):
    job = job_reading(file_on(grid["tape"], scope="mc23", lfn="raw.root"))

    jobs_setup()

    block = f"panda.{job.pandaid}.dis"
    assert [r.activity for r in ddm().list_rules([block])[block]] == ["stage"]


def test_an_assigned_job_is_activated_as_soon_as_its_dispatch_block_has_arrived(grid, tmp_path):
    files = [file_on(grid["source"], scope="mc23", lfn=f"away{i}.root") for i in range(2)]
    job = job_reading(*files)
    jobs_setup()
    assert jobs_activate() == 0  # the rule is still replicating

    assert rules_process().ok == 1
    assert jobs_activate() == 1  # no minimum age for a job whose rule is ok

    assert fresh(job).jobstatus == "activated"
    assert last_move(job) == ("assigned", "activated")
    assert {f.status for f in inputs_of(job)} == {"ready"}
    for f in files:
        assert (tmp_path / "site_a" / deterministic_path("mc23", f.lfn)).is_file()


def test_a_job_also_waiting_for_a_file_the_catalogue_does_not_know_keeps_waiting(grid):
    job = job_reading(file_on(grid["source"], scope="mc23", lfn="away.root"))
    JobFile.objects.create(job=job, type=FileType.INPUT, lfn="unknown.root", scope="mc23", status="unknown")
    jobs_setup()
    rules_process()

    assert jobs_activate() == 0

    assert fresh(job).jobstatus == "assigned"
    assert [f.status for f in inputs_of(job)] == ["ready", "unknown"]


def test_a_job_whose_dispatch_block_is_stuck_too_long_fails_with_ddm_error_100(grid, settings):
    settings.PANDA_DISPATCH_STUCK_TIMEOUT = 3600
    lost = file_on(grid["source"], scope="mc23", lfn="lost.root")
    job = job_reading(lost)
    jobs_setup()
    Replica.objects.filter(file=lost).delete()
    rules_process()
    rule = Rule.objects.get()
    assert rule.state == "stuck"

    assert activator_run().failed == 0  # stuck, but not for long yet
    Rule.objects.filter(pk=rule.pk).update(stuck_since=utcnow() - timedelta(hours=2))
    summary = activator_run()

    job = fresh(job)
    assert (job.jobstatus, job.ddmerrorcode, summary.failed) == ("failed", 100, 1)
    block = f"panda.{job.pandaid}.dis"
    assert job.ddmerrordiag.startswith(f"Setupper: transfer of dispatch block {block} to SITE_A_DATADISK stuck since")
    assert "mc23:lost.root" in job.ddmerrordiag
    assert last_move(job) == ("assigned", "failed")
    assert str(summary).endswith("assigned->failed=1")


def test_a_queue_without_a_known_read_endpoint_leaves_the_file_status_in_charge(grid):
    PandaQueueFactory(name="QUEUE_B", site=SiteFactory(name="SITE_B"))  # reads from SITE_B_DATADISK: unknown
    job = job_reading(file_on(grid["source"], scope="mc23", lfn="away.root"), status="ready", computingsite="QUEUE_B")

    assert jobs_setup() == (1, 0)
    assert fresh(job).jobstatus == "activated"
    assert Dataset.objects.filter(name__startswith="panda.").count() == 0


def test_a_job_moved_meanwhile_gets_no_dispatch_block(grid, monkeypatch):
    job = job_reading(file_on(grid["source"], scope="mc23", lfn="away.root"))
    real = activator.dispatch_block_create

    def create_while_the_job_is_killed(**kwargs):
        result = real(**kwargs)
        Job.objects.filter(pk=job.pk).update(jobstatus="cancelled")
        return result

    monkeypatch.setattr(activator, "dispatch_block_create", create_while_the_job_is_killed)

    assert jobs_setup() == (0, 0)

    assert not Dataset.objects.filter(name=f"panda.{job.pandaid}.dis").exists()
    assert [(f.status, f.dispatchdblock) for f in inputs_of(job)] == [("unknown", None)]


def test_placement_costs_no_query_per_file(grid):
    def setup_and_activate(n_files):
        jobs = []
        for j in range(5):
            files = [file_on(grid["source"], scope="mc23", lfn=f"f{n_files}.{j}.{i}.root") for i in range(n_files)]
            jobs.append(job_reading(*files))
        with CaptureQueriesContext(connection) as setup:
            assert jobs_setup(pandaids=[job.pandaid for job in jobs]) == (0, 5)
        rules_process(limit=100)
        with CaptureQueriesContext(connection) as activate:
            assert jobs_activate() == 5
        return len(setup), len(activate)

    assert setup_and_activate(1) == setup_and_activate(6)
