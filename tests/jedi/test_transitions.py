import pytest

from apps.core.transitions import IllegalTransition, StaleStatus
from apps.jedi.models import Task, TaskStatusLog
from apps.jedi.services.transitions import task_change_status
from apps.jedi.states import FINAL, TRANSITIONS, TaskStatus
from tests.jedi_factories import TaskFactory

ALL = [s.value for s in TaskStatus]
ALLOWED = [(old, new) for old, targets in TRANSITIONS.items() for new in sorted(targets)]
FORBIDDEN = [(old, new) for old in ALL for new in ALL if new not in TRANSITIONS[old]]


@pytest.mark.django_db
@pytest.mark.parametrize(("old", "new"), ALLOWED)
def test_every_allowed_task_transition_updates_the_row_and_writes_one_log_row(old, new):
    task = TaskFactory(status=old)
    before = TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid).count()

    task_change_status(task, new=new, reason="test")

    assert Task.objects.get(pk=task.pk).status == new
    rows = TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid).order_by("id")
    assert rows.count() == before + 1
    assert (rows.last().oldstatus, rows.last().status) == (old, new)


@pytest.mark.django_db
@pytest.mark.parametrize(("old", "new"), FORBIDDEN)
def test_every_forbidden_task_transition_raises_and_changes_nothing(old, new):
    task = TaskFactory(status=old)
    before = TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid).count()

    with pytest.raises(IllegalTransition):
        task_change_status(task, new=new)

    assert Task.objects.get(pk=task.pk).status == old
    assert TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid).count() == before


def test_broken_and_aborted_tasks_never_come_back_to_work():
    assert TRANSITIONS[TaskStatus.BROKEN] == frozenset()
    assert TRANSITIONS[TaskStatus.ABORTED] == frozenset({TaskStatus.TOINCEXEC})


def test_the_final_states_only_accept_retry_and_incremental_execution():
    for final in FINAL - {TaskStatus.BROKEN, TaskStatus.ABORTED}:
        assert TRANSITIONS[final] == frozenset({TaskStatus.TORETRY, TaskStatus.TOINCEXEC})


@pytest.mark.django_db
def test_a_transition_from_a_state_the_task_has_left_is_refused_as_stale():
    task = TaskFactory(status=TaskStatus.READY)
    stale_copy = Task.objects.get(pk=task.pk)
    task_change_status(task, new=TaskStatus.SCOUTING)

    with pytest.raises(StaleStatus):
        task_change_status(stale_copy, new=TaskStatus.RUNNING)

    assert Task.objects.get(pk=task.pk).status == TaskStatus.SCOUTING


@pytest.mark.django_db
def test_pausing_remembers_the_state_the_task_came_from():
    task = TaskFactory(status=TaskStatus.RUNNING)

    task_change_status(task, new=TaskStatus.PAUSED)

    assert Task.objects.get(pk=task.pk).oldstatus == TaskStatus.RUNNING


@pytest.mark.django_db
def test_going_pending_keeps_the_reason_as_the_error_dialog():
    task = TaskFactory(status=TaskStatus.READY)

    task_change_status(task, new=TaskStatus.PENDING, reason="no queue passed the brokerage")

    stored = Task.objects.get(pk=task.pk)
    assert (stored.oldstatus, stored.errordialog) == (TaskStatus.READY, "no queue passed the brokerage")
