import json

import pytest
from django.core.management import call_command
from django.test import Client

from apps.accounts.identity import identity_for_user
from apps.accounts.models import User
from apps.sites.models import PandaQueue, ResourceType, Site, StorageEndpoint
from apps.sites.services.demo_grid import DEMO_ENDPOINTS_FILE, DEMO_QUEUES_FILE
from apps.sites.services.queues import queues_validate
from apps.sites.services.storage_endpoints import storage_endpoints_validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def state():
    return (
        list(Site.objects.order_by("name").values()),
        list(PandaQueue.objects.order_by("name").values_list("name", "site_id", "document")),
        list(StorageEndpoint.objects.order_by("name").values()),
        list(ResourceType.objects.order_by("name").values()),
        list(User.objects.order_by("username").values_list("username", "dn", "fqans", "password")),
    )


def test_the_demo_fixture_files_are_valid_cric_documents():
    assert queues_validate(json.loads(DEMO_QUEUES_FILE.read_text())) == []
    assert storage_endpoints_validate(json.loads(DEMO_ENDPOINTS_FILE.read_text())) == []


def test_load_demo_grid_creates_the_site_queues_storage_resource_types_and_pilot(var_dir, capsys):
    call_command("load_demo_grid")

    out = capsys.readouterr().out
    assert "demo tasks are submitted as: demo-pilot (production role)" in out
    queue = PandaQueue.objects.get(name="DEMO_QUEUE")
    mcore = PandaQueue.objects.get(name="DEMO_QUEUE_MCORE")
    assert queue.site.name == mcore.site.name == "DEMO_SITE"
    assert (queue.type, queue.workflow, queue.corecount, list(queue.copytools)) == ("unified", "pull", 1, ["posix"])
    assert (mcore.corecount, mcore.workflow) == (8, "pull")
    assert queue.astorages["pw"] == ["DEMO_SITE_DATADISK"]
    endpoint = StorageEndpoint.objects.get(name="DEMO_SITE_DATADISK")
    protocol = endpoint.rprotocols["1"]
    assert (protocol["endpoint"], protocol["flavour"]) == ("file://localhost", "POSIX")
    assert protocol["path"] == str((var_dir / "demo-se").resolve())
    assert endpoint.arprotocols["write_lan"][0]["path"] == protocol["path"]
    assert (var_dir / "demo-se").is_dir()
    assert set(ResourceType.objects.values_list("name", flat=True)) == {"SCORE", "MCORE", "SCORE_HIMEM", "MCORE_HIMEM"}


def test_the_demo_tasks_owner_is_a_production_user_without_any_credential(var_dir):
    call_command("load_demo_grid")

    user = User.objects.get(username="demo-pilot")
    identity = identity_for_user(user)
    assert identity.is_production
    assert identity.compact_name == "demo-pilot"
    assert not user.has_usable_password()
    assert not (var_dir / "demo-pilot.token").exists()  # Harvester and pilots use OIDC tokens now


def test_load_demo_grid_is_idempotent(var_dir):
    call_command("load_demo_grid")
    before = state()

    call_command("load_demo_grid")

    assert state() == before


def test_load_demo_grid_restores_the_owners_production_role(var_dir):
    call_command("load_demo_grid")
    User.objects.filter(username="demo-pilot").update(fqans=[], dn="")

    call_command("load_demo_grid")

    assert identity_for_user(User.objects.get(username="demo-pilot")).is_production


def test_the_demo_queue_is_served_to_pilots_with_its_storage(var_dir):
    call_command("load_demo_grid")
    client = Client()

    queue = client.get("/cache/schedconfig/DEMO_QUEUE.all.json").json()
    endpoints = client.get("/cache/ddmendpoints.json").json()

    assert (queue["nickname"], queue["state"], queue["status"]) == ("DEMO_QUEUE", "ACTIVE", "online")
    assert all(rse in endpoints for rses in queue["astorages"].values() for rse in rses)
    assert client.get("/cric/schedconfig/DEMO_QUEUE_MCORE.json").json()["DEMO_QUEUE_MCORE"]["corecount"] == 8
