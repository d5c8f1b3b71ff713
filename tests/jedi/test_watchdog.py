from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from apps.core.timeutil import utcnow
from apps.jedi import tasks
from apps.jedi.models import DatasetContent, Task, TaskCommand, TaskDataset, TaskStatusLog
from apps.jedi.services.feedback import feedback_run
from apps.jedi.services.watchdog import (
    files_rescue_picked,
    leases_release_stale,
    tasks_check_goal,
    tasks_expire_pending,
    tasks_kick_exhausted,
    tasks_recheck_throttled,
    tasks_retry_pending,
    watchdog_run,
)
from tests.factories import JobFactory
from tests.jedi_factories import TaskDatasetFactory, TaskFactory, input_contents

pytestmark = pytest.mark.django_db


def ago(**delta):
    return utcnow() - timedelta(**delta)


def task_in(status, *, since, **fields):
    """A task that entered ``status`` at ``since`` (the clock is moved by writing the timestamps)."""
    task = TaskFactory(status=status, **fields)
    Task.objects.filter(pk=task.pk).update(statechangetime=since, modificationtime=since)
    return Task.objects.get(pk=task.pk)


def status_of(task):
    return Task.objects.get(pk=task.pk).status


# --- leases ---------------------------------------------------------------------------------------


def test_leases_older_than_an_hour_are_released():
    stale = TaskFactory(lockedby="generator:dead:1", lockedtime=ago(minutes=61))
    live = TaskFactory(lockedby="generator:alive:2", lockedtime=ago(minutes=5))
    dataset = TaskDatasetFactory(lockedby="feeder:dead:3", lockedtime=ago(hours=3))

    assert leases_release_stale() == 2

    assert Task.objects.get(pk=stale.pk).lockedby is None
    assert Task.objects.get(pk=live.pk).lockedby == "generator:alive:2"
    assert TaskDataset.objects.get(pk=dataset.pk).lockedby is None


def test_the_lease_timeout_is_a_setting(settings):
    settings.PANDA_JEDI_LOCK_TIMEOUT = 60
    task = TaskFactory(lockedby="generator:slow:1", lockedtime=ago(minutes=5))

    assert leases_release_stale() == 1
    assert Task.objects.get(pk=task.pk).lockedby is None


# --- picked files without a job -------------------------------------------------------------------


def test_picked_files_without_a_job_are_given_back_after_30_minutes():
    task = TaskFactory(status="running")
    orphan, held, ready = input_contents(task, 3)
    TaskDataset.objects.filter(task=task).update(nfilesused=2)
    job = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated")
    DatasetContent.objects.filter(pk=orphan.pk).update(status="picked", pandaid=job.pandaid + 1000)
    DatasetContent.objects.filter(pk=held.pk).update(status="picked", pandaid=job.pandaid)

    # first sighting starts the clock
    assert files_rescue_picked() == 0
    assert DatasetContent.objects.get(pk=orphan.pk).lastattempttime is not None

    DatasetContent.objects.filter(pk=orphan.pk).update(lastattempttime=ago(minutes=31))
    assert files_rescue_picked() == 1

    rows = {row.pk: row for row in DatasetContent.objects.filter(task=task)}
    assert (rows[orphan.pk].status, rows[orphan.pk].pandaid) == ("ready", None)
    assert (rows[held.pk].status, rows[held.pk].pandaid) == ("picked", job.pandaid)
    assert TaskDataset.objects.get(task=task).nfilesused == 1


def test_picked_files_seen_recently_wait():
    task = TaskFactory(status="running")
    (orphan,) = input_contents(task, 1)
    DatasetContent.objects.filter(pk=orphan.pk).update(status="picked", pandaid=None, lastattempttime=ago(minutes=29))

    assert files_rescue_picked() == 0
    assert DatasetContent.objects.get(pk=orphan.pk).status == "picked"


# --- pending ----------------------------------------------------------------------------------------


def test_a_pending_task_is_retried_after_an_hour_back_to_its_old_state():
    task = task_in("pending", since=ago(minutes=61), oldstatus="running")
    young = task_in("pending", since=ago(minutes=50), oldstatus="running")

    assert tasks_retry_pending() == 1

    task = Task.objects.get(pk=task.pk)
    assert (task.status, task.oldstatus) == ("running", None)
    assert task.frozentime is not None  # the pending streak started
    assert status_of(young) == "pending"


@pytest.mark.parametrize("oldstatus", [None, "paused", "pending"])
def test_a_pending_task_without_a_usable_old_state_goes_to_ready(oldstatus):
    task = task_in("pending", since=ago(hours=2), oldstatus=oldstatus)

    tasks_retry_pending()

    assert status_of(task) == "ready"


