import pytest
from django.test import Client

from apps.accounts.models import User
from apps.jedi.models import TaskCommand, TaskStatusLog
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.org", "pw"))
    return client


def test_operators_see_task_commands_with_their_result_in_the_admin(admin_client):
    task = TaskFactory(status="finished")
    command = TaskCommand.objects.create(
        task=task, command="retry", status="failed", owner="Jane Doe", result="nothing to retry: no failed inputs"
    )

    listing = admin_client.get("/admin/jedi/taskcommand/")
    detail = admin_client.get(f"/admin/jedi/taskcommand/{command.pk}/change/")

    assert listing.status_code == 200 and "nothing to retry: no failed inputs" in listing.text
    assert detail.status_code == 200 and "Jane Doe" in detail.text


def test_operators_see_the_status_history_of_a_task_in_the_admin(admin_client):
    task = TaskFactory(status="tobroken")
    TaskStatusLog.objects.create(
        jeditaskid=task.jeditaskid, oldstatus="ready", status="tobroken", reason="unresolved ${FIRSTEVENT}"
    )

    response = admin_client.get(f"/admin/jedi/taskstatuslog/?jeditaskid={task.jeditaskid}")

    assert response.status_code == 200 and "unresolved ${FIRSTEVENT}" in response.text


@pytest.mark.parametrize("model", ["taskcommand", "taskstatuslog"])
def test_commands_and_status_history_are_read_only_in_the_admin(admin_client, model):
    assert admin_client.get(f"/admin/jedi/{model}/add/").status_code == 403
    row = (
        TaskCommand.objects.create(task=TaskFactory(), command="kill")
        if model == "taskcommand"
        else TaskStatusLog.objects.create(jeditaskid=TaskFactory().jeditaskid, status="ready")
    )

    assert admin_client.post(f"/admin/jedi/{model}/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert type(row).objects.filter(pk=row.pk).exists()
