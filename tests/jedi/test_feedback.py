import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from apps.jedi import tasks
from apps.jedi.models import DatasetContent, DatasetType, RetryRule, Task, TaskDataset, TaskStatusLog
from apps.jedi.services.feedback import contents_mark_running, feedback_run, task_check_prepared
from apps.jobs.models import FileType, JobFile
from tests.factories import JobFactory
from tests.jedi_factories import DatasetContentFactory, TaskDatasetFactory, TaskFactory, input_contents

pytestmark = pytest.mark.django_db


def picked_by(job, contents, *, status="picked"):
    DatasetContent.objects.filter(fileid__in=[c.fileid for c in contents]).update(status=status, pandaid=job.pandaid)


def task_with_job(jobstatus, *, n=2, task_status="running", content_status="picked", **content_fields):
    """A task whose ``n`` input files are held by one job in ``jobstatus``."""
    task = TaskFactory(status=task_status)
    contents = input_contents(task, n, **content_fields)
    TaskDataset.objects.filter(task=task).update(nfilesused=n)
    job = JobFactory(jeditaskid=task.jeditaskid, jobstatus=jobstatus)
    picked_by(job, contents, status=content_status)
    return task, job, contents


def files(task):
    return list(DatasetContent.objects.filter(task=task, type="input").order_by("fileid"))


def input_dataset(task):
    return TaskDataset.objects.get(task=task, type="input")


def test_a_started_job_marks_its_picked_input_files_running():
    task, job, _ = task_with_job("running")

    assert contents_mark_running() == 2

    assert [f.status for f in files(task)] == ["running", "running"]
    assert input_dataset(task).nfilesonhold == 2


@pytest.mark.parametrize("jobstatus", ["defined", "activated", "sent"])
def test_files_of_a_job_that_has_not_started_stay_picked(jobstatus):
    task, job, _ = task_with_job(jobstatus)

    summary = feedback_run()

    assert summary.running == 0
    assert [f.status for f in files(task)] == ["picked", "picked"]


def test_a_finished_job_finishes_its_input_files_and_counts_them():
    task, job, _ = task_with_job("finished", nevents=100, content_status="running")
    TaskDataset.objects.filter(task=task).update(nfilesonhold=2)

    summary = feedback_run()

    assert summary.finished == 2
    assert [(f.status, f.attemptnr) for f in files(task)] == [("finished", 0), ("finished", 0)]
    ds = input_dataset(task)
    assert (ds.nfilesfinished, ds.nfilesfailed, ds.nfilesused, ds.nfilesonhold, ds.neventsused) == (2, 0, 2, 0, 200)


def test_a_failed_job_gives_its_files_back_while_attempts_are_left():
    task, job, _ = task_with_job("failed", maxattempt=3)

    summary = feedback_run()

    assert summary.retried == 2
    assert [(f.status, f.attemptnr, f.failedattempt, f.pandaid) for f in files(task)] == [
        ("ready", 1, 1, job.pandaid),
        ("ready", 1, 1, job.pandaid),
    ]
    ds = input_dataset(task)
    assert (ds.nfilesused, ds.nfilesfailed, ds.nfilesfinished) == (0, 0, 0)


def test_a_failed_job_fails_the_files_that_used_their_last_attempt():
    task, job, contents = task_with_job("failed", maxattempt=3)
    DatasetContent.objects.filter(fileid=contents[0].fileid).update(attemptnr=2, failedattempt=2)

    summary = feedback_run()

    assert (summary.failed, summary.retried) == (1, 1)
    assert [(f.status, f.attemptnr) for f in files(task)] == [("failed", 3), ("ready", 1)]
    ds = input_dataset(task)
    assert (ds.nfilesfailed, ds.nfilesused) == (1, 1)


def test_max_failure_stops_retries_before_max_attempt():
    task, job, contents = task_with_job("failed", maxattempt=10, maxfailure=2)
    DatasetContent.objects.filter(fileid=contents[0].fileid).update(attemptnr=1, failedattempt=1)

    feedback_run()

    assert [(f.status, f.attemptnr, f.failedattempt) for f in files(task)] == [("failed", 2, 2), ("ready", 1, 1)]


