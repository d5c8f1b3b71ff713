"""``/auth/<vo>[.<role>]_auth_config.json`` serves the public fields only (protocol.md §11.3)."""

import json

import pytest
from django.test import Client

from apps.accounts.models import AuthConfig

pytestmark = pytest.mark.django_db


@pytest.fixture
def secretive():
    AuthConfig.objects.filter(name="atlas").update(
        client_secret="device-flow-secret",
        secondary_ids=["hidden-secondary"],
        legacy_token_issuers=["https://hidden-legacy.test.invalid"],
        jwt_profile="wlcg",
    )


def get(name: str):
    return Client().get(f"/auth/{name}_auth_config.json")


def test_the_vo_document_holds_exactly_the_public_fields(secretive):
    response = get("atlas")

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "vo": "atlas",
        "client_id": "panda-client",
        "client_secret": "device-flow-secret",
        "audience": "https://panda.test.invalid",
        "oidc_config_url": "https://idp.test.invalid/.well-known/openid-configuration",
        "jwt_profile": "wlcg",
    }
    for hidden in (b"hidden-secondary", b"hidden-legacy", b"panda-pilot", b"auto_roles", b"robot_ids"):
        assert hidden not in response.content


def test_a_public_client_has_a_null_secret_and_no_jwt_profile():
    document = json.loads(get("atlas").content)

    assert document["client_secret"] is None and "jwt_profile" not in document


@pytest.mark.parametrize("name", ["atlas.production", "atlas:production"])
def test_a_vo_and_role_without_a_record_of_its_own_is_served_the_vo_record(name):
    assert json.loads(get(name).content)["client_id"] == "panda-client"


def test_a_vo_and_role_with_its_own_record_gets_it():
    AuthConfig.objects.create(
        name="atlas.production", vo="atlas", client_id="prod-client", oidc_config_url="https://idp.test.invalid/x"
    )

    assert json.loads(get("atlas.production").content)["client_id"] == "prod-client"


@pytest.mark.parametrize("name", ["cms", "bad name", ".."])
def test_an_unknown_vo_is_not_found(name):
    assert get(name).status_code == 404


def test_a_disabled_record_is_not_served():
    AuthConfig.objects.filter(name="atlas").update(enabled=False)

    assert get("atlas").status_code == 404


def test_the_document_needs_no_authentication_and_only_answers_get():
    assert Client().post("/auth/atlas_auth_config.json").status_code == 405
