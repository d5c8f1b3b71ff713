import json
import stat

import pytest
from django.core.management import call_command
from django.test import Client

from apps.accounts.authentication import identity_for_token
from apps.accounts.models import ApiToken, User
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
        list(User.objects.order_by("username").values_list("username", "dn", "fqans")),
        list(ApiToken.objects.order_by("id").values_list("key_hash", "revoked")),
    )


def test_the_demo_fixture_files_are_valid_cric_documents():
    assert queues_validate(json.loads(DEMO_QUEUES_FILE.read_text())) == []
    assert storage_endpoints_validate(json.loads(DEMO_ENDPOINTS_FILE.read_text())) == []


def test_load_demo_grid_creates_the_site_queues_storage_resource_types_and_pilot(var_dir, capsys):
    call_command("load_demo_grid")

    out = capsys.readouterr().out
    token_file = var_dir / "demo-pilot.token"
    assert str(token_file) in out
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


def test_the_demo_pilot_token_file_is_private_and_authenticates_a_production_robot(var_dir):
    call_command("load_demo_grid")

    token_file = var_dir / "demo-pilot.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    identity = identity_for_token(token_file.read_text().strip())
    assert identity is not None and identity.username == "demo-pilot"
    assert identity.is_production
    assert identity.compact_name == "demo-pilot"


def test_load_demo_grid_is_idempotent_and_keeps_a_valid_token(var_dir, capsys):
    call_command("load_demo_grid")
    token = (var_dir / "demo-pilot.token").read_text()
    before = state()

    call_command("load_demo_grid")

    assert "existing token kept" in capsys.readouterr().out
    assert (var_dir / "demo-pilot.token").read_text() == token
    assert state() == before


def test_a_lost_token_file_gets_a_new_token_and_the_old_one_is_revoked(var_dir):
    call_command("load_demo_grid")
    token_file = var_dir / "demo-pilot.token"
    old = token_file.read_text().strip()
    token_file.unlink()

    call_command("load_demo_grid")

    new = token_file.read_text().strip()
    assert new != old
    assert identity_for_token(old) is None
    assert identity_for_token(new).is_production
    assert ApiToken.objects.filter(user__username="demo-pilot", revoked=False).count() == 1


def test_the_demo_queue_is_served_to_pilots_with_its_storage(var_dir):
    call_command("load_demo_grid")
    client = Client()

    queue = client.get("/cache/schedconfig/DEMO_QUEUE.all.json").json()
    endpoints = client.get("/cache/ddmendpoints.json").json()

    assert (queue["nickname"], queue["state"], queue["status"]) == ("DEMO_QUEUE", "ACTIVE", "online")
    assert all(rse in endpoints for rses in queue["astorages"].values() for rse in rses)
    assert client.get("/cric/schedconfig/DEMO_QUEUE_MCORE.json").json()["DEMO_QUEUE_MCORE"]["corecount"] == 8
