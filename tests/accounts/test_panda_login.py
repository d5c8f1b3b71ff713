"""The device-code CLI (scripts/panda_login.py, iam.md §9) against a local server playing the provider."""

import datetime as dt
import ipaddress
import json
import os
import re
import ssl
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core.management import CommandError, call_command

from apps.accounts.management.commands.oidc_login import panda_login
from apps.accounts.models import AuthConfig
from tests.accounts.browser_support import dev_provider_on, form_fields
from tests.accounts.provider_double import ProviderDouble, fake_id_token, token_answer

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "panda_login.py"
pl = panda_login()

PENDING = (400, {"error": "authorization_pending"})
SLOW_DOWN = (400, {"error": "slow_down"})


class FakeTime:
    """Sleeping advances the clock instead of waiting; the sleeps are kept to check the polling rhythm."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def provider():
    with ProviderDouble() as double:
        yield double


def run_login(provider, tmp_path, fake=None, messages=None, **kwargs):
    fake = fake or FakeTime()
    messages = [] if messages is None else messages
    return pl.login(
        vo="atlas",
        server=provider.url,
        config_root=tmp_path,
        say=messages.append,
        sleep=fake.sleep,
        clock=fake.clock,
        **kwargs,
    )


def cache(tmp_path, tokens: dict) -> Path:
    path = tmp_path / ".token"
    path.write_text(json.dumps(tokens))
    return path


def test_a_cached_token_with_more_than_five_minutes_left_is_reused_without_calling_anyone(provider, tmp_path):
    tokens = token_answer(expires_in=3600)
    cache(tmp_path, tokens)

    assert run_login(provider, tmp_path) == tokens
    assert provider.requests == []


def test_a_token_with_less_than_five_minutes_left_is_refreshed_and_the_refresh_token_kept(provider, tmp_path):
    cache(tmp_path, token_answer(expires_in=200, refresh_token="refresh-old"))
    fresh = token_answer(expires_in=3600, refresh_token=None, username="jdoe2")
    provider.refresh_answers.append((200, fresh))

    tokens = run_login(provider, tmp_path)

    [refresh] = provider.posts_to("/token")
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["refresh_token"] == "refresh-old"
    assert refresh["client_id"] == "panda-client"
    assert tokens["id_token"] == fresh["id_token"]
    assert tokens["refresh_token"] == "refresh-old"
    assert json.loads((tmp_path / ".token").read_text()) == tokens
    assert provider.posts_to("/device") == []


def test_a_refused_refresh_token_falls_back_to_the_device_flow(provider, tmp_path):
    cache(tmp_path, token_answer(expires_in=-10, refresh_token="refresh-revoked"))
    provider.refresh_answers.append((400, {"error": "invalid_grant"}))
    provider.device_answers.append((200, token_answer()))
    messages = []

    tokens = run_login(provider, tmp_path, messages=messages)

    assert tokens["access_token"] == "access-jdoe"
    assert any("invalid_grant" in message and "logging in again" in message for message in messages)
    assert len(provider.posts_to("/device")) == 1


def test_the_device_flow_polls_at_the_interval_and_slows_down_by_five_seconds(provider, tmp_path):
    provider.device_answers += [PENDING, SLOW_DOWN, PENDING, (200, token_answer())]
    fake = FakeTime()
    messages = []

    tokens = run_login(provider, tmp_path, fake=fake, messages=messages)

    assert fake.sleeps == [5, 5, 10, 10]
    [device] = provider.posts_to("/device")
    assert device == {
        "client_id": "panda-client",
        "client_secret": "public-secret",
        "scope": "openid profile email offline_access",
        "audience": "https://panda.example.org",
    }
    polls = provider.posts_to("/token")
    assert len(polls) == 4
    assert polls[0] == {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": "dev-code-1",
        "client_id": "panda-client",
        "client_secret": "public-secret",
    }
    assert messages == [
        f"Please open {provider.url}/verify?user_code=ABCD-EFGH to log in. Waiting until you have done so..."
    ]
    assert json.loads((tmp_path / ".token").read_text()) == tokens


def test_the_wlcg_profile_asks_for_the_wlcg_scopes(tmp_path):
    with ProviderDouble(jwt_profile="wlcg") as provider:
        provider.device_answers.append((200, token_answer()))
        run_login(provider, tmp_path)
        [device] = provider.posts_to("/device")
    assert device["scope"] == "openid profile email offline_access wlcg wlcg.groups"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("expired_token", "the device code expired before the login was completed; run the command again"),
        ("access_denied", "the login was refused at the identity provider (access denied)"),
    ],
)
def test_the_device_flow_stops_with_a_clear_message_when_the_provider_ends_it(provider, tmp_path, error, message):
    provider.device_answers += [PENDING, (400, {"error": error})]

    with pytest.raises(pl.LoginError) as refused:
        run_login(provider, tmp_path)

    assert str(refused.value) == message
    assert not (tmp_path / ".token").exists()


def test_the_device_flow_gives_up_when_the_code_expires_while_still_pending(tmp_path):
    with ProviderDouble(interval=5, expires_in=12) as provider:
        provider.device_answers += [PENDING] * 10
        fake = FakeTime()
        with pytest.raises(pl.LoginError, match="device code expired"):
            run_login(provider, tmp_path, fake=fake)
    assert fake.sleeps == [5, 5]


def test_the_token_file_is_replaced_atomically_and_readable_by_the_owner_only(provider, tmp_path):
    root = tmp_path / "new-root"
    provider.device_answers.append((200, token_answer()))

    run_login(provider, root)

    assert stat.S_IMODE((root / ".token").stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert [path.name for path in root.iterdir()] == [".token"]


def test_an_unreadable_cache_file_is_replaced_by_a_new_login(provider, tmp_path):
    (tmp_path / ".token").write_text("not json")
    provider.device_answers.append((200, token_answer()))

    tokens = run_login(provider, tmp_path)

    assert json.loads((tmp_path / ".token").read_text()) == tokens


def test_force_logs_in_again_even_with_a_valid_cached_token(provider, tmp_path):
    cache(tmp_path, token_answer(expires_in=3600, refresh_token=None))
    provider.device_answers.append((200, token_answer(username="other")))

    tokens = run_login(provider, tmp_path, force=True)

    assert tokens["access_token"] == "access-other"


def test_the_server_url_may_be_panda_clients_url_ssl(provider, tmp_path):
    provider.device_answers.append((200, token_answer()))

    pl.login(vo="atlas", server=provider.url + "/server/panda/", config_root=tmp_path, say=print, sleep=lambda s: None)

    assert provider.requests[0][:2] == ("GET", "/auth/atlas_auth_config.json")


def test_a_server_url_that_is_not_http_is_refused(tmp_path):
    with pytest.raises(pl.LoginError, match="must be an http"):
        pl.login(vo="atlas", server="ftp://panda.example.org", config_root=tmp_path)


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    with ProviderDouble() as provider:
        url = provider.url
    with pytest.raises(pl.LoginError, match=f"cannot reach {url}/auth/atlas_auth_config.json"):
        pl.login(vo="atlas", server=url, config_root=tmp_path, http=pl.Http(timeout=5))


def test_scrub_hides_bearer_tokens_jwts_and_secret_fields():
    jwt = fake_id_token(expires_in=60)
    text = (
        f'Authorization: Bearer abc.def-ghi {{"id_token": "{jwt}", "refresh_token": "r1", "error": "x"}} '
        "client_secret=s3cret&device_code=dc1&grant_type=refresh_token"
    )

    scrubbed = pl.scrub(text)

    assert scrubbed == (
        'Authorization: Bearer *** {"id_token": "***", "refresh_token": "***", "error": "x"} '
        "client_secret=***&device_code=***&grant_type=refresh_token"
    )
    assert jwt not in pl.scrub(f"token {jwt} leaked")


def test_print_token_prints_only_the_id_token_and_no_token_reaches_stderr(provider, tmp_path, capsys):
    answer = token_answer()
    provider.device_answers.append((200, answer))
    provider.interval = 0.01

    code = pl.main(["--server", provider.url, "--vo", "atlas", "--config-root", str(tmp_path), "--print-token"])

    out, err = capsys.readouterr()
    assert code == 0
    assert out == answer["id_token"] + "\n"
    assert "Please open" in err
    for secret in (answer["id_token"], answer["access_token"], answer["refresh_token"], "dev-code-1"):
        assert secret not in err


def test_main_reports_a_failed_login_on_stderr_with_exit_code_one(provider, tmp_path, capsys):
    provider.interval = 0.01
    provider.device_answers.append((400, {"error": "access_denied"}))

    code = pl.main(["--server", provider.url, "--vo", "atlas", "--config-root", str(tmp_path)])

    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert "panda_login: the login was refused at the identity provider (access denied)" in err


def test_main_needs_a_vo(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PANDA_AUTH_VO", raising=False)
    assert pl.main(["--server", "https://panda.example.org", "--config-root", str(tmp_path)]) == 2
    assert "--vo is required" in capsys.readouterr().err


def self_signed(tmp_path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_tls_certificates_are_verified_and_a_ca_bundle_can_be_given(tmp_path):
    cert_file, key_file = self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    with ProviderDouble(tls=tls) as provider:
        with pytest.raises(pl.LoginError, match="CERTIFICATE_VERIFY_FAILED"):
            pl.login(vo="atlas", server=provider.url, config_root=tmp_path / "a")

        provider.device_answers.append((200, token_answer()))
        # The provider double's discovery URLs are on the same https server, so the bundle covers them too.
        tokens = pl.login(
            vo="atlas",
            server=provider.url,
            config_root=tmp_path / "b",
            http=pl.Http(ca_bundle=str(cert_file)),
            say=lambda message: None,
            sleep=lambda seconds: None,
        )
    assert tokens["access_token"] == "access-jdoe"


def test_the_script_runs_standalone_without_django(provider, tmp_path):
    answer = token_answer()
    provider.interval = 0.01
    provider.device_answers += [PENDING, (200, answer)]
    probe = (
        "import runpy, sys; sys.argv = sys.argv[1:]; "
        "exit_code = 0\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as done:\n    exit_code = done.code\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'imported django'\n"
        "sys.exit(exit_code)\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}

    done = subprocess.run(
        [sys.executable, "-c", probe, str(SCRIPT), "--server", provider.url, "--vo", "atlas"]
        + ["--config-root", str(tmp_path), "--print-token"],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == answer["id_token"] + "\n"


@pytest.mark.django_db
def test_the_oidc_login_command_takes_the_client_from_the_auth_config_in_the_database(provider, tmp_path):
    provider.interval = 0.01
    public = provider.auth_config()
    AuthConfig.objects.update_or_create(
        name="testvo",
        defaults={**{key: public[key] for key in ("client_id", "client_secret", "audience", "oidc_config_url")}}
        | {"vo": "testvo", "jwt_profile": "", "enabled": True},
    )
    answer = token_answer()
    provider.device_answers.append((200, answer))
    out, err = StringIO(), StringIO()

    call_command(
        "oidc_login", "--vo", "testvo", "--config-root", str(tmp_path), "--print-token", stdout=out, stderr=err
    )

    assert out.getvalue() == answer["id_token"] + "\n"
    assert [path for method, path, form in provider.requests if method == "GET"] == [
        "/.well-known/openid-configuration"
    ]
    assert provider.posts_to("/device")[0]["client_id"] == "panda-client"
    assert answer["id_token"] not in err.getvalue()


@pytest.mark.django_db
def test_the_oidc_login_command_refuses_an_unknown_vo(tmp_path):
    with pytest.raises(CommandError, match="no enabled AuthConfig named 'nosuchvo'"):
        call_command("oidc_login", "--vo", "nosuchvo", "--config-root", str(tmp_path))


# --- against the development provider, through a live server ----------------------------------------------


def test_the_cli_logs_in_at_the_development_provider_and_the_server_accepts_its_id_token(
    live_server, settings, tmp_path, transactional_db
):
    dev_provider_on(settings, tmp_path, live_server.url)
    # 200 s left is under the 5-minute margin: the second login must refresh the token.
    settings.PANDA_DEVIDP_ID_TOKEN_SECONDS = 200
    person = requests.Session()  # the person who opens the URL the CLI shows, in their browser

    def approve_as_alice(message: str) -> None:
        url = re.search(r"Please open (\S+) to log in", message).group(1)
        page = person.get(url, timeout=30)
        fields = form_fields(page.text)
        answer = person.post(url.split("?")[0], data={**fields, "username": "alice", "action": "approve"}, timeout=30)
        assert answer.status_code == 200, answer.text

    first = pl.login(vo="atlas", server=live_server.url, config_root=tmp_path, say=approve_as_alice, sleep=lambda s: 0)
    second = pl.login(vo="atlas", server=live_server.url, config_root=tmp_path, say=print, sleep=lambda s: None)

    assert second["id_token"] != first["id_token"]
    assert json.loads((tmp_path / ".token").read_text()) == second
    whoami = requests.get(
        live_server.url + "/api/v1/system/whoami",
        headers={"Authorization": f"Bearer {second['id_token']}", "Origin": "atlas"},
        timeout=30,
    ).json()
    assert whoami["data"]["user"] == "alice"
    assert (whoami["data"]["method"], whoami["data"]["vo"]) == ("oidc", "atlas")