def test_a_task_pending_for_seven_days_is_exhausted():
    task = task_in("pending", since=ago(minutes=10), frozentime=ago(days=7, minutes=1))
    recent = task_in("pending", since=ago(minutes=10), frozentime=ago(days=6))
    never_retried = task_in("pending", since=ago(days=8))

    assert tasks_expire_pending() == 2

    assert status_of(task) == "exhausted"
    assert status_of(never_retried) == "exhausted"
    assert status_of(recent) == "pending"
    log = TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid).latest("id")
    assert (log.oldstatus, log.status, log.reason) == ("pending", "exhausted", "pending for more than 7 days")


def test_the_pending_timeout_can_differ_per_label(settings):
    settings.PANDA_JEDI_PENDING_TIMEOUTS = {"user": 86400}
    user = task_in("pending", since=ago(days=2), prodsourcelabel="user")
    managed = task_in("pending", since=ago(days=2), prodsourcelabel="managed")

    assert tasks_expire_pending() == 1

    assert (status_of(user), status_of(managed)) == ("exhausted", "pending")


def test_the_pending_streak_survives_retries_and_ends_when_a_job_finishes():
    task = task_in("pending", since=ago(hours=2), oldstatus="running")
    tasks_retry_pending()
    started = Task.objects.get(pk=task.pk).frozentime
    (row,) = input_contents(task, 1)
    job = JobFactory(jeditaskid=task.jeditaskid, jobstatus="finished")
    DatasetContent.objects.filter(pk=row.pk).update(status="picked", pandaid=job.pandaid)

    assert started is not None
    feedback_run()

    assert Task.objects.get(pk=task.pk).frozentime is None


# --- throttled / exhausted --------------------------------------------------------------------------


def test_a_throttled_task_is_rechecked_after_two_hours():
    task = task_in("throttled", since=ago(minutes=121), oldstatus="scouting")
    young = task_in("throttled", since=ago(minutes=100), oldstatus="running")

    assert tasks_recheck_throttled() == 1

    assert (status_of(task), status_of(young)) == ("scouting", "throttled")


def test_an_exhausted_task_is_finished_after_48_hours_unless_auto_finish_is_disabled():
    task = task_in("exhausted", since=ago(hours=49))
    kept = task_in("exhausted", since=ago(hours=49), splitrule="NF=1,DF=1")
    young = task_in("exhausted", since=ago(hours=47))

    assert tasks_kick_exhausted() == 1

    assert (status_of(task), status_of(kept), status_of(young)) == ("finishing", "exhausted", "exhausted")
    assert Task.objects.get(pk=kept.pk).lockedby is None


def test_tasks_leased_by_another_agent_are_left_alone():
    task = task_in("pending", since=ago(hours=2), oldstatus="running")
    Task.objects.filter(pk=task.pk).update(lockedby="generator:host:1", lockedtime=utcnow())

    assert tasks_retry_pending() == 0
    assert status_of(task) == "pending"


# --- goal -------------------------------------------------------------------------------------------


def test_a_task_that_reached_its_goal_gets_a_soft_finish_command_once():
    task = TaskFactory(status="running", goal=800)
    TaskDatasetFactory(task=task, nfiles=10, nfilesfinished=8)
    below = TaskFactory(status="running", goal=800)
    TaskDatasetFactory(task=below, nfiles=10, nfilesfinished=7)

    assert tasks_check_goal() == 1
    assert tasks_check_goal() == 0

    command = TaskCommand.objects.get(task=task)
    assert (command.command, command.status, command.owner, command.parameters) == (
        "finish",
        "queued",
        "watchdog",
        {"soft": True},
    )
    assert not TaskCommand.objects.filter(task=below).exists()


def test_tasks_without_a_goal_or_already_ending_are_not_finished_by_the_goal_check():
    no_goal = TaskFactory(status="running", goal=None)
    TaskDatasetFactory(task=no_goal, nfiles=10, nfilesfinished=10)
    prepared = TaskFactory(status="prepared", goal=100)
    TaskDatasetFactory(task=prepared, nfiles=10, nfilesfinished=10)

    assert tasks_check_goal() == 0


def test_the_watchdog_run_applies_every_timer():
    task_in("pending", since=ago(hours=2), oldstatus="ready")
    task_in("throttled", since=ago(hours=3), oldstatus="running")
    task_in("exhausted", since=ago(days=3))
    TaskFactory(lockedby="x:y:1", lockedtime=ago(hours=2))

    summary = watchdog_run()

    assert (summary.leases, summary.retried, summary.unthrottled, summary.kicked) == (1, 1, 1, 1)
    assert "pending->retry=1" in str(summary)


def test_the_celery_task_and_the_command_run_the_watchdog(settings):
    task_in("exhausted", since=ago(days=3))
    assert settings.CELERY_BEAT_SCHEDULE["run_watchdog"]["schedule"] == 300.0

    assert "exhausted->finishing=1" in tasks.run_watchdog.delay().get()
    out = StringIO()
    call_command("run_watchdog", stdout=out)
    assert "exhausted->finishing=0" in out.getvalue()
