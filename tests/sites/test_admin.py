import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.accounts.models import User
from apps.sites.models import PandaQueue, StorageEndpoint
from tests.factories import SiteFactory, queue_document

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/sites/pandaqueue/add/"


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.org", None))
    return client


def add_queue(client, name, site, document):
    return client.post(ADD_URL, {"name": name, "site": site.pk, "document": json.dumps(document)})


def test_a_queue_added_in_the_admin_gets_its_identity_keys_and_synced_columns(admin_client):
    site = SiteFactory(name="ADMIN_SITE")

    response = add_queue(admin_client, "Q_ADMIN", site, {"status": "test", "corecount": 8})

    assert response.status_code == 302
    queue = PandaQueue.objects.get(name="Q_ADMIN")
    assert queue.document["nickname"] == queue.document["panda_resource"] == "Q_ADMIN"
    assert queue.document["atlas_site"] == "ADMIN_SITE"
    assert (queue.status, queue.corecount) == ("test", 8)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"status": "sleeping"}, "&#x27;status&#x27; must be one of"),
        ({"maxrss": "lots"}, "&#x27;maxrss&#x27; must be an integer"),
        ({"nickname": "OTHER"}, "&#x27;nickname&#x27; is &#x27;OTHER&#x27;"),
        ({"atlas_site": "ELSEWHERE"}, "names site &#x27;ELSEWHERE&#x27;"),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_the_admin_refuses_a_queue_document_the_loader_would_refuse(admin_client, document, message):
    site = SiteFactory(name="ADMIN_SITE")

    response = add_queue(admin_client, "Q_ADMIN", site, document)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PandaQueue.objects.exists()


def test_the_admin_edits_a_loaded_queue_through_its_document(admin_client):
    site = SiteFactory(name="ADMIN_SITE")
    add_queue(admin_client, "Q_EDIT", site, queue_document("Q_EDIT", "ADMIN_SITE"))
    queue = PandaQueue.objects.get(name="Q_EDIT")

    response = admin_client.post(
        f"/admin/sites/pandaqueue/{queue.pk}/change/",
        {"name": "Q_EDIT", "site": site.pk, "document": json.dumps(dict(queue.document, status="offline"))},
    )

    assert response.status_code == 302
    assert PandaQueue.objects.get(name="Q_EDIT").status == "offline"


@pytest.fixture
def site_admin_client():
    """A staff user holding the sites app's permissions, not a superuser: what a site administrator gets."""
    user = User.objects.create_user("siteadmin", "siteadmin@example.org", None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="sites"))
    client = Client()
    client.force_login(user)
    return client


def test_a_site_administrator_edits_a_site(site_admin_client):
    site = SiteFactory(name="CERN-PROD", cloud="CERN")

    response = site_admin_client.post(
        f"/admin/sites/site/{site.pk}/change/",
        {"name": "CERN-PROD", "cloud": "CERN", "tier": "T0", "country": "Switzerland", "role": "nucleus"},
    )

    assert response.status_code == 302
    site.refresh_from_db()
    assert (site.tier, site.country, site.role) == ("T0", "Switzerland", "nucleus")


def test_a_site_administrator_adds_a_queue_with_a_valid_document(site_admin_client):
    site = SiteFactory(name="CERN-PROD")

    response = add_queue(site_admin_client, "CERN_Q", site, queue_document("CERN_Q", "CERN-PROD", corecount=8))

    assert response.status_code == 302
    assert PandaQueue.objects.get(name="CERN_Q").corecount == 8


def storage_endpoint_form(site, **overrides):
    protocol = {
        "endpoint": "root://eos.cern.ch:1094",
        "path": "/eos/atlas",
        "flavour": "XROOTD",
        "id": 1,
        "activities": [["read_lan", 1], ["write_lan", 1], ["read_wan", 1], ["write_wan", 1]],
    }
    form = {
        "name": "CERN-PROD_DATADISK",
        "site": site.pk,
        "type": "DATADISK",
        "state": "ACTIVE",
        "is_deterministic": "on",
        "rprotocols": json.dumps({"1": protocol}),
        "arprotocols": "{}",
        "resource": "{}",
    }
    form.update(overrides)
    return form


def test_a_site_administrator_adds_a_storage_endpoint(site_admin_client):
    site = SiteFactory(name="CERN-PROD")

    response = site_admin_client.post("/admin/sites/storageendpoint/add/", storage_endpoint_form(site))

    assert response.status_code == 302
    endpoint = StorageEndpoint.objects.get()
    assert (endpoint.site, endpoint.rprotocols["1"]["flavour"]) == (site, "XROOTD")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rprotocols": json.dumps({"1": "root://x"})}, "rprotocols[&#x27;1&#x27;] must be an object"),
        ({"arprotocols": json.dumps({"read_lan": "x"})}, "activity -&gt; list of protocols"),
        ({"resource": json.dumps([1])}, "&#x27;resource&#x27; must be an object"),
    ],
)
def test_the_admin_refuses_a_storage_endpoint_the_loader_would_refuse(site_admin_client, overrides, message):
    site = SiteFactory(name="CERN-PROD")

    response = site_admin_client.post("/admin/sites/storageendpoint/add/", storage_endpoint_form(site, **overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not StorageEndpoint.objects.exists()
