import pytest

from apps.accounts.identity import Identity
from apps.jedi.models import DatasetContent, Task, TaskCommand, TaskDataset
from apps.jedi.services.commands import (
    InvalidCommand,
    task_change_priority,
    task_command_enqueue,
    task_increase_attempts,
)
from apps.jedi.states import Command, TaskStatus
from apps.jobs.models import Job
from tests.factories import JobFactory
from tests.jedi_factories import TaskFactory, input_contents

pytestmark = pytest.mark.django_db

T = TaskStatus
ALL = [s.value for s in TaskStatus]
FINAL = {T.DONE, T.FINISHED, T.FAILED, T.BROKEN, T.ABORTED}
NON_FINAL = set(ALL) - FINAL
ACTIVE = {T.READY, T.PENDING, T.SCOUTING, T.SCOUTED, T.RUNNING, T.THROTTLED, T.PREPROCESSING}
NOT_KILLABLE = {T.FINISHED, T.DONE, T.PREPARED, T.BROKEN, T.ABORTED, T.TOABORT, T.ABORTING, T.FAILED}

# states.md §8, written out independently of apps/jedi/states.py ...
SPEC_ALLOWED = {
    "kill": set(ALL) - NOT_KILLABLE,
    "finish": set(ALL) - NOT_KILLABLE,
    "retry": {T.FINISHED, T.FAILED, T.EXHAUSTED},  # exhausted: production (all calls here are)
    "incexec": {T.FINISHED, T.FAILED, T.ABORTED, T.DONE, T.EXHAUSTED},
    "reassign": NON_FINAL,
    "pause": set(ALL) - {T.FINISHED, T.FAILED, T.DONE, T.ABORTED, T.BROKEN, T.PAUSED},
    "resume": NON_FINAL,
    "avalanche": NON_FINAL,
    "release": NON_FINAL,
}
# ... minus the states from which §7's transitions cannot reach the command's intermediate state.
NO_WAY_IN = {
    "kill": {T.FINISHING, T.PASSED, T.TOBROKEN},
    "finish": {T.PASSED, T.TOBROKEN},
    "reassign": {T.REASSIGNING, T.ABORTING, T.TOABORT},
    "pause": {T.ABORTING, T.TOABORT},
}
CASES = [(command, status) for command in Command.values for status in ALL]

PRODUCTION = Identity(user_id=None, username="prod", dn="/DC=ch/CN=Prod Manager", fqans=("/atlas/Role=production",))
OWNER = Identity(user_id=None, username="jdoe", dn="/DC=ch/DC=cern/OU=Users/CN=Jane Doe")
STRANGER = Identity(user_id=None, username="other", dn="/DC=ch/DC=cern/OU=Users/CN=John Smith")
ANONYMOUS = Identity(user_id=None, username="", dn="", authenticated=False)


def queued(task):
    return list(TaskCommand.objects.filter(task=task, status="queued").values_list("command", flat=True))


def status_of(task):
    return Task.objects.get(pk=task.pk).status


@pytest.mark.parametrize(("command", "status"), CASES)
def test_every_command_in_every_state_is_queued_or_refused_as_the_spec_says(command, status):
    task = TaskFactory(status=status)
    input_contents(task, 1, status="failed")  # something to retry
    parameters = {"site": "QUEUE_B"} if command == "reassign" else None

    outcome = task_command_enqueue(PRODUCTION, task.jeditaskid, command, parameters=parameters)

    if command == "retry" and status in ACTIVE:
        assert outcome.code == 0
        assert outcome.message == f"retry has been triggered for failed jobs while the task is still {status}"
        assert queued(task) == []
    elif status in SPEC_ALLOWED[command] and status not in NO_WAY_IN.get(command, ()):
        assert outcome.code == 0
        assert outcome.message == (
            f"command={command} is registered for task ID {task.jeditaskid}. will be executed in a few minutes"
        )
        assert queued(task) == [command]
    else:
        assert outcome.code == 4
        assert f"the {command} command is not accepted if the task is in {status} status" in outcome.message
        assert queued(task) == []
    # Queueing never moves the task: the TaskCommando does, when it executes the command.
    assert status_of(task) == status


def test_a_command_for_an_unknown_task_answers_code_2():
    outcome = task_command_enqueue(PRODUCTION, 987654, "kill")

    assert outcome == (2, "jediTaskID=987654 not found")
    assert TaskCommand.objects.count() == 0