@pytest.mark.parametrize("jobstatus", ["cancelled", "closed"])
def test_killed_jobs_use_an_attempt_without_counting_as_a_failure(jobstatus):
    task, job, _ = task_with_job(jobstatus, maxattempt=3, maxfailure=1)

    feedback_run()

    assert [(f.status, f.attemptnr, f.failedattempt) for f in files(task)] == [("ready", 1, 0), ("ready", 1, 0)]


def test_a_reassigned_job_on_the_last_attempt_fails_its_files():
    task, job, _ = task_with_job("closed", maxattempt=1)
    job.jobsubstatus = "toreassign"
    job.save(update_fields=["jobsubstatus"])

    feedback_run()

    assert [(f.status, f.attemptnr, f.failedattempt) for f in files(task)] == [("failed", 1, 0), ("failed", 1, 0)]


def test_feedback_is_applied_once_however_often_it_runs():
    task, job, _ = task_with_job("failed", maxattempt=3)

    first = feedback_run()
    second = feedback_run()

    assert (first.retried, second.retried) == (2, 0)
    assert [f.attemptnr for f in files(task)] == [1, 1]
    assert input_dataset(task).nfilesused == 0


def test_files_already_picked_by_a_newer_job_ignore_the_old_job():
    task, old, contents = task_with_job("failed")
    new = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated")
    picked_by(new, contents)

    summary = feedback_run()

    assert summary.retried == 0
    assert [(f.status, f.pandaid, f.attemptnr) for f in files(task)] == [("picked", new.pandaid, 0)] * 2


def test_outputs_of_a_finished_job_take_what_the_adder_registered():
    task, job, _ = task_with_job("finished", n=1)
    out_ds = TaskDatasetFactory(task=task, type=DatasetType.OUTPUT, streamname="OUTPUT0", datasetname="out.ds/")
    output = DatasetContentFactory(dataset=out_ds, task=task, status="defined", outpandaid=job.pandaid, guid=None)
    JobFile.objects.create(
        job=job,
        type=FileType.OUTPUT,
        lfn=output.lfn,
        fileid=output.fileid,
        guid="A-GUID",
        fsize=4242,
        checksum="ad:0a0b0c0d",
        nevents=7,
        status="ready",
    )

    summary = feedback_run()

    output.refresh_from_db()
    assert summary.outputs == 1
    assert (output.status, output.guid, output.fsize, output.checksum, output.nevents) == (
        "finished",
        "A-GUID",
        4242,
        "ad:0a0b0c0d",
        7,
    )
    assert TaskDataset.objects.get(pk=out_ds.pk).nfilesfinished == 1


def test_outputs_of_a_failed_job_fail():
    task, job, _ = task_with_job("failed", n=1)
    out_ds = TaskDatasetFactory(task=task, type=DatasetType.LOG, streamname="LOG0", datasetname="log.ds/")
    log_row = DatasetContentFactory(dataset=out_ds, task=task, status="defined", outpandaid=job.pandaid)

    feedback_run()
    feedback_run()

    log_row.refresh_from_db()
    assert log_row.status == "failed"
    assert TaskDataset.objects.get(pk=out_ds.pk).nfilesfailed == 1


def test_task_progress_and_failure_rate_follow_the_master_input():
    task = TaskFactory(status="running")
    contents = input_contents(task, 4, maxattempt=1)
    TaskDataset.objects.filter(task=task).update(nfiles=4)
    done, bad = JobFactory(jeditaskid=task.jeditaskid, jobstatus="finished"), JobFactory(jobstatus="failed")
    picked_by(done, contents[:2])
    picked_by(bad, contents[2:3])

    feedback_run()

    task.refresh_from_db()
    assert (task.progress, task.failurerate) == (50, 25)


def test_a_task_whose_input_is_all_processed_becomes_prepared():
    task, job, _ = task_with_job("finished", task_status="running")

    summary = feedback_run()

    assert summary.prepared == 1
    assert Task.objects.get(pk=task.pk).status == "prepared"
    assert TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid, status="prepared").count() == 1


