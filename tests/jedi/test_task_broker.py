from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.brokerage.models import BrokerageDecision
from apps.core.timeutil import utcnow
from apps.jedi import tasks
from apps.jedi.models import Task, TaskStatusLog
from apps.jedi.services.locks import tasks_claim
from apps.jedi.services.task_broker import task_assign_nucleus, task_broker_run
from apps.jedi.services.transitions import task_change_status
from apps.jedi.states import TaskStatus
from pandaweb.celery import app
from tests.factories import SiteFactory, StorageEndpointFactory
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


def assigning_task(**fields) -> Task:
    return TaskFactory(status=TaskStatus.ASSIGNING, prodsourcelabel="managed", tasktype="prod", **fields)


def nucleus(name: str, *, cloud: str = "DE", state: str = "ACTIVE"):
    site = SiteFactory(name=name, cloud=cloud, role="nucleus")
    StorageEndpointFactory(name=f"{name}_DATADISK", site=site, state=state)
    return site


def fresh(task: Task) -> Task:
    return Task.objects.get(pk=task.pk)


def broken_broker(task):
    raise RuntimeError("broker exploded")


def test_an_assigning_task_gets_its_nucleus_and_the_nucleus_cloud_and_becomes_ready():
    nucleus("NUC_DE", cloud="DE")
    task = assigning_task()

    summary = task_broker_run()

    task = fresh(task)
    assert (task.status, task.nucleus, task.cloud) == (TaskStatus.READY, "NUC_DE", "DE")
    assert task.lockedby is None
    assert str(summary) == "task_broker: 1 assigned, 0 pending, 0 failed, 0 changed meanwhile"
    log = TaskStatusLog.objects.filter(jeditaskid=task.pk).latest("id")
    assert (log.oldstatus, log.status, log.reason) == ("assigning", "ready", "nucleus NUC_DE chosen by task brokerage")
    assert BrokerageDecision.objects.get(jeditaskid=task.pk).kind == "task"


def test_without_a_usable_nucleus_the_task_waits_pending_for_half_an_hour_with_the_reason():
    nucleus("NUC_DOWN", state="OFFLINE")
    task = assigning_task()

    summary = task_broker_run()

    task = fresh(task)
    assert task.status == TaskStatus.PENDING
    assert task.oldstatus == TaskStatus.ASSIGNING
    assert task.errordialog == (
        "task brokerage: no nucleus (NUC_DOWN storage: no ACTIVE disk endpoint (NUC_DOWN_DATADISK OFFLINE))"
    )
    # The WatchDog retries pending tasks PANDA_JEDI_PENDING_RETRY after statechangetime: 30 min from now.
    retry_at = task.statechangetime + timedelta(seconds=settings.PANDA_JEDI_PENDING_RETRY)
    assert abs((retry_at - utcnow()) - timedelta(minutes=30)) < timedelta(seconds=30)
    assert summary.pending == 1
    log = TaskStatusLog.objects.filter(jeditaskid=task.pk).latest("id")
    assert log.status == "pending" and abs(log.modificationtime - utcnow()) < timedelta(seconds=30)


def test_with_no_nucleus_at_all_the_reason_says_so():
    task = assigning_task()

    task_broker_run()

    assert fresh(task).errordialog == "task brokerage: no nucleus available"


def test_only_free_assigning_tasks_are_brokered():
    nucleus("NUC_DE")
    ready = TaskFactory(status=TaskStatus.READY)
    held = assigning_task(lockedby="someone:else:1", lockedtime=utcnow())

    summary = task_broker_run()

    assert fresh(ready).nucleus is None
    assert fresh(held).status == TaskStatus.ASSIGNING
    assert summary.assigned == 0


def test_a_task_changed_meanwhile_is_left_alone():
    nucleus("NUC_DE")
    task = assigning_task()
    [claimed] = tasks_claim(agent="task_broker", statuses=[TaskStatus.ASSIGNING])
    task_change_status(fresh(task), new=TaskStatus.PAUSED)

    assert task_assign_nucleus(claimed) == "skipped"
    assert fresh(task).status == TaskStatus.PAUSED
    assert fresh(task).nucleus is None


def test_a_failing_broker_leaves_the_task_assigning_and_releases_it(settings):
    settings.PANDA_JEDI_PLUGINS = {"task_broker": {"default": "tests.jedi.test_task_broker.broken_broker"}}
    task = assigning_task()

    summary = task_broker_run()

    assert summary.failed == 1
    assert fresh(task).status == TaskStatus.ASSIGNING
    assert fresh(task).lockedby is None


def test_the_batch_size_bounds_one_run():
    nucleus("NUC_DE")
    for _ in range(3):
        assigning_task()

    assert task_broker_run(batch_size=2).assigned == 2
    assert task_broker_run(batch_size=2).assigned == 1


def test_the_celery_task_and_the_command_run_the_task_broker():
    nucleus("NUC_DE")
    first, second = assigning_task(), assigning_task()
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        assert tasks.run_task_broker.delay().get().startswith("task_broker: ")
    finally:
        app.conf.task_always_eager = saved
    out = StringIO()
    call_command("run_task_broker", "--batch-size", "5", stdout=out)

    assert out.getvalue().startswith("task_broker: 0 assigned")
    assert {fresh(first).status, fresh(second).status} == {TaskStatus.READY}


def test_the_beat_table_runs_the_task_broker_every_ten_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["run_task_broker"]
    assert entry["task"] == "apps.jedi.tasks.run_task_broker"
    assert entry["schedule"] == 600.0