@pytest.mark.parametrize("command", ["kill", "finish", "reassign", "incexec", "retry"])
def test_the_owner_may_send_the_owner_commands_to_their_own_task(command):
    status = T.FAILED if command in ("incexec", "retry") else T.RUNNING
    task = TaskFactory(status=status)
    input_contents(task, 1, status="failed")
    parameters = {"site": "QUEUE_B"} if command == "reassign" else None

    outcome = task_command_enqueue(OWNER, task.jeditaskid, command, parameters=parameters)

    assert outcome.code == 0
    assert TaskCommand.objects.get(task=task).owner == "Jane Doe"


@pytest.mark.parametrize("command", ["kill", "finish", "incexec", "retry"])
def test_someone_else_may_not_command_a_task_and_nothing_is_queued(command):
    task = TaskFactory(status=T.FAILED if command in ("incexec", "retry") else T.RUNNING)

    outcome = task_command_enqueue(STRANGER, task.jeditaskid, command)

    assert outcome == (3, "Permission denied: not the task owner or no production role")
    assert queued(task) == []


@pytest.mark.parametrize("command", ["pause", "resume", "release", "avalanche"])
def test_the_production_only_commands_are_refused_to_the_owner(command):
    task = TaskFactory(status=T.SCOUTING)

    assert task_command_enqueue(OWNER, task.jeditaskid, command).code == 3
    assert task_command_enqueue(PRODUCTION, task.jeditaskid, command).code == 0


def test_an_unauthenticated_caller_may_not_command_anything():
    task = TaskFactory(status=T.RUNNING, username="")

    assert task_command_enqueue(ANONYMOUS, task.jeditaskid, "kill").code == 3


def test_retrying_an_exhausted_task_needs_the_production_role():
    task = TaskFactory(status=T.EXHAUSTED)

    assert task_command_enqueue(OWNER, task.jeditaskid, "retry").code == 3
    assert task_command_enqueue(PRODUCTION, task.jeditaskid, "retry").code == 0


def test_ignore_hard_exhausted_is_dropped_for_a_caller_without_production():
    mine = TaskFactory(status=T.FAILED)
    theirs = TaskFactory(status=T.FAILED)
    input_contents(mine, 1, status="failed")
    input_contents(theirs, 1, status="failed")

    task_command_enqueue(OWNER, mine.jeditaskid, "retry", parameters={"ignore_hard_exhausted": True})
    task_command_enqueue(PRODUCTION, theirs.jeditaskid, "retry", parameters={"ignore_hard_exhausted": True})

    assert TaskCommand.objects.get(task=mine).parameters["ignore_hard_exhausted"] is False
    assert TaskCommand.objects.get(task=theirs).parameters["ignore_hard_exhausted"] is True


def test_a_second_command_while_one_is_queued_is_refused_clearly():
    task = TaskFactory(status=T.RUNNING)
    assert task_command_enqueue(PRODUCTION, task.jeditaskid, "pause").code == 0

    outcome = task_command_enqueue(PRODUCTION, task.jeditaskid, "kill")

    assert outcome.code == 4
    assert "command=pause is already registered" in outcome.message
    assert queued(task) == ["pause"]


def test_a_command_may_be_queued_again_once_the_previous_one_ran():
    task = TaskFactory(status=T.RUNNING)
    task_command_enqueue(PRODUCTION, task.jeditaskid, "pause")
    TaskCommand.objects.filter(task=task).update(status="done")

    assert task_command_enqueue(PRODUCTION, task.jeditaskid, "kill").code == 0
    assert queued(task) == ["kill"]


def test_the_command_row_keeps_who_asked_why_and_with_which_parameters():
    task = TaskFactory(status=T.RUNNING)

    task_command_enqueue(
        PRODUCTION, task.jeditaskid, "reassign", parameters={"cloud": "US", "mode": "soft"}, comment="queue down"
    )

    row = TaskCommand.objects.get(task=task)
    assert (row.command, row.owner, row.comment) == ("reassign", "Prod Manager", "queue down")
    assert row.parameters == {"cloud": "US", "mode": "soft"}


