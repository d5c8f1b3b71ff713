import pytest
from django.apps import apps
from django.test import Client

from apps.accounts.oidc.keys import fetch_document
from apps.devidp.documents import local_document
from apps.devidp.keys import signing_key
from tests.devidp.conftest import ISSUER

ENDPOINTS = ["/.well-known/openid-configuration", "/jwk", "/authorize", "/token", "/devicecode", "/device",
             "/userinfo", "/logout"]  # fmt: skip


def test_the_discovery_document_names_every_endpoint_under_the_issuer(idp):
    document = Client().get("/idp/.well-known/openid-configuration").json()

    assert document["issuer"] == ISSUER
    assert document["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert document["token_endpoint"] == f"{ISSUER}/token"
    assert document["device_authorization_endpoint"] == f"{ISSUER}/devicecode"
    assert document["jwks_uri"] == f"{ISSUER}/jwk"
    assert document["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert document["end_session_endpoint"] == f"{ISSUER}/logout"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "profile", "email", "offline_access"} <= set(document["scopes_supported"])
    assert set(document["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    }


def test_the_jwk_endpoint_serves_the_signing_key(idp):
    assert Client().get("/idp/jwk").json() == {"keys": [signing_key().jwk]}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_answers_404_when_the_provider_is_off(idp, settings, endpoint):
    settings.PANDA_DEVIDP_ENABLED = False

    assert Client().get(f"/idp{endpoint}").status_code == 404
    assert Client().post(f"/idp{endpoint}").status_code == 404


def test_the_server_resolves_the_providers_documents_in_process(idp):
    assert local_document(f"{ISSUER}/.well-known/openid-configuration")["issuer"] == ISSUER
    assert local_document(f"{ISSUER}/jwk") == {"keys": [signing_key().jwk]}
    assert local_document(f"{ISSUER}/elsewhere") is None


def test_nothing_is_resolved_in_process_when_the_provider_is_off(idp, settings):
    settings.PANDA_DEVIDP_ENABLED = False

    assert local_document(f"{ISSUER}/jwk") is None


def test_at_start_the_app_lets_the_server_read_the_providers_documents_without_http(idp, settings):
    settings.PANDA_DEVIDP_ISSUER = "http://127.0.0.1:8123/idp"  # nothing listens there

    apps.get_app_config("devidp").ready()

    assert fetch_document("http://127.0.0.1:8123/idp/jwk") == {"keys": [signing_key().jwk]}
    assert fetch_document("http://127.0.0.1:8123/idp/.well-known/openid-configuration")["jwks_uri"] == (
        "http://127.0.0.1:8123/idp/jwk"
    )
