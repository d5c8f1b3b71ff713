import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from apps.accounts.identity import Identity
from apps.core.timeutil import utcnow
from apps.ddm.interface import ddm
from apps.ddm.models import Dataset
from apps.jedi.models import DatasetContent, Task, TaskCommand, TaskDataset, TaskParams, TaskStatusLog
from apps.jedi.services.commando import commando_run, commands_claim
from apps.jedi.services.commands import task_command_enqueue
from apps.jedi.services.locks import tasks_claim
from apps.jedi.states import TaskStatus
from apps.jedi.tasks import run_task_commando
from apps.jobs.models import Job
from tests.factories import JobFactory
from tests.jedi_factories import TaskDatasetFactory, TaskFactory, input_contents

pytestmark = pytest.mark.django_db

T = TaskStatus
PRODUCTION = Identity(user_id=None, username="prod", dn="/DC=ch/CN=Prod Manager", fqans=("/atlas/Role=production",))


def enqueue(task, command, **parameters):
    outcome = task_command_enqueue(PRODUCTION, task.jeditaskid, command, parameters=parameters or None)
    assert outcome.code == 0, outcome
    return TaskCommand.objects.get(task=task, status="queued")


def fresh(obj):
    obj.refresh_from_db()
    return obj


def job_states(*jobs):
    return [(fresh(job).jobstatus, job.commandtopilot, job.taskbuffererrorcode) for job in jobs]


def history(task):
    rows = TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid).order_by("id")
    return list(rows.values_list("status", flat=True))


def end_jobs(task):
    Job.objects.filter(jeditaskid=task.jeditaskid).exclude(jobstatus__in=["cancelled", "closed"]).update(
        jobstatus="cancelled"
    )


# --- kill ------------------------------------------------------------------------------------------


def test_kill_aborts_the_task_kills_queued_jobs_and_asks_running_pilots_to_stop():
    task = TaskFactory(status=T.RUNNING)
    queued = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated", prodsourcelabel="user")
    running = JobFactory(jeditaskid=task.jeditaskid, jobstatus="running", prodsourcelabel="user")
    command = enqueue(task, "kill")

    summary = commando_run()

    assert (summary.done, summary.failed) == (1, 0)
    assert fresh(task).status == T.ABORTING
    assert task.oldstatus == T.RUNNING
    assert job_states(queued, running) == [("cancelled", None, 100), ("running", "tobekilled", 100)]
    command = fresh(command)
    assert command.status == "done"
    assert command.donetime is not None and command.lockedby is None
    assert "2 of 2 unfinished jobs killed with code 50" in command.result
    assert "task stays aborting" in command.result


def test_an_aborting_task_goes_to_toabort_once_its_last_job_has_ended():
    task = TaskFactory(status=T.RUNNING)
    JobFactory(jeditaskid=task.jeditaskid, jobstatus="running", prodsourcelabel="user")
    enqueue(task, "kill")
    commando_run()

    assert commando_run().completed == 0
    assert fresh(task).status == T.ABORTING

    end_jobs(task)
    assert commando_run().completed == 1
    assert fresh(task).status == T.TOABORT
    assert task.oldstatus is None
    assert history(task)[-2:] == [T.ABORTING, T.TOABORT]


def test_kill_of_a_task_without_jobs_reaches_toabort_at_once():
    task = TaskFactory(status=T.READY)
    enqueue(task, "kill")

    commando_run()

    assert fresh(task).status == T.TOABORT
    assert history(task)[-2:] == [T.ABORTING, T.TOABORT]


# --- finish ------------------------------------------------------------------------------------------


def test_soft_finish_kills_queued_jobs_with_52_and_lets_running_ones_continue():
    task = TaskFactory(status=T.RUNNING)
    queued = JobFactory(jeditaskid=task.jeditaskid, jobstatus="defined", prodsourcelabel="user")
    running = JobFactory(jeditaskid=task.jeditaskid, jobstatus="running", prodsourcelabel="user")
    enqueue(task, "finish", soft=True)

    commando_run()

    assert fresh(task).status == T.FINISHING
    assert job_states(queued, running) == [("cancelled", None, 100), ("running", None, 0)]
    assert "force killed" in fresh(queued).taskbuffererrordiag
    end_jobs(task)
    commando_run()
    assert fresh(task).status == T.PASSED