@pytest.mark.parametrize(
    ("command", "parameters", "error"),
    [
        ("reassign", {}, "reassign needs a site, a cloud or a nucleus"),
        ("reassign", {"site": "Q", "mode": "hard"}, "mode must be one of"),
        ("retry", {"new_parameters": ["not", "a", "map"]}, "new_parameters must be an object"),
        ("kill", "broadcast", "parameters must be an object"),
        ("explode", None, "unknown task command"),
    ],
)
def test_bad_command_input_raises_a_clear_error_and_queues_nothing(command, parameters, error):
    task = TaskFactory(status=T.FAILED)

    with pytest.raises(InvalidCommand, match=error):
        task_command_enqueue(PRODUCTION, task.jeditaskid, command, parameters=parameters)

    assert TaskCommand.objects.count() == 0


# --- retry of a task that is still active (code 5 of protocol.md §10.3) -----------------------------


def test_retrying_a_running_task_gives_its_failed_inputs_five_more_attempts_at_once():
    task = TaskFactory(status=T.RUNNING)
    failed, ready = input_contents(task, 2)
    DatasetContent.objects.filter(pk=failed.pk).update(status="failed", attemptnr=3, maxattempt=3)
    TaskDataset.objects.filter(pk=failed.dataset_id).update(nfilesused=2, nfilesfailed=1)

    outcome = task_command_enqueue(OWNER, task.jeditaskid, "retry")

    assert outcome == (0, "retry has been triggered for failed jobs while the task is still running")
    failed.refresh_from_db()
    ready.refresh_from_db()
    assert (failed.status, failed.maxattempt) == ("ready", 8)
    assert (ready.status, ready.maxattempt) == ("ready", 8)
    dataset = TaskDataset.objects.get(pk=failed.dataset_id)
    assert (dataset.nfilesused, dataset.nfilesfailed) == (1, 0)
    assert queued(task) == []


def test_retrying_a_running_task_with_new_parameters_answers_code_3():
    task = TaskFactory(status=T.SCOUTING)

    outcome = task_command_enqueue(OWNER, task.jeditaskid, "retry", parameters={"new_parameters": {"ramCount": 9}})

    assert outcome == (3, "retry has been triggered for failed jobs while the task is still scouting")


def test_a_stranger_may_not_trigger_the_retry_of_a_running_task():
    task = TaskFactory(status=T.RUNNING)
    (failed,) = input_contents(task, 1, status="failed", attemptnr=3, maxattempt=3)

    assert task_command_enqueue(STRANGER, task.jeditaskid, "retry").code == 3
    failed.refresh_from_db()
    assert (failed.status, failed.maxattempt) == ("failed", 3)


# --- change_priority ---------------------------------------------------------------------------------


def test_change_priority_sets_the_task_and_its_queued_jobs_but_not_the_running_ones():
    task = TaskFactory(status=T.RUNNING, currentpriority=1000)
    queued_job = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated", currentpriority=1000)
    running_job = JobFactory(jeditaskid=task.jeditaskid, jobstatus="running", currentpriority=1000)
    other = JobFactory(jeditaskid=task.jeditaskid + 1, jobstatus="activated", currentpriority=1000)

    outcome = task_change_priority(PRODUCTION, task.jeditaskid, 2000)

    assert outcome.code == 0
    assert Task.objects.get(pk=task.pk).currentpriority == 2000
    priorities = dict(Job.objects.values_list("pandaid", "currentpriority"))
    assert priorities == {queued_job.pandaid: 2000, running_job.pandaid: 1000, other.pandaid: 1000}


def test_change_priority_needs_production_and_a_task_not_frozen():
    task = TaskFactory(status=T.RUNNING, currentpriority=1000)
    done = TaskFactory(status=T.DONE, currentpriority=1000)

    assert task_change_priority(OWNER, task.jeditaskid, 5).code == 3
    assert task_change_priority(PRODUCTION, done.jeditaskid, 5).code == 4
    assert task_change_priority(PRODUCTION, 987654, 5).code == 2
    assert set(Task.objects.values_list("currentpriority", flat=True)) == {1000}


# --- increase_attempts --------------------------------------------------------------------------------


