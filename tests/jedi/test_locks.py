from datetime import timedelta

import pytest

from apps.core.timeutil import utcnow
from apps.jedi.models import Task
from apps.jedi.services.locks import agent_name, task_lease_renew, task_release, tasks_claim
from apps.jedi.states import TaskStatus
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_a_claim_takes_free_tasks_in_the_asked_states_only():
    wanted = TaskFactory(status=TaskStatus.READY)
    TaskFactory(status=TaskStatus.DONE)

    claimed = tasks_claim(agent="gen", statuses=[TaskStatus.READY])

    assert [t.jeditaskid for t in claimed] == [wanted.jeditaskid]
    assert Task.objects.get(pk=wanted.pk).lockedby == agent_name("gen")


def test_a_task_held_by_another_agent_is_not_claimed_again():
    task = TaskFactory(status=TaskStatus.READY)
    tasks_claim(agent="gen", statuses=[TaskStatus.READY])

    assert tasks_claim(agent="other", statuses=[TaskStatus.READY]) == []
    assert Task.objects.get(pk=task.pk).lockedby == agent_name("gen")


def test_a_stale_lease_is_taken_over():
    task = TaskFactory(status=TaskStatus.READY, lockedby="dead:host:1", lockedtime=utcnow() - timedelta(hours=2))

    claimed = tasks_claim(agent="gen", statuses=[TaskStatus.READY], stale_after=3600)

    assert [t.pk for t in claimed] == [task.pk]


def test_the_limit_bounds_how_many_tasks_one_claim_takes():
    for _ in range(5):
        TaskFactory(status=TaskStatus.READY)

    assert len(tasks_claim(agent="gen", statuses=[TaskStatus.READY], limit=2)) == 2
    assert len(tasks_claim(agent="gen2", statuses=[TaskStatus.READY], limit=10)) == 3


def test_releasing_gives_the_task_back_and_only_the_holder_can_release_or_renew():
    task = TaskFactory(status=TaskStatus.READY)
    [claimed] = tasks_claim(agent="gen", statuses=[TaskStatus.READY])

    assert task_release(claimed, agent="other") is False
    assert task_lease_renew(claimed, agent="other") is False
    assert task_lease_renew(claimed, agent="gen") is True
    assert task_release(claimed, agent="gen") is True
    assert Task.objects.get(pk=task.pk).lockedby is None