def test_hard_finish_force_kills_running_production_jobs_and_passes_at_once():
    task = TaskFactory(status=T.RUNNING, prodsourcelabel="managed")
    running = JobFactory(jeditaskid=task.jeditaskid, jobstatus="running", prodsourcelabel="managed")
    command = enqueue(task, "finish")

    commando_run()

    assert fresh(running).jobstatus == "cancelled"
    assert fresh(task).status == T.PASSED
    assert fresh(command).result.startswith("hard finish: 1 of 1 unfinished jobs killed with code 52")


def test_a_hard_finish_of_a_task_already_finishing_kills_the_jobs_left():
    task = TaskFactory(status=T.FINISHING, oldstatus=T.RUNNING)
    running = JobFactory(jeditaskid=task.jeditaskid, jobstatus="running", prodsourcelabel="managed")
    enqueue(task, "finish")

    commando_run()

    assert fresh(running).jobstatus == "cancelled"
    assert fresh(task).status == T.PASSED


# --- retry and incexec ----------------------------------------------------------------------------


def failed_task(status=T.FINISHED, **task_fields):
    task = TaskFactory(status=status, attemptnr=0, **task_fields)
    done, failed, hard = input_contents(task, 3)
    DatasetContent.objects.filter(pk=done.pk).update(status="finished", attemptnr=1)
    DatasetContent.objects.filter(pk=failed.pk).update(status="failed", attemptnr=3, maxattempt=3)
    DatasetContent.objects.filter(pk=hard.pk).update(
        status="failed", attemptnr=2, maxattempt=3, failedattempt=2, maxfailure=2
    )
    TaskDataset.objects.filter(pk=done.dataset_id).update(status="done", nfilesused=3, nfilesfinished=1, nfilesfailed=2)
    return task, done, failed, hard


def test_retry_puts_failed_inputs_back_to_ready_with_a_fresh_allowance_and_the_task_to_ready():
    task, done, failed, hard = failed_task()
    command = enqueue(task, "retry")

    commando_run()

    assert fresh(task).status == T.READY
    assert task.attemptnr == 1
    assert history(task)[-2:] == [T.TORETRY, T.READY]
    assert (fresh(failed).status, failed.maxattempt) == ("ready", 6)
    assert fresh(done).status == "finished"
    # The hard failure limit was reached: only ignore_hard_exhausted retries that file.
    assert fresh(hard).status == "failed"
    dataset = TaskDataset.objects.get(pk=failed.dataset_id)
    assert (dataset.status, dataset.nfilesused, dataset.nfilesfailed) == ("ready", 2, 1)
    assert fresh(command).result == "1 failed input files back to ready; task ready"


def closed_outputs(task):
    """The task's output and log datasets, closed in DDM and in JEDI as the PostProcessor leaves them."""
    datasets = []
    for name, kind in (("user.jdoe:user.jdoe.retry.out", "output"), ("user.jdoe:user.jdoe.retry.log", "log")):
        ddm().register_dataset(name)
        ddm().close_dataset(name)
        datasets.append(TaskDatasetFactory(task=task, datasetname=name, type=kind, status="done", state="closed"))
    return datasets


@pytest.mark.parametrize("command", ["retry", "incexec"])
def test_retry_and_incexec_open_the_closed_output_datasets_again(command):
    task, _done, _failed, _hard = failed_task()
    datasets = closed_outputs(task)
    enqueue(task, command)

    commando_run()

    assert fresh(task).status in (T.READY, T.REREFINE)
    for dataset in datasets:
        assert ddm().get_dataset(dataset.datasetname).state == "open"
        assert (fresh(dataset).status, dataset.state) == ("ready", "open")


def test_a_retry_whose_output_dataset_cannot_be_opened_fails_and_changes_nothing():
    task, _done, failed, _hard = failed_task()
    output, _log = closed_outputs(task)
    Dataset.objects.filter(name="user.jdoe.retry.out").update(state="frozen")
    command = enqueue(task, "retry")

    commando_run()

    assert fresh(command).status == "failed"
    assert "cannot reopen output dataset user.jdoe:user.jdoe.retry.out" in command.result
    assert fresh(task).status == T.FINISHED
    assert (fresh(failed).status, fresh(output).state) == ("failed", "closed")


