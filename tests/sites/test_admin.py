import json

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.sites.models import PandaQueue
from tests.factories import SiteFactory, queue_document

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/sites/pandaqueue/add/"


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.org", "pw"))
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
