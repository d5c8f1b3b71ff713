"""Task actions on the task page: offered to the owner and production, refused with the reason otherwise."""

import re

import pytest
from django.test import Client

from apps.accounts.identity import identity_for_user
from apps.jedi.models import TaskCommand
from apps.jedi.states import TaskStatus
from apps.jobs.states import JobStatus
from tests.factories import JobFactory, UserFactory, production_user
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def task(owner):
    return TaskFactory(status=TaskStatus.RUNNING, username=identity_for_user(owner).compact_name)


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def offered(client, task) -> list[str]:
    return re.findall(r'data-action="(\w+)"', client.get(f"/task/{task.jeditaskid}/").content.decode())


def test_the_owner_is_offered_the_owner_actions_only(owner, task):
    assert offered(logged_in(owner), task) == ["kill", "finish", "retry"]


def test_production_is_offered_every_action(task):
    assert offered(logged_in(production_user()), task) == [
        "kill",
        "finish",
        "retry",
        "pause",
        "resume",
        "change_priority",
    ]


def test_others_and_anonymous_callers_see_no_actions(client, task):
    assert offered(client, task) == []
    assert offered(logged_in(UserFactory()), task) == []
    assert 'data-testid="task-actions"' not in client.get(f"/task/{task.jeditaskid}/").content.decode()


def test_the_owner_kills_the_task_through_the_command_queue(owner, task):
    response = logged_in(owner).post(f"/task/{task.jeditaskid}/action/", {"action": "kill"})
    assert response.status_code == 200
    assert "command=kill is registered" in response.content.decode()
    command = TaskCommand.objects.get(task=task)
    assert (command.command, command.status, command.owner) == ("kill", "queued", task.username)


def test_another_user_may_not_kill_and_is_told_why(task):
    response = logged_in(UserFactory()).post(f"/task/{task.jeditaskid}/action/", {"action": "kill"})
    assert response.status_code == 403
    assert "Permission denied" in response.content.decode()
    assert not TaskCommand.objects.exists()


def test_an_anonymous_post_changes_nothing(client, task):
    response = client.post(f"/task/{task.jeditaskid}/action/?json", {"action": "kill"})
    assert response.status_code == 403
    assert response.json()["code"] == 3
    assert not TaskCommand.objects.exists()


def test_the_owner_may_not_pause_which_needs_production(owner, task):
    response = logged_in(owner).post(f"/task/{task.jeditaskid}/action/", {"action": "pause"})
    assert response.status_code == 403
    assert not TaskCommand.objects.exists()


def test_production_pauses_and_resumes_through_the_queue(task):
    client = logged_in(production_user())
    assert client.post(f"/task/{task.jeditaskid}/action/", {"action": "pause"}).status_code == 200
    assert TaskCommand.objects.get(task=task).command == "pause"
    response = client.post(f"/task/{task.jeditaskid}/action/?json", {"action": "resume"})
    assert response.status_code == 409  # one queued command per task until the first ran
    assert "already registered" in response.json()["message"]


def test_production_changes_the_priority_of_the_task_and_its_queued_jobs(task):
    queued = JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.ACTIVATED, currentpriority=1000)
    running = JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.RUNNING, currentpriority=1000)
    response = logged_in(production_user()).post(
        f"/task/{task.jeditaskid}/action/?json", {"action": "change_priority", "priority": "1500"}
    )
    assert response.status_code == 200 and response.json()["code"] == 0
    task.refresh_from_db()
    queued.refresh_from_db()
    running.refresh_from_db()
    assert (task.currentpriority, queued.currentpriority, running.currentpriority) == (1500, 1500, 1000)


@pytest.mark.parametrize("priority", ["", "high", None])
def test_a_bad_priority_is_refused_and_changes_nothing(task, priority):
    data = {"action": "change_priority"} | ({"priority": priority} if priority is not None else {})
    response = logged_in(production_user()).post(f"/task/{task.jeditaskid}/action/?json", data)
    assert response.status_code == 400
    assert "priority must be an integer" in response.json()["message"]
    task.refresh_from_db()
    assert task.currentpriority == 1000


def test_an_unknown_action_is_a_bad_request(owner, task):
    response = logged_in(owner).post(f"/task/{task.jeditaskid}/action/?json", {"action": "explode"})
    assert response.status_code == 400
    assert not TaskCommand.objects.exists()


def test_killing_a_finished_task_is_refused_with_the_state_rule(owner):
    task = TaskFactory(status=TaskStatus.DONE, username=identity_for_user(owner).compact_name)
    response = logged_in(owner).post(f"/task/{task.jeditaskid}/action/", {"action": "kill"})
    assert response.status_code == 409
    assert "not accepted if the task is in done status" in response.content.decode()
    assert not TaskCommand.objects.exists()


def test_actions_the_state_does_not_accept_are_shown_disabled_with_the_reason(owner):
    task = TaskFactory(status=TaskStatus.DONE, username=identity_for_user(owner).compact_name)
    html = logged_in(owner).get(f"/task/{task.jeditaskid}/").content.decode()
    assert re.search(r'data-action="kill" disabled title="not accepted while the task is done"', html)


def test_an_unknown_task_is_a_404(owner):
    assert logged_in(owner).post("/task/999999/action/", {"action": "kill"}).status_code == 404


def test_actions_need_a_post_with_a_csrf_token(owner, task):
    client = logged_in(owner, enforce_csrf_checks=True)
    assert client.get(f"/task/{task.jeditaskid}/action/").status_code == 405
    assert client.post(f"/task/{task.jeditaskid}/action/", {"action": "kill"}).status_code == 403
    assert not TaskCommand.objects.exists()
    page = client.get(f"/task/{task.jeditaskid}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(f"/task/{task.jeditaskid}/action/", {"action": "kill", "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert TaskCommand.objects.filter(task=task, command="kill").exists()
