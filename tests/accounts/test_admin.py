"""The admin edits VO records and only shows the accounts and x509 counters the server keeps."""

import pytest

from apps.accounts.models import X509Usage
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db


def test_vo_records_can_be_listed_and_added(admin_client):
    assert b"panda-client" in admin_client.get("/admin/accounts/authconfig/").content
    assert admin_client.get("/admin/accounts/authconfig/add/").status_code == 200


def test_accounts_and_x509_counters_are_read_only(admin_client):
    token_for(UserFactory(username="linked"))
    X509Usage.objects.create(dn="/CN=Old Timer", count=3)

    assert b"linked" in admin_client.get("/admin/accounts/externalidentity/").content
    assert b"/CN=Old Timer" in admin_client.get("/admin/accounts/x509usage/").content
    assert admin_client.get("/admin/accounts/externalidentity/add/").status_code == 403
    assert admin_client.get("/admin/accounts/x509usage/add/").status_code == 403
