import json
from datetime import timedelta

import pytest

from apps.core.timeutil import utcnow
from apps.jobs.models import FileType, Job, JobError, JobFile, JobOutputReport
from apps.jobs.services.adder import adder_run
from apps.jobs.services.job_errors import job_errors_backfill, job_errors_record, job_errors_record_many
from apps.jobs.services.kill import job_kill
from apps.jobs.services.pilot_updates import job_update_from_pilot
from apps.jobs.services.timeouts import watcher_run
from apps.jobs.services.transitions import job_change_status, jobs_change_status_bulk
from tests.factories import JobFactory, job_with_files

pytestmark = pytest.mark.django_db


def errors_of(job) -> set[tuple[str, int, str]]:
    return set(JobError.objects.filter(job_id=job.pandaid).values_list("component", "code", "diag"))


def test_a_pilot_reported_failure_finalised_by_the_adder_records_one_row_per_non_zero_error_field():
    job = job_with_files(jobstatus="running", computingsite="SITE_X", produsername="alice", jeditaskid=42)
    changes = {"piloterrorcode": 1305, "piloterrordiag": "payload failed", "exeerrorcode": 65, "transexitcode": "65"}
    job_update_from_pilot(pandaid=job.pandaid, state="failed", attemptnr=job.attemptnr, changes=changes)
    assert JobError.objects.count() == 0  # holding: not failed yet

    adder_run()

    assert Job.objects.get(pk=job.pk).jobstatus == "failed"
    assert errors_of(job) == {("pilot", 1305, "payload failed"), ("exe", 65, ""), ("transform", 65, "")}


def test_error_rows_carry_the_jobs_site_user_task_label_and_failure_time():
    job = JobFactory(
        jobstatus="running", computingsite="SITE_X", produsername="alice", jeditaskid=42, prodsourcelabel="user"
    )

    job_change_status(job, new="failed", changes={"piloterrorcode": 1201, "modificationtime": utcnow()})

    row = JobError.objects.get()
    stored = Job.objects.get(pk=job.pk)
    assert (row.computingsite, row.produsername, row.jeditaskid, row.prodsourcelabel) == ("SITE_X", "alice", 42, "user")
    assert row.modificationtime == stored.modificationtime


def test_the_watchers_heartbeat_timeout_records_the_dispatcher_error():
    job = JobFactory(jobstatus="running", prodsourcelabel="managed", modificationtime=utcnow() - timedelta(days=2))

    watcher_run()

    assert {(c, code) for c, code, _ in errors_of(job)} == {("jobdispatcher", 100)}


def test_a_job_killed_to_be_retried_that_reports_failed_stays_failed_with_its_taskbuffer_error():
    job = job_with_files(jobstatus="running")
    job_kill(job, code=7, killer="jedi")
    job_update_from_pilot(
        pandaid=job.pandaid, state="failed", attemptnr=job.attemptnr, changes={"piloterrorcode": 1144}
    )

    adder_run()

    assert Job.objects.get(pk=job.pk).jobstatus == "failed"
    assert {(c, code) for c, code, _ in errors_of(job)} == {("taskbuffer", 106), ("pilot", 1144)}


def test_a_finished_job_records_no_errors_even_with_a_leftover_code():
    job = job_with_files(jobstatus="holding", piloterrorcode=0, exeerrorcode=0, transexitcode="0")
    JobOutputReport.objects.create(
        job=job,
        attemptnr=job.attemptnr,
        final_status="finished",
        data=json.dumps(
            {
                f.lfn: {"guid": f"00000000-0000-0000-0000-00000000000{i}", "fsize": 10, "adler32": "0a1b2c3d"}
                for i, f in enumerate(JobFile.objects.filter(job=job, type__in=[FileType.OUTPUT, FileType.LOG]))
            }
        ),
    )

    adder_run()

    assert Job.objects.get(pk=job.pk).jobstatus == "finished"
    assert JobError.objects.count() == 0


def test_a_cancelled_job_records_no_errors():
    job = JobFactory(jobstatus="activated")

    job_kill(job, code=9, killer="operator")

    assert Job.objects.get(pk=job.pk).jobstatus == "cancelled"
    assert JobError.objects.count() == 0


