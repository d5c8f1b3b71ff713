import pytest
from django.test import Client

from apps.accounts.models import User
from apps.devidp.models import DevAccount


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.org", None))
    return client


def test_an_account_added_in_the_admin_gets_a_subject_and_can_log_in(flow, browser, admin_client):
    answer = admin_client.post(
        "/admin/devidp/devaccount/add/",
        {"username": "carol", "name": "Carol Atlas", "email": "carol@example.org", "groups": '["atlas"]'},
    )

    assert answer.status_code == 302, answer.content
    carol = DevAccount.objects.get(username="carol")
    assert len(carol.subject) == 32 and carol.groups == ["atlas"]
    assert 'value="carol"' in browser.get("/idp/authorize", flow.params()).content.decode()


def test_the_client_list_shows_the_clients_but_no_secret_can_be_typed_in(idp, admin_client):
    listing = admin_client.get("/admin/devidp/devclient/")
    form = admin_client.get("/admin/devidp/devclient/add/")

    assert all(client_id in listing.content.decode() for client_id in ("panda-client", "panda-harvester"))
    assert 'name="secret_hash"' not in form.content.decode()
