"""Legacy x509 identities, accepted only as asserted by the trusted front proxy (iam.md §7)."""

import json
import logging

import pytest
from django.test import Client

from apps.accounts.models import X509Usage
from apps.accounts.x509 import clean_dn, parse_fqans, user_dn
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"
SECRET = "s3cret-shared-with-the-proxy"
DN = "/DC=ch/DC=cern/OU=Users/CN=Jane Roe/CN=123456"
WHOAMI = "/api/v1/system/whoami"
RESOURCE_TYPES = "/api/v1/metaconfig/get_resource_types"


@pytest.fixture(autouse=True)
def trusted_proxy(settings):
    settings.PANDA_X509_TRUSTED_PROXIES = [PROXY, "192.168.7.0/24"]
    settings.PANDA_X509_PROXY_SECRET = SECRET


def asserted(dn=DN, fqans="VOMS /atlas/Role=production/Capability=NULL", *, addr=PROXY, secret=SECRET) -> dict:
    headers = {"REMOTE_ADDR": addr, "HTTP_X_SSL_CLIENT_S_DN": dn, "HTTP_X_PANDA_VOMS_FQANS": fqans}
    if secret is not None:
        headers["HTTP_X_PANDA_PROXY_SECRET"] = secret
    return headers


def whoami(**headers) -> dict:
    response = Client().get(WHOAMI, **headers)
    assert response.status_code == 200, response.content
    return json.loads(response.content)["data"]


@pytest.mark.parametrize(
    "headers",
    [
        asserted(addr="203.0.113.9"),
        asserted(secret=None),
        asserted(secret="wrong"),
        asserted(secret=SECRET + "x"),
    ],
    ids=["forged from an untrusted address", "trusted proxy without secret", "wrong secret", "longer secret"],
)
def test_asserted_identity_headers_are_ignored_unless_the_trusted_proxy_sends_the_secret(headers, caplog):
    with caplog.at_level(logging.WARNING, logger="apps.accounts.x509"):
        data = whoami(**headers)

    assert (data["authenticated"], data["dn"], data["fqans"]) == (False, None, [])
    assert not X509Usage.objects.exists() and not caplog.records


def test_without_a_configured_secret_no_x509_identity_is_accepted(settings):
    settings.PANDA_X509_PROXY_SECRET = ""

    assert whoami(**asserted(secret="")).get("authenticated") is False


def test_the_trusted_proxy_with_its_secret_asserts_the_dn_and_vomses_of_a_user(caplog):
    user = UserFactory(dn="/DC=ch/DC=cern/OU=Users/CN=Jane Roe")
    with caplog.at_level(logging.WARNING, logger="apps.accounts.x509"):
        data = whoami(**asserted())

    assert (data["authenticated"], data["method"], data["user"]) == (True, "x509", user.username)
    assert (data["dn"], data["compact_name"], data["production"]) == (DN, "Jane Roe", True)
    assert data["fqans"] == ["/atlas/Role=production"] and data["vo"] == "atlas"
    assert "deprecated x509 authentication" in caplog.text and DN in caplog.text
    assert X509Usage.objects.get().count == 1


def test_each_x509_request_is_counted_for_its_dn():
    for _ in range(3):
        whoami(**asserted(addr="192.168.7.20"))
    whoami(**asserted(dn="/DC=ch/DC=cern/OU=Users/CN=Other Person"))

    assert dict(X509Usage.objects.values_list("dn", "count")) == {DN: 3, "/DC=ch/DC=cern/OU=Users/CN=Other Person": 1}


def test_an_unknown_dn_is_authenticated_without_a_local_user():
    data = whoami(**asserted(fqans=""))

    assert (data["authenticated"], data["user"], data["compact_name"], data["production"]) == (
        True,
        None,
        "Jane Roe",
        False,
    )


def test_a_limited_proxy_is_refused_by_endpoints_that_need_a_secure_identity():
    headers = asserted(dn=DN + "/CN=limited proxy")

    response = Client().get(RESOURCE_TYPES, **headers)

    assert response.status_code == 403
    assert response.content == b"ERROR : secure connection with an authenticated identity is required"
    assert whoami(**headers)["production"] is False
    assert X509Usage.objects.get().dn == DN  # counted under the DN without the limited-proxy marker


def test_a_full_proxy_is_accepted_by_the_same_endpoint():
    response = Client().get(RESOURCE_TYPES, **asserted(dn=DN + "/CN=proxy/CN=proxy"))

    assert response.status_code == 200 and json.loads(response.content)["success"] is True


def test_a_banned_x509_user_gets_403_on_every_api_call(settings):
    settings.PANDA_BANNED_USERS = ["Jane Roe"]

    response = Client().get(WHOAMI, **asserted())

    assert response.status_code == 403 and response.content == b"ERROR : Jane Roe is banned"


def test_a_bearer_token_wins_over_asserted_x509_headers():
    from tests.factories import auth_header

    user = UserFactory()
    data = whoami(**asserted(), **auth_header(user))

    assert (data["method"], data["user"]) == ("oidc", user.username)
    assert not X509Usage.objects.exists()


@pytest.mark.parametrize(
    "raw, cleaned, limited",
    [
        ("/DC=ch/CN=Jane Roe/CN=limited proxy", "/DC=ch/CN=Jane Roe", True),
        ("/DC=ch/CN=Jane Roe/CN=proxy/CN=proxy/CN=proxy", "/DC=ch/CN=Jane Roe/CN=proxy", False),
        ("/DC=ch/CN=Jane Roe", "/DC=ch/CN=Jane Roe", False),
    ],
)
def test_dn_cleanup_removes_limited_proxy_and_collapses_repeated_proxy(raw, cleaned, limited):
    assert clean_dn(raw) == (cleaned, limited)


def test_the_owner_dn_drops_trailing_proxy_components():
    assert user_dn("/DC=ch/CN=Jane Roe/CN=123456/CN=proxy") == "/DC=ch/CN=Jane Roe"


def test_fqans_come_from_voms_attribute_values():
    value = "VOMS /atlas/Role=production/Capability=NULL, VOMS /atlas/Role=NULL/Capability=NULL,/atlas/lcg1, junk"

    assert parse_fqans(value) == ("/atlas/Role=production", "/atlas", "/atlas/lcg1")