def test_a_failed_job_without_any_error_code_records_nothing():
    job = JobFactory(jobstatus="running")

    job_change_status(job, new="failed")

    assert JobError.objects.count() == 0


def test_a_non_numeric_transform_exit_code_is_not_recorded_as_a_code():
    job = JobFactory(jobstatus="running")

    job_change_status(job, new="failed", changes={"transexitcode": "NULL", "exeerrorcode": 3})

    assert {(c, code) for c, code, _ in errors_of(job)} == {("exe", 3)}


def test_recording_again_gives_the_same_rows():
    job = JobFactory(jobstatus="running")
    job_change_status(job, new="failed", changes={"piloterrorcode": 1099, "ddmerrorcode": 200, "ddmerrordiag": "x"})
    before = errors_of(job)

    assert job_errors_record(job) == 2
    assert job_errors_record(job) == 2

    assert errors_of(job) == before
    assert JobError.objects.count() == 2


def test_recording_again_follows_changed_fields_and_drops_cleared_ones():
    job = JobFactory(jobstatus="running")
    job_change_status(job, new="failed", changes={"piloterrorcode": 1099, "ddmerrorcode": 200})
    Job.objects.filter(pk=job.pk).update(ddmerrorcode=0, superrorcode=2)

    job_errors_record(job)

    assert {(c, code) for c, code, _ in errors_of(job)} == {("pilot", 1099), ("sup", 2)}


def test_a_job_that_is_not_failed_gets_no_rows_when_recorded():
    job = JobFactory(jobstatus="running", piloterrorcode=1305)

    assert job_errors_record(job) == 0
    assert JobError.objects.count() == 0


def test_a_lost_race_to_failed_records_nothing():
    job = JobFactory(jobstatus="running")
    Job.objects.filter(pk=job.pk).update(jobstatus="holding")

    with pytest.raises(Exception, match="no longer"):
        job_change_status(job, new="failed", changes={"piloterrorcode": 1305})

    assert JobError.objects.count() == 0


def test_the_bulk_transition_to_failed_records_the_errors_of_the_jobs_it_moved():
    moved = JobFactory(jobstatus="assigned", ddmerrorcode=100, ddmerrordiag="setupper")
    left = JobFactory(jobstatus="activated", ddmerrorcode=100)

    assert jobs_change_status_bulk([moved.pandaid, left.pandaid], old="assigned", new="failed") == [moved.pandaid]

    assert list(JobError.objects.values_list("job_id", "component", "code")) == [(moved.pandaid, "ddm", 100)]


def test_recording_many_jobs_takes_a_fixed_number_of_queries(django_assert_num_queries):
    jobs = [JobFactory(jobstatus="failed", piloterrorcode=1000 + i, exeerrorcode=i + 1) for i in range(20)]

    with django_assert_num_queries(3):
        assert job_errors_record_many([job.pandaid for job in jobs]) == 40


def test_the_backfill_records_every_failed_job_in_batches_and_again_changes_nothing():
    failed = [JobFactory(jobstatus="failed", piloterrorcode=1305) for _ in range(5)]
    JobFactory(jobstatus="finished", piloterrorcode=1305)

    assert job_errors_backfill(batch_size=2) == (5, 5)
    assert job_errors_backfill(batch_size=2) == (5, 5)

    assert set(JobError.objects.values_list("job_id", flat=True)) == {job.pandaid for job in failed}


def test_the_backfill_can_start_at_a_time():
    old = JobFactory(jobstatus="failed", piloterrorcode=1305, modificationtime=utcnow() - timedelta(days=10))
    new = JobFactory(jobstatus="failed", piloterrorcode=1305)

    assert job_errors_backfill(since=utcnow() - timedelta(days=1)) == (1, 1)

    assert list(JobError.objects.values_list("job_id", flat=True)) == [new.pandaid]
    assert old.pandaid != new.pandaid


def test_the_backfill_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="batch_size"):
        job_errors_backfill(batch_size=0)