def test_retry_with_ignore_hard_exhausted_also_resets_the_files_at_their_failure_limit():
    task, _done, failed, hard = failed_task(status=T.FAILED)
    enqueue(task, "retry", ignore_hard_exhausted=True)

    commando_run()

    assert fresh(hard).status == "ready"
    assert (hard.maxattempt, hard.maxfailure) == (5, 5)
    assert fresh(failed).maxfailure is None


def test_retry_uses_the_tasks_own_max_attempt_and_one_attempt_with_disable_auto_retry():
    task, _done, failed, _hard = failed_task()
    params = json.loads(TaskParams.objects.get(task=task).taskparams)
    TaskParams.objects.filter(task=task).update(taskparams=json.dumps({**params, "maxAttempt": 5}))
    other, _d, other_failed, _h = failed_task()
    params = json.loads(TaskParams.objects.get(task=other).taskparams)
    TaskParams.objects.filter(task=other).update(taskparams=json.dumps({**params, "disableAutoRetry": True}))
    enqueue(task, "retry")
    enqueue(other, "retry")

    commando_run()

    assert fresh(failed).maxattempt == 8
    assert fresh(other_failed).maxattempt == 4


def test_retry_of_a_finished_task_whose_inputs_all_finished_since_it_was_queued_fails_and_leaves_the_task_alone():
    task = TaskFactory(status=T.FINISHED)
    (row,) = input_contents(task, 1, status="failed")
    command = enqueue(task, "retry")
    DatasetContent.objects.filter(pk=row.pk).update(status="finished")

    summary = commando_run()

    assert summary.failed == 1
    assert fresh(task).status == T.FINISHED
    assert fresh(command).status == "failed"
    assert "nothing to retry" in command.result
    assert T.TORETRY not in history(task)


def test_retry_of_an_exhausted_task_makes_it_ready_even_without_failed_inputs():
    task = TaskFactory(status=T.EXHAUSTED, oldstatus=T.PENDING)
    input_contents(task, 1)
    enqueue(task, "retry")

    commando_run()

    assert fresh(task).status == T.READY


def test_retry_with_new_parameters_re_refines_the_task_with_the_merged_map():
    task, _done, failed, _hard = failed_task()
    enqueue(task, "retry", new_parameters={"ramCount": 4000, "nFilesPerJob": None})

    commando_run()

    assert fresh(task).status == T.REREFINE
    params = json.loads(TaskParams.objects.get(task=task).taskparams)
    assert params["ramCount"] == 4000
    assert "nFilesPerJob" not in params
    assert params["taskName"] == task.taskname
    assert fresh(failed).status == "ready"


def test_incexec_merges_parameters_resets_failed_inputs_and_marks_inputs_to_update():
    task, _done, failed, _hard = failed_task(status=T.DONE)
    enqueue(task, "incexec", new_parameters={"site": "QUEUE_B"})

    commando_run()

    assert fresh(task).status == T.REREFINE
    assert task.attemptnr == 1
    assert history(task)[-2:] == [T.TOINCEXEC, T.REREFINE]
    assert json.loads(TaskParams.objects.get(task=task).taskparams)["site"] == "QUEUE_B"
    assert fresh(failed).status == "ready"
    assert set(TaskDataset.objects.filter(task=task).values_list("status", flat=True)) == {"toupdate"}


def test_reload_input_of_an_aborted_task_goes_to_rerefine_without_new_parameters():
    task = TaskFactory(status=T.ABORTED)
    before = TaskParams.objects.get(task=task).taskparams
    enqueue(task, "incexec")

    commando_run()

    assert fresh(task).status == T.REREFINE
    assert TaskParams.objects.get(task=task).taskparams == before


# --- reassign ----------------------------------------------------------------------------------------


def test_reassign_kills_all_jobs_with_51_sets_the_site_and_returns_once_they_are_gone():
    task = TaskFactory(status=T.RUNNING, site="QUEUE_A")
    queued = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated", prodsourcelabel="user")
    running = JobFactory(jeditaskid=task.jeditaskid, jobstatus="running", prodsourcelabel="user")
    enqueue(task, "reassign", site="QUEUE_B")

    commando_run()

    assert fresh(task).status == T.TOREASSIGN
    assert task.site == "QUEUE_B"
    assert (fresh(queued).jobstatus, queued.jobsubstatus) == ("closed", "toreassign")
    assert fresh(running).commandtopilot == "tobekilled"
    end_jobs(task)
    commando_run()
    assert fresh(task).status == T.RUNNING
    assert history(task)[-3:] == [T.TOREASSIGN, T.REASSIGNING, T.RUNNING]