def test_a_task_with_files_given_back_for_retry_is_not_prepared():
    task, job, _ = task_with_job("failed", maxattempt=3)

    assert feedback_run().prepared == 0
    assert Task.objects.get(pk=task.pk).status == "running"


def test_a_task_with_jobs_still_active_is_not_prepared():
    task, job, _ = task_with_job("finished")
    JobFactory(jeditaskid=task.jeditaskid, jobstatus="running")

    assert feedback_run().prepared == 0
    assert task_check_prepared(task.jeditaskid) is False


@pytest.mark.parametrize("status", ["finishing", "aborting", "paused", "defined"])
def test_tasks_outside_the_generating_states_are_not_prepared(status):
    task, job, _ = task_with_job("finished", task_status=status)

    feedback_run()

    assert Task.objects.get(pk=task.pk).status == status


def test_batches_cover_every_job():
    task = TaskFactory(status="running")
    contents = input_contents(task, 10)
    for i in range(5):
        picked_by(JobFactory(jeditaskid=task.jeditaskid, jobstatus="finished"), contents[2 * i : 2 * i + 2])

    summary = feedback_run(batch_size=3)

    assert summary.finished == 10
    assert Task.objects.get(pk=task.pk).status == "prepared"


def test_the_cost_of_a_batch_does_not_grow_with_its_files(django_assert_max_num_queries):
    task = TaskFactory(status="running")
    contents = input_contents(task, 40, maxattempt=3)
    for i in range(20):
        jobstatus = "finished" if i % 2 else "failed"
        picked_by(JobFactory(jeditaskid=task.jeditaskid, jobstatus=jobstatus), contents[2 * i : 2 * i + 2])

    with django_assert_max_num_queries(30):
        summary = feedback_run()

    assert (summary.finished, summary.retried) == (20, 20)


def test_the_celery_task_and_the_command_run_the_feedback(settings):
    task, job, _ = task_with_job("finished")
    assert settings.CELERY_BEAT_SCHEDULE["run_feedback"]["schedule"] == 10.0

    assert tasks.run_feedback.delay().get().startswith("feedback: running=0 finished=2")
    out = StringIO()
    call_command("run_feedback", "--batch-size", "10", stdout=out)
    assert "finished=0" in out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_several_feedback_workers_at_once_apply_each_job_exactly_once():
    RetryRule.objects.create(errorsource="pilot", errorcode=1305, action="increase_cputime")
    tasks = [TaskFactory(status="running", walltime=3600) for _ in range(3)]
    expected = {"finished": 0, "ready": 0}
    for task in tasks:
        contents = input_contents(task, 60, maxattempt=3)
        TaskDataset.objects.filter(task=task).update(nfiles=60, nfilesused=60)
        for i in range(30):
            jobstatus = "finished" if i % 3 else "failed"
            job = JobFactory(jeditaskid=task.jeditaskid, jobstatus=jobstatus, maxcpucount=3600, piloterrorcode=1305)
            picked_by(job, contents[2 * i : 2 * i + 2])
            expected["finished" if jobstatus == "finished" else "ready"] += 2
    workers = 4
    barrier = threading.Barrier(workers)
    summaries, errors = [], []

    def work():
        try:
            barrier.wait()
            summaries.append(feedback_run(batch_size=7))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    leftover = feedback_run()

    assert errors == []
    assert sum(s.finished for s in summaries) + leftover.finished == expected["finished"]
    assert sum(s.retried for s in summaries) + leftover.retried == expected["ready"]
    rows = DatasetContent.objects.filter(task__in=tasks)
    assert set(rows.filter(status="ready").values_list("attemptnr", flat=True)) == {1}
    for task in tasks:
        ds = input_dataset(task)
        assert (ds.nfilesfinished, ds.nfilesused) == (40, 40)
        assert (Task.objects.get(pk=task.pk).progress, Task.objects.get(pk=task.pk).walltime) == (66, 5400)
