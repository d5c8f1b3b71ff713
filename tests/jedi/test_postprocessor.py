from io import StringIO

import pytest
from django.core.management import call_command

from apps.ddm.models import Dataset
from apps.jedi import tasks
from apps.jedi.models import DatasetContent, DatasetType, Task, TaskDataset, TaskStatusLog
from apps.jedi.services.postprocessor import final_status, postprocessor_run
from tests.factories import JobFactory
from tests.jedi_factories import DDMDatasetFactory, TaskDatasetFactory, TaskFactory

pytestmark = pytest.mark.django_db


def task_with_counts(status, *, nfiles=10, finished=10, failed=0, **task_fields):
    task = TaskFactory(status=status, **task_fields)
    TaskDatasetFactory(task=task, nfiles=nfiles, nfilesfinished=finished, nfilesfailed=failed)
    return task


def ended(task):
    task = Task.objects.get(pk=task.pk)
    return task.status


def path(task):
    return list(
        TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid).order_by("id").values_list("status", flat=True)
    )[1:]


@pytest.mark.parametrize(
    ("finished", "expected"),
    [(10, "done"), (0, "failed"), (4, "finished")],
)
def test_a_prepared_task_ends_by_its_finished_files(finished, expected):
    task = task_with_counts("prepared", finished=finished, failed=10 - finished)

    summary = postprocessor_run()

    assert summary.ended == {expected: 1}
    assert ended(task) == expected
    assert Task.objects.get(pk=task.pk).endtime is not None


def test_secondary_datasets_do_not_count_for_the_result():
    task = task_with_counts("prepared", nfiles=2, finished=2)
    TaskDatasetFactory(task=task, streamname="DBR", masterid=1, nfiles=5, nfilesfinished=0)

    postprocessor_run()

    assert ended(task) == "done"


@pytest.mark.parametrize(("goal", "expected"), [(500, "failed"), (300, "finished")])
def test_fail_goal_unreached_fails_a_task_below_its_goal(goal, expected):
    task = task_with_counts("prepared", finished=4, failed=6, goal=goal, splitrule="NF=1,FG=1")

    postprocessor_run()

    assert ended(task) == expected


def test_a_goal_without_fail_goal_unreached_still_finishes():
    task = task_with_counts("prepared", finished=4, goal=900)

    postprocessor_run()

    assert ended(task) == "finished"


def test_use_exhausted_makes_a_partial_prepared_task_exhausted():
    task = task_with_counts("prepared", finished=4, splitrule="UX=1")

    postprocessor_run()

    assert ended(task) == "exhausted"
    assert Task.objects.get(pk=task.pk).endtime is None


def test_a_finishing_task_passes_then_ends_once_its_jobs_are_over():
    task = task_with_counts("finishing", finished=4, splitrule="UX=1")
    job = JobFactory(jeditaskid=task.jeditaskid, jobstatus="running")

    assert postprocessor_run().claimed == 0
    assert ended(task) == "finishing"

    job.jobstatus = "finished"
    job.save(update_fields=["jobstatus"])
    postprocessor_run()

    assert ended(task) == "finished"
    assert path(task) == ["passed", "finished"]


def test_a_passed_task_gets_its_final_state():
    task = task_with_counts("passed", finished=10)

    postprocessor_run()

    assert ended(task) == "done"


def test_a_task_waits_while_the_feedback_has_files_to_process():
    task = task_with_counts("prepared", finished=0)
    DatasetContent.objects.create(
        task=task, dataset=task.datasets.get(), lfn="f.root", type="input", status="running", pandaid=1
    )

    summary = postprocessor_run()

    assert (summary.claimed, summary.waiting) == (1, 1)
    assert ended(task) == "prepared"
    assert Task.objects.get(pk=task.pk).lockedby is None


def test_an_aborted_task_waits_for_its_jobs():
    task = task_with_counts("toabort", finished=3)
    job = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated")

    postprocessor_run()
    assert ended(task) == "toabort"

    job.jobstatus = "cancelled"
    job.save(update_fields=["jobstatus"])
    postprocessor_run()
    assert ended(task) == "aborted"


def test_a_task_to_break_is_broken():
    task = task_with_counts("tobroken", nfiles=0, finished=0)

    postprocessor_run()

    assert ended(task) == "broken"


@pytest.mark.parametrize("status", ["running", "ready", "done", "aborting"])
def test_other_states_are_left_alone(status):
    task = task_with_counts(status)

    assert postprocessor_run().claimed == 0
    assert ended(task) == status


def test_output_datasets_are_closed_in_ddm_and_unknown_ones_only_logged(caplog):
    task = task_with_counts("prepared")
    DDMDatasetFactory(scope="user.jdoe", name="user.jdoe.out.001")
    known = TaskDatasetFactory(task=task, type=DatasetType.OUTPUT, datasetname="user.jdoe:user.jdoe.out.001")
    unknown = TaskDatasetFactory(task=task, type=DatasetType.LOG, datasetname="user.jdoe:user.jdoe.log.404")

    postprocessor_run()

    assert Dataset.objects.get(name="user.jdoe.out.001").state == "closed"
    assert TaskDataset.objects.get(pk=known.pk).state == "closed"
    assert TaskDataset.objects.get(pk=unknown.pk).status == "done"
    assert "unknown to DDM" in caplog.text
    assert ended(task) == "done"


def test_input_datasets_get_their_own_result():
    task = task_with_counts("prepared", nfiles=4, finished=2)

    postprocessor_run()

    assert TaskDataset.objects.get(task=task, type="input").status == "finished"


def test_children_of_a_done_task_look_for_new_input():
    parent = task_with_counts("prepared")
    child = TaskFactory(status="running", parent_tid=parent.jeditaskid)
    fed = TaskDatasetFactory(task=child, status="ready")
    ended_child = TaskFactory(status="done", parent_tid=parent.jeditaskid)
    untouched = TaskDatasetFactory(task=ended_child, status="done")

    postprocessor_run()

    assert TaskDataset.objects.get(pk=fed.pk).status == "toupdate"
    assert TaskDataset.objects.get(pk=untouched.pk).status == "done"


def test_children_of_a_failed_task_are_left_alone():
    parent = task_with_counts("prepared", finished=0)
    child = TaskFactory(status="running", parent_tid=parent.jeditaskid)
    fed = TaskDatasetFactory(task=child, status="ready")

    postprocessor_run()

    assert TaskDataset.objects.get(pk=fed.pk).status == "ready"


def test_a_task_locked_by_another_agent_is_not_touched():
    task = task_with_counts("prepared")
    Task.objects.filter(pk=task.pk).update(lockedby="generator:host:1")

    assert postprocessor_run().claimed == 0
    assert ended(task) == "prepared"


def test_final_status_with_no_input_files_is_failed():
    task = task_with_counts("prepared", nfiles=0, finished=0)

    assert final_status(task, allow_exhausted=False) == "failed"


def test_the_celery_task_and_the_command_run_the_postprocessor(settings):
    task_with_counts("prepared")
    assert settings.CELERY_BEAT_SCHEDULE["run_postprocessor"]["schedule"] == 20.0

    assert tasks.run_postprocessor.delay().get() == "postprocessor: claimed=1 waiting=0 ended: done=1"
    out = StringIO()
    call_command("run_postprocessor", stdout=out)
    assert out.getvalue().strip() == "postprocessor: claimed=0 waiting=0 ended: none"