def test_soft_reassign_kills_only_queued_jobs_and_goes_back_at_once():
    task = TaskFactory(status=T.SCOUTING)
    queued = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated", prodsourcelabel="user")
    running = JobFactory(jeditaskid=task.jeditaskid, jobstatus="running", prodsourcelabel="user")
    enqueue(task, "reassign", cloud="US", mode="soft")

    commando_run()

    assert (fresh(task).status, task.cloud) == (T.SCOUTING, "US")
    assert job_states(queued, running)[0][0] == "closed"
    assert fresh(running).commandtopilot is None


def test_nokill_reassign_only_changes_the_nucleus():
    task = TaskFactory(status=T.PENDING, oldstatus=T.READY)
    queued = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated")
    enqueue(task, "reassign", nucleus="CERN-PROD", mode="nokill")

    commando_run()

    assert (fresh(task).status, task.nucleus) == (T.PENDING, "CERN-PROD")
    assert fresh(queued).jobstatus == "activated"


# --- pause, resume, avalanche, release --------------------------------------------------------------


def test_pause_remembers_the_state_and_resume_goes_back_to_it():
    task = TaskFactory(status=T.SCOUTING)
    enqueue(task, "pause")
    commando_run()
    assert (fresh(task).status, task.oldstatus) == (T.PAUSED, T.SCOUTING)

    enqueue(task, "resume")
    commando_run()

    assert (fresh(task).status, task.oldstatus) == (T.SCOUTING, None)


def test_resume_of_a_throttled_task_goes_back_to_its_previous_state():
    task = TaskFactory(status=T.THROTTLED, oldstatus=T.RUNNING, throttledtime=utcnow())
    enqueue(task, "resume")

    commando_run()

    assert (fresh(task).status, task.throttledtime) == (T.RUNNING, None)


def test_resume_of_a_running_task_does_nothing_and_says_so():
    task = TaskFactory(status=T.RUNNING)
    command = enqueue(task, "resume")

    commando_run()

    assert fresh(task).status == T.RUNNING
    assert (fresh(command).status, command.result) == ("done", "nothing to resume: the task is running")


def test_avalanche_moves_a_scouting_task_to_running():
    task = TaskFactory(status=T.SCOUTING)
    enqueue(task, "avalanche")

    commando_run()

    assert fresh(task).status == T.RUNNING


def test_avalanche_of_a_ready_task_changes_nothing():
    task = TaskFactory(status=T.READY)
    command = enqueue(task, "avalanche")

    commando_run()

    assert fresh(task).status == T.READY
    assert "nothing to avalanche" in fresh(command).result


@pytest.mark.parametrize(
    ("status", "oldstatus", "expected"),
    [
        (T.PENDING, T.SCOUTING, T.SCOUTING),
        (T.PENDING, None, T.READY),
        (T.THROTTLED, T.RUNNING, T.RUNNING),
        (T.THROTTLED, T.PENDING, T.READY),
    ],
)
def test_release_returns_a_pending_or_throttled_task_to_where_it_may_go(status, oldstatus, expected):
    task = TaskFactory(status=status, oldstatus=oldstatus)
    enqueue(task, "release")

    commando_run()

    assert fresh(task).status == expected


# --- claiming and concurrency -------------------------------------------------------------------------


def test_a_command_no_longer_allowed_when_it_runs_fails_and_changes_nothing():
    task = TaskFactory(status=T.RUNNING)
    command = enqueue(task, "kill")
    Task.objects.filter(pk=task.pk).update(status=T.DONE)

    assert commando_run().failed == 1

    assert fresh(task).status == T.DONE
    assert fresh(command).status == "failed"
    assert "the kill command is not accepted if the task is in done status" in command.result


