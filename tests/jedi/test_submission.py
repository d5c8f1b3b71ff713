import json

import pytest

from apps.accounts.identity import identity_for_user
from apps.jedi.models import Task, TaskCommand, TaskParams, TaskStatusLog
from apps.jedi.services.submission import task_submit
from apps.jedi.states import TaskStatus
from apps.shares.models import GlobalShare
from tests.factories import PandaQueueFactory, UserFactory, production_user, queue_document
from tests.jedi_factories import TaskFactory, ddm_dataset_with_files, task_params

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def world():
    ddm_dataset_with_files("mc23.EVNT.e1", 3)
    PandaQueueFactory(name="Q1", document=queue_document("Q1", "SITE1", maxrss=4000, maxtime=86400, corecount=1))


@pytest.fixture
def user():
    return identity_for_user(UserFactory())


@pytest.fixture
def production():
    return identity_for_user(production_user())


def nothing_stored():
    return Task.objects.count() == 0 and TaskParams.objects.count() == 0 and TaskStatusLog.objects.count() == 0


def test_a_good_submission_registers_the_task_with_its_parameters_and_creation_log(user):
    outcome = task_submit(user, task_params())

    task = Task.objects.get()
    assert (outcome.code, outcome.jeditaskid, outcome.success) == (0, task.jeditaskid, True)
    assert outcome.message == f"succeeded. new jediTaskID={task.jeditaskid}"
    assert task.status == TaskStatus.REGISTERED and task.taskname == "user.jdoe.test.001/"
    assert task.splitrule == "NF=2,US=1,MA=3" and task.ramcount == 1000
    stored = json.loads(task.params.taskparams)
    assert stored["taskName"] == "user.jdoe.test.001/"
    (log,) = TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid)
    assert (log.oldstatus, log.status) == (None, "registered")


def test_a_non_production_caller_gets_its_own_name_analysis_type_and_priority_1000(user):
    task_submit(user, task_params(userName="Somebody Else", taskType="prod", taskPriority=5000))

    task = Task.objects.get()
    assert task.username == user.compact_name and task.tasktype == "anal" and task.taskpriority == 1000
    assert json.loads(task.params.taskparams)["userName"] == user.compact_name
    assert task.userdn == user.dn


def test_a_production_caller_keeps_the_name_type_and_priority_it_gives(production):
    task_submit(
        production, task_params(userName="prodsys", taskType="prod", prodSourceLabel="managed", taskPriority=900)
    )

    task = Task.objects.get()
    assert (task.username, task.tasktype, task.taskpriority, task.prodsourcelabel) == (
        "prodsys",
        "prod",
        900,
        "managed",
    )


def test_managed_tasks_need_the_production_role(user):
    outcome = task_submit(user, task_params(prodSourceLabel="managed"))
    assert outcome.code == 4 and "production role" in outcome.message
    assert nothing_stored()


def test_the_global_share_comes_from_the_share_tree(user):
    GlobalShare.objects.create(name="User Analysis", value=100, prodsourcelabel="user|panda")
    task_submit(user, task_params())
    assert Task.objects.get().gshare == "User Analysis"


def test_the_parent_task_is_recorded_and_an_unknown_parent_is_refused(user):
    parent = TaskFactory()
    outcome = task_submit(user, task_params(), parent_tid=parent.jeditaskid)
    assert outcome.code == 0 and Task.objects.get(jeditaskid=outcome.jeditaskid).parent_tid == parent.jeditaskid

    outcome = task_submit(user, task_params(taskName="user.jdoe.other/"), parent_tid=999999)
    assert (outcome.code, outcome.message) == (11, "parent task jediTaskID=999999 not found")
    assert Task.objects.count() == 2


def test_bad_parameters_are_refused_with_the_reason_and_nothing_stored(user):
    outcome = task_submit(user, task_params(coreCount=-2))
    assert outcome.code == 4 and outcome.message == "refused: coreCount must be at least 0, got -2"
    assert not outcome.success and nothing_stored()


def test_parameters_that_are_not_an_object_are_refused(user):
    outcome = task_submit(user, ["taskName"])
    assert outcome.code == 4 and "JSON object" in outcome.message and nothing_stored()


def test_an_input_dataset_unknown_to_ddm_is_refused(user):
    params = task_params()
    params["jobParameters"][1]["dataset"] = "mc23:mc23.EVNT.missing"
    outcome = task_submit(user, params)
    assert outcome.code == 4 and outcome.message == "refused: input dataset mc23:mc23.EVNT.missing is unknown to DDM"
    assert nothing_stored()


