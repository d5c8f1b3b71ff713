"""Tokens of the development provider are accepted by the server's own validator (iam.md §3)."""

import pytest

from apps.accounts.oidc.keys import forget_keys, register_local_documents
from apps.accounts.oidc.validator import TokenRejected, identity_for_bearer
from apps.devidp.documents import local_document
from apps.devidp.keys import rotate_signing_key
from apps.devidp.models import DevClient
from apps.devidp.services.tokens import robot_access_token_create
from tests.devidp.conftest import ISSUER, allow_next_poll, decide, poll, start


@pytest.fixture
def served(idp, browser):
    """The validator reads the provider's documents in-process, as DevIdpConfig.ready() arranges."""
    register_local_documents(ISSUER, local_document)
    forget_keys()
    return idp


def device_login(browser, username: str) -> dict:
    started = start().json()
    decide(browser, started["user_code"], username=username)
    allow_next_poll()
    return poll(started["device_code"]).json()


def test_an_id_token_from_the_device_flow_is_a_panda_identity(served, browser):
    tokens = device_login(browser, "alice")

    identity = identity_for_bearer(tokens["id_token"], "atlas")

    assert identity.method == "oidc"
    assert identity.username == "alice"
    assert identity.issuer == ISSUER
    assert (identity.vo, identity.groups) == ("atlas", ("atlas",))
    assert not identity.is_production and not identity.is_robot


def test_the_production_manager_gets_the_production_role_automatically(served, browser):
    identity = identity_for_bearer(device_login(browser, "prodmgr")["id_token"], "atlas")

    assert identity.role == "production"
    assert identity.is_production


def test_a_role_not_in_the_accounts_groups_is_refused(served, browser):
    with pytest.raises(TokenRejected, match="Not a member of the atlas/production group"):
        identity_for_bearer(device_login(browser, "bob")["id_token"], "atlas.production")


def test_the_harvester_robot_token_has_the_production_role(served):
    token = robot_access_token_create(client=DevClient.objects.get(client_id="panda-harvester"))

    identity = identity_for_bearer(token, "atlas.production")

    assert identity.is_robot and identity.is_production


def test_the_pilot_robot_token_passes_the_pilot_checks(served):
    token = robot_access_token_create(client=DevClient.objects.get(client_id="panda-pilot"))

    identity = identity_for_bearer(token, "atlas.pilot")

    assert identity.is_robot and identity.is_pilot and not identity.is_production


def test_tokens_signed_before_a_key_rotation_stay_valid(served, browser):
    before = device_login(browser, "alice")["id_token"]
    identity_for_bearer(before, "atlas")  # the validator now caches the old key set
    rotate_signing_key()
    after = device_login(browser, "bob")["id_token"]

    assert identity_for_bearer(after, "atlas").username == "bob"  # unknown kid: one JWKS refetch
    forget_keys()
    assert identity_for_bearer(before, "atlas").username == "alice"