def test_a_command_waits_while_another_agent_holds_the_tasks_lease():
    task = TaskFactory(status=T.RUNNING)
    command = enqueue(task, "pause")
    Task.objects.filter(pk=task.pk).update(lockedby="generator:otherhost:1", lockedtime=utcnow())

    assert commando_run().deferred == 1
    assert (fresh(command).status, command.lockedby) == ("queued", None)
    assert fresh(task).status == T.RUNNING

    Task.objects.filter(pk=task.pk).update(lockedby=None, lockedtime=None)
    assert commando_run().done == 1
    assert fresh(task).status == T.PAUSED
    assert task.lockedby is None


def test_a_claimed_command_is_not_claimed_twice_until_its_claim_is_stale():
    task = TaskFactory(status=T.RUNNING)
    command = enqueue(task, "pause")

    assert [c.pk for c in commands_claim()] == [command.pk]
    assert commands_claim() == []
    TaskCommand.objects.filter(pk=command.pk).update(lockedtime=utcnow() - timedelta(hours=1))
    assert [c.pk for c in commands_claim()] == [command.pk]


def test_a_task_waiting_for_jobs_with_a_queued_command_is_left_to_that_command():
    task = TaskFactory(status=T.FINISHING, oldstatus=T.RUNNING)
    TaskCommand.objects.create(task=task, command="kill", lockedby="commando:elsewhere:1", lockedtime=utcnow())

    assert commando_run().completed == 0
    assert fresh(task).status == T.FINISHING


def test_a_task_leased_by_another_agent_is_not_completed():
    task = TaskFactory(status=T.ABORTING)
    tasks_claim(agent="postprocessor", statuses=[T.ABORTING])

    assert commando_run().completed == 0
    assert fresh(task).status == T.ABORTING


def test_the_management_command_and_the_celery_task_run_the_commando():
    first = TaskFactory(status=T.SCOUTING)
    second = TaskFactory(status=T.SCOUTING)
    enqueue(first, "avalanche")
    enqueue(second, "avalanche")
    out = StringIO()

    call_command("run_task_commando", "--batch-size", "1", stdout=out)
    assert out.getvalue().startswith("commando: 1 done")
    assert run_task_commando() == "commando: 1 done, 0 failed, 0 deferred, 0 tasks completed"

    assert {fresh(first).status, fresh(second).status} == {T.RUNNING}


def test_tasks_still_waiting_for_their_jobs_do_not_crowd_out_one_that_can_complete():
    old = utcnow() - timedelta(hours=1)
    for _ in range(2):
        waiting = TaskFactory(status=T.ABORTING, modificationtime=old)
        JobFactory(jeditaskid=waiting.jeditaskid, jobstatus="running")
    ready = TaskFactory(status=T.ABORTING)

    assert commando_run(batch_size=1).completed == 1

    assert fresh(ready).status == T.TOABORT
    assert set(Task.objects.exclude(pk=ready.pk).values_list("status", flat=True)) == {T.ABORTING}


def test_a_kill_that_stopped_half_way_is_run_again_once_its_claim_is_stale():
    task = TaskFactory(status=T.RUNNING)
    queued = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated", prodsourcelabel="user")
    command = enqueue(task, "kill")
    # A worker claimed it, moved the task to aborting and died before killing the jobs.
    TaskCommand.objects.filter(pk=command.pk).update(
        lockedby="commando:deadhost:1", lockedtime=utcnow() - timedelta(hours=1)
    )
    Task.objects.filter(pk=task.pk).update(status=T.ABORTING, oldstatus=T.RUNNING)

    assert commando_run().done == 1

    assert fresh(queued).jobstatus == "cancelled"
    assert fresh(task).status == T.TOABORT


def test_retry_of_a_soft_finished_task_makes_its_unprocessed_inputs_run_again():
    task = TaskFactory(status=T.FINISHED)
    done = input_contents(task, 1, status="finished")[0]
    unprocessed = DatasetContent.objects.filter(task=task).exclude(pk=done.pk)
    input_contents(task, 2, dataset="mc23:mc23.EVNT.e2")
    command = enqueue(task, "retry")

    summary = commando_run()

    assert summary.failed == 0 and fresh(command).status == "done"
    assert command.result == "0 failed input files back to ready, 2 unprocessed to run; task ready"
    assert fresh(task).status == T.READY
    assert unprocessed.filter(status="ready").count() == 2 and fresh(done).status == "finished"
