from datetime import timedelta

import pytest

from apps.core.timeutil import utcnow
from apps.jobs.models import FileType, Job, JobFile, JobStatusLog
from apps.jobs.services.activator import activator_run, jobs_activate, jobs_setup
from tests.factories import JobFactory, job_with_files

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
