import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.accounts.models import User
from apps.workers.models import HarvesterCommand, HarvesterInstance, HarvesterSlots, Worker
from tests.factories import PandaQueueFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    user = User.objects.create_user("siteadmin", "siteadmin@example.org", None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="workers"))
    client = Client()
    client.force_login(user)
    return client


def test_a_site_administrator_registers_a_harvester_instance(staff_client):
    response = staff_client.post(
        "/admin/workers/harvesterinstance/add/",
        {
            "harvester_id": " CERN_central_A ",
            "description": "central",
            "owner": "adc",
            "hostname": "h1.cern.ch",
            "metadata": json.dumps({"note": "x"}),
        },
    )

    assert response.status_code == 302
    instance = HarvesterInstance.objects.get()
    assert (instance.harvester_id, instance.hostname, instance.metadata) == (
        "CERN_central_A",
        "h1.cern.ch",
        {"note": "x"},
    )


@pytest.mark.parametrize(
    ("harvester_id", "message"), [("NULL", "harvester ID must have 1 to"), ("x" * 51, "at most 50")]
)
def test_the_admin_refuses_a_harvester_id_the_server_would_refuse(staff_client, harvester_id, message):
    response = staff_client.post(
        "/admin/workers/harvesterinstance/add/", {"harvester_id": harvester_id, "metadata": "{}"}
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not HarvesterInstance.objects.exists()


def test_slot_targets_are_set_for_existing_queues_only(staff_client):
    PandaQueueFactory(name="CERN_Q")

    bad = staff_client.post(
        "/admin/workers/harvesterslots/add/",
        {"pandaqueuename": "NOWHERE", "numslots": "10", "gshare": "", "resourcetype": ""},
    )
    negative = staff_client.post(
        "/admin/workers/harvesterslots/add/",
        {"pandaqueuename": "CERN_Q", "numslots": "-1", "gshare": "", "resourcetype": ""},
    )
    good = staff_client.post(
        "/admin/workers/harvesterslots/add/",
        {"pandaqueuename": "CERN_Q", "numslots": "25", "gshare": "", "resourcetype": "MCORE"},
    )

    assert "no PanDA queue named &#x27;NOWHERE&#x27;" in bad.content.decode()
    assert "cannot be negative" in negative.content.decode()
    assert good.status_code == 302
    assert list(HarvesterSlots.objects.values_list("pandaqueuename", "resourcetype", "numslots")) == [
        ("CERN_Q", "MCORE", 25)
    ]


def test_workers_and_commands_are_shown_but_not_changed_in_the_admin(staff_client):
    worker = Worker.objects.create(harvesterid="h1", workerid=7, status="running", computingsite="CERN_Q")
    command = HarvesterCommand.objects.create(harvester_id="h1", command="KILL_WORKERS")

    listing = staff_client.get("/admin/workers/worker/")
    change = staff_client.post(f"/admin/workers/worker/{worker.pk}/change/", {"status": "finished"})

    assert listing.status_code == 200 and "CERN_Q" in listing.content.decode()
    assert change.status_code == 403
    assert Worker.objects.get().status == "running"
    assert staff_client.get("/admin/workers/worker/add/").status_code == 403
    assert staff_client.get(f"/admin/workers/harvestercommand/{command.pk}/change/").status_code == 200
    assert (
        staff_client.post(
            f"/admin/workers/harvestercommand/{command.pk}/change/", {"status": "acknowledged"}
        ).status_code
        == 403
    )
    assert HarvesterCommand.objects.get().status == "new"


def test_a_user_without_staff_status_is_sent_to_the_admin_login(client):
    response = client.get("/admin/workers/harvesterinstance/")

    assert response.status_code == 302 and "/admin/login/" in response.url