@pytest.mark.parametrize(
    ("overrides", "limit"),
    [
        ({"ramCount": 5000}, "ramCount 5000 MB x 1 cores (+0 MB base) > maxrss 4000 MB"),
        ({"ramCount": 3000, "baseRamCount": 2000}, "(+2000 MB base) > maxrss 4000 MB"),
        ({"walltime": 100000}, "walltime 100000 s > maxtime 86400 s"),
        ({"coreCount": 8}, "coreCount 8 > queue corecount 1"),
    ],
)
def test_resources_no_queue_offers_are_refused_naming_the_limit(user, overrides, limit):
    outcome = task_submit(user, task_params(**overrides))
    assert outcome.code == 4 and "no queue can run the task: Q1: " in outcome.message
    assert limit in outcome.message
    assert nothing_stored()


def test_one_queue_that_fits_is_enough(user):
    document = queue_document("Q8", "SITE8", maxrss=64000, maxtime=86400, corecount=8)
    PandaQueueFactory(name="Q8", document=document)
    assert task_submit(user, task_params(coreCount=8, ramCount=2000)).code == 0


def test_a_single_core_task_cannot_use_a_multicore_only_queue(user):
    PandaQueueFactory._meta.model.objects.all().delete()
    PandaQueueFactory(name="Q8", document=queue_document("Q8", "SITE8", maxrss=64000, corecount=8))
    outcome = task_submit(user, task_params())
    assert outcome.code == 4 and "single-core task but the queue has corecount 8" in outcome.message


def test_a_site_that_matches_no_queue_is_refused(user):
    outcome = task_submit(user, task_params(site="NOWHERE"))
    assert (outcome.code, outcome.message) == (4, "refused: site NOWHERE matches no queue")
    assert task_submit(user, task_params(site="Q.*")).code == 0


def test_a_duplicate_of_a_still_registered_task_answers_code_1(user):
    first = task_submit(user, task_params())
    again = task_submit(user, task_params())
    assert again.code == 1 and again.jeditaskid == first.jeditaskid
    assert again.message == f"task user.jdoe.test.001/ is already registered as jediTaskID={first.jeditaskid}"
    assert Task.objects.count() == 1


def test_a_unique_task_name_still_active_answers_code_2(user):
    first = task_submit(user, task_params(uniqueTaskName=True))
    Task.objects.filter(pk=first.jeditaskid).update(status=TaskStatus.RUNNING)
    again = task_submit(user, task_params(uniqueTaskName=True))
    assert again.code == 2 and "is still running" in again.message and not again.success
    assert Task.objects.count() == 1


def test_without_unique_task_name_an_active_name_gets_a_new_task(user):
    first = task_submit(user, task_params())
    Task.objects.filter(pk=first.jeditaskid).update(status=TaskStatus.RUNNING)
    assert task_submit(user, task_params()).code == 0
    assert Task.objects.count() == 2


@pytest.mark.parametrize("status", [TaskStatus.FINISHED, TaskStatus.DONE, TaskStatus.FAILED])
def test_resubmitting_a_finished_task_queues_an_incexec_with_the_new_parameters(user, status):
    first = task_submit(user, task_params(uniqueTaskName=True))
    Task.objects.filter(pk=first.jeditaskid).update(status=status)

    again = task_submit(user, task_params(uniqueTaskName=True, nFilesPerJob=5))

    assert (again.code, again.jeditaskid, again.success) == (3, first.jeditaskid, True)
    assert again.message == f"succeeded. new jediTaskID={first.jeditaskid}"
    command = TaskCommand.objects.get()
    assert (command.task_id, command.command, command.status) == (first.jeditaskid, "incexec", "queued")
    assert command.parameters["new_parameters"]["nFilesPerJob"] == 5
    assert command.owner == user.compact_name
    assert Task.objects.count() == 1


def test_a_second_resubmission_while_the_incexec_waits_answers_code_1(user):
    first = task_submit(user, task_params())
    Task.objects.filter(pk=first.jeditaskid).update(status=TaskStatus.DONE)
    assert task_submit(user, task_params()).code == 3
    again = task_submit(user, task_params())
    assert again.code == 1 and "already registered for task ID" in again.message
    assert TaskCommand.objects.count() == 1


def test_a_resubmission_with_bad_parameters_queues_nothing(user):
    first = task_submit(user, task_params())
    Task.objects.filter(pk=first.jeditaskid).update(status=TaskStatus.DONE)
    assert task_submit(user, task_params(ramCount=-1)).code == 4
    assert TaskCommand.objects.count() == 0


def test_too_many_active_tasks_answers_code_10(user, settings):
    settings.PANDA_MAX_ACTIVE_TASKS_PER_USER = 2
    assert task_submit(user, task_params(taskName="t1")).code == 0
    assert task_submit(user, task_params(taskName="t2")).code == 0
    outcome = task_submit(user, task_params(taskName="t3"))
    assert outcome.code == 10 and outcome.message == f"too many active tasks: {user.compact_name} has 2 (limit 2)"
    Task.objects.filter(taskname="t1").update(status=TaskStatus.DONE)
    assert task_submit(user, task_params(taskName="t3")).code == 0
