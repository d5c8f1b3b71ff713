import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import AuthConfig
from apps.devidp.keys import jwks, signing_key
from apps.devidp.models import DevAccount, DevClient
from apps.devidp.services.setup import secret_file
from tests.devidp.conftest import ISSUER, claims_of


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def state():
    return (
        list(DevAccount.objects.values_list("username", "name", "email", "groups", "subject")),
        list(DevClient.objects.values_list("client_id", "secret_hash", "redirect_uris", "grant_types", "is_robot")),
        list(AuthConfig.objects.values()),
    )


def test_setup_creates_the_demo_accounts_clients_secrets_and_the_atlas_record(db, idp_settings):
    out = run("devidp_setup")

    assert "accounts created: alice, bob, prodmgr, siteadmin" in out
    assert f"signing key: {signing_key().kid}" in out
    assert stat.S_IMODE(idp_settings.PANDA_DEVIDP_KEY_FILE.stat().st_mode) == 0o600
    groups = dict(DevAccount.objects.values_list("username", "groups"))
    assert groups == {
        "alice": ["atlas"],
        "bob": ["atlas"],
        "prodmgr": ["atlas", "atlas/production"],
        "siteadmin": ["atlas", "atlas/admin"],
    }
    clients = {c.client_id: c for c in DevClient.objects.all()}
    assert clients["panda-client"].is_public
    assert set(clients["panda-client"].grant_types) == {"urn:ietf:params:oauth:grant-type:device_code",
                                                        "refresh_token"}  # fmt: skip
    assert clients["panda-monitor"].redirect_uris == ["http://testserver/oidc/callback/"]
    assert clients["panda-monitor"].grant_types == ["authorization_code", "refresh_token"]
    assert [c.client_id for c in clients.values() if c.is_robot] == ["panda-harvester", "panda-pilot"]
    for client_id in ("panda-monitor", "panda-harvester", "panda-pilot"):
        path = secret_file(client_id)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert clients[client_id].secret_matches(path.read_text().strip())
    config = AuthConfig.objects.get(name="atlas")
    assert (config.vo, config.client_id, config.client_secret) == ("atlas", "panda-client", "")
    assert config.oidc_config_url == f"{ISSUER}/.well-known/openid-configuration"
    assert config.secondary_ids == ["panda-monitor"]
    assert config.robot_ids == {"panda-harvester": ["production"], "panda-pilot": ["pilot"]}
    assert config.auto_roles == ["production"]


def test_setup_again_changes_nothing_and_keeps_the_secrets(db, idp_settings):
    run("devidp_setup")
    before = state()
    secret = secret_file("panda-harvester").read_text()

    out = run("devidp_setup")

    assert state() == before
    assert secret_file("panda-harvester").read_text() == secret
    assert "secret of panda-harvester (kept)" in out
    assert "accounts created: none" in out


def test_setup_writes_a_new_secret_when_the_file_was_lost(db, idp_settings):
    run("devidp_setup")
    old = secret_file("panda-pilot").read_text().strip()
    secret_file("panda-pilot").unlink()

    run("devidp_setup")

    new = secret_file("panda-pilot").read_text().strip()
    client = DevClient.objects.get(client_id="panda-pilot")
    assert new != old
    assert client.secret_matches(new) and not client.secret_matches(old)


def test_setup_takes_the_monitor_callback_from_the_server_url(db, idp_settings):
    run("devidp_setup", "--server-url", "https://panda.example:8443/")

    assert DevClient.objects.get(client_id="panda-monitor").redirect_uris == [
        "https://panda.example:8443/oidc/callback/"
    ]


def test_devidp_token_writes_a_robot_token_to_a_private_file(idp, tmp_path):
    output = tmp_path / "harvester.token"

    out = run("devidp_token", "--client", "panda-harvester", "--output", str(output))

    assert str(output) in out
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    claims = claims_of(output.read_text().strip())
    assert (claims["iss"], claims["sub"], claims["client_id"]) == (ISSUER, "panda-harvester", "panda-harvester")


def test_devidp_token_writes_an_id_token_of_a_demo_account(idp, tmp_path):
    output = tmp_path / "alice.token"

    run("devidp_token", "--user", "alice", "--output", str(output))

    token = output.read_text()
    assert token == token.strip()  # panda-client puts OIDC_AUTH_TOKEN_FILE's content in a header as it is
    claims = claims_of(token)
    assert (claims["aud"], claims["preferred_username"], claims["groups"]) == ("panda-client", "alice", ["atlas"])


def test_devidp_token_refuses_unknown_names_and_non_robots_and_writes_nothing(idp, tmp_path):
    output = tmp_path / "none.token"
    cases = {
        ("--client", "nobody"): "unknown client 'nobody'",
        ("--client", "panda-client"): "client panda-client is not a confidential robot client",
        ("--user", "mallory"): "unknown account 'mallory'",
        ("--user", "alice", "--audience-client", "nobody"): "unknown client 'nobody'",
    }
    for args, message in cases.items():
        with pytest.raises(CommandError, match=message):
            call_command("devidp_token", *args, "--output", str(output))
    assert not output.exists()


def test_rotate_key_command_publishes_both_keys(idp):
    old = signing_key().kid

    out = run("devidp_rotate_key")

    new = signing_key().kid
    assert out.strip() == f"signing key rotated: {old} -> {new}"
    assert [key["kid"] for key in jwks()["keys"]] == [new, old]