def test_increase_attempts_raises_the_limits_and_reactivates_exhausted_inputs():
    task = TaskFactory(status=T.RUNNING)
    alive, failed, finished = input_contents(task, 3)
    DatasetContent.objects.filter(pk=alive.pk).update(attemptnr=1, maxattempt=3, maxfailure=2, failedattempt=1)
    DatasetContent.objects.filter(pk=failed.pk).update(status="failed", attemptnr=3, maxattempt=3)
    DatasetContent.objects.filter(pk=finished.pk).update(status="finished", attemptnr=1, maxattempt=3)
    TaskDataset.objects.filter(pk=alive.dataset_id).update(nfilesused=3, nfilesfailed=1, nfilesfinished=1)

    outcome = task_increase_attempts(PRODUCTION, task.jeditaskid, 2)

    assert outcome == (0, "increased attemptNr for 2 inputs (1 reactivated)")
    rows = {f.pk: f for f in DatasetContent.objects.all()}
    assert (rows[alive.pk].maxattempt, rows[alive.pk].maxfailure) == (5, 4)
    assert (rows[failed.pk].status, rows[failed.pk].maxattempt, rows[failed.pk].maxfailure) == ("ready", 5, None)
    assert (rows[finished.pk].status, rows[finished.pk].maxattempt) == ("finished", 3)
    dataset = TaskDataset.objects.get(pk=alive.dataset_id)
    assert (dataset.nfilesused, dataset.nfilesfailed, dataset.nfilesfinished) == (2, 0, 1)


def test_increase_attempts_of_a_paused_task_counts_the_state_it_came_from():
    task = TaskFactory(status=T.PAUSED, oldstatus=T.RUNNING)

    assert task_increase_attempts(PRODUCTION, task.jeditaskid, 1).code == 0


@pytest.mark.parametrize(
    ("status", "oldstatus"), [(T.DONE, None), (T.DEFINED, None), (T.ABORTING, T.RUNNING), (T.EXHAUSTED, T.PENDING)]
)
def test_increase_attempts_refuses_tasks_that_are_not_running_with_code_2(status, oldstatus):
    task = TaskFactory(status=status, oldstatus=oldstatus)
    (f,) = input_contents(task, 1, status="failed", attemptnr=3, maxattempt=3)

    outcome = task_increase_attempts(PRODUCTION, task.jeditaskid, 1)

    assert outcome.code == 2
    assert "command rejected since status=" in outcome.message
    f.refresh_from_db()
    assert (f.status, f.maxattempt) == ("failed", 3)


def test_increase_attempts_answers_the_codes_panda_client_documents():
    task = TaskFactory(status=T.RUNNING)

    assert task_increase_attempts(PRODUCTION, 987654, 1).code == 1
    assert task_increase_attempts(OWNER, task.jeditaskid, 1).code == 3
    assert task_increase_attempts(PRODUCTION, task.jeditaskid, -1).code == 4


@pytest.mark.parametrize("status", [T.FINISHED, T.FAILED])
def test_a_retry_with_nothing_to_retry_is_refused_with_code_4_and_nothing_is_queued(status):
    task = TaskFactory(status=status)
    input_contents(task, 2, status="finished")

    outcome = task_command_enqueue(OWNER, task.jeditaskid, "retry")

    assert outcome.code == 4
    assert outcome.message == (
        f"Command rejected: nothing to retry: the {status} task has no failed or unprocessed input files"
    )
    assert queued(task) == []


def test_a_retry_of_a_soft_finished_task_with_unprocessed_inputs_is_queued():
    task = TaskFactory(status=T.FINISHED)
    input_contents(task, 2, status="finished")
    DatasetContent.objects.filter(pk=input_contents(task, 1, dataset="mc23:mc23.EVNT.e2")[0].pk).update(status="ready")

    assert task_command_enqueue(OWNER, task.jeditaskid, "retry").code == 0
    assert queued(task) == ["retry"]


def test_ready_rows_of_a_secondary_dataset_are_not_work_to_retry():
    task = TaskFactory(status=T.FINISHED)
    master = input_contents(task, 1, status="finished")[0]
    secondary = input_contents(task, 1, dataset="ddo:ddo.DBR.v1")[0]
    TaskDataset.objects.filter(pk=secondary.dataset_id).update(masterid=master.dataset_id)

    assert task_command_enqueue(OWNER, task.jeditaskid, "retry").code == 4


def test_failed_inputs_at_their_failure_limit_are_work_to_retry_only_with_ignore_hard_exhausted():
    task = TaskFactory(status=T.FAILED)
    input_contents(task, 1, status="failed", attemptnr=2, maxattempt=3, failedattempt=2, maxfailure=2)

    assert task_command_enqueue(PRODUCTION, task.jeditaskid, "retry").code == 4
    outcome = task_command_enqueue(PRODUCTION, task.jeditaskid, "retry", parameters={"ignore_hard_exhausted": True})
    assert outcome.code == 0 and queued(task) == ["retry"]
