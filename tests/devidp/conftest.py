import base64
import datetime as dt
import json
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from apps.core.timeutil import utcnow
from apps.devidp import keys
from apps.devidp.keys import forget_signing_key
from apps.devidp.models import DeviceCode
from apps.devidp.services.grants import pkce_challenge
from apps.devidp.services.setup import devidp_setup, secret_file

ISSUER = "http://testserver/idp"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


def query_of(url: str) -> dict:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def csrf_of(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)


@pytest.fixture
def idp_settings(settings, tmp_path):
    settings.PANDA_DEVIDP_ENABLED = True
    settings.PANDA_DEVIDP_ISSUER = ISSUER
    settings.PANDA_DEVIDP_KEY_FILE = tmp_path / "idp" / "signing-key.pem"
    settings.VAR_DIR = tmp_path / "var"
    forget_signing_key()
    yield settings
    forget_signing_key()


@pytest.fixture(scope="session")
def _session_key_pem() -> bytes:
    return keys._new_pem()


@pytest.fixture
def idp(db, idp_settings, _session_key_pem):
    """The provider switched on and set up as the quick start does (accounts, clients, secrets, AuthConfig).

    Its key file is one generated once per session: RSA key generation is most of a test's time otherwise
    (test_keys.py covers generating it)."""
    path = idp_settings.PANDA_DEVIDP_KEY_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(_session_key_pem)
    path.chmod(0o600)
    return devidp_setup()


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def client_secret_of(client_id: str) -> str:
    return secret_file(client_id).read_text().strip()


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class AuthorizationFlow:
    """The authorization-code flow of panda-monitor, driven through the consent page."""

    redirect_uri = "http://testserver/oidc/callback/"

    def __init__(self, browser):
        self.browser = browser
        self.verifier = secrets.token_urlsafe(48)

    def params(self, **overrides) -> dict:
        params = {
            "client_id": "panda-monitor",
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": "openid profile email",
            "state": "st-1",
            "nonce": "n-1",
            "code_challenge": pkce_challenge(self.verifier),
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {name: value for name, value in params.items() if value is not None}

    def code(self, username: str = "alice", **overrides) -> str:
        params = self.params(**overrides)
        page = self.browser.get("/idp/authorize", params)
        assert page.status_code == 200, page.content
        answer = self.browser.post(
            "/idp/authorize",
            {**params, "username": username, "action": "approve", "csrfmiddlewaretoken": csrf_of(page)},
        )
        assert answer.status_code == 302, answer.content
        return query_of(answer["Location"])["code"]

    def redeem(self, code: str, **overrides):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
            "client_id": "panda-monitor",
            "client_secret": client_secret_of("panda-monitor"),
        }
        data.update(overrides)
        return Client().post("/idp/token", {k: v for k, v in data.items() if v is not None})


@pytest.fixture
def flow(idp, browser):
    return AuthorizationFlow(browser)


# --- the device flow of panda-client -----------------------------------------------------------


def start(**data):
    payload = {"client_id": "panda-client", "scope": "openid profile email offline_access ", "audience": ""}
    payload.update(data)
    return Client().post("/idp/devicecode", payload)


def poll(device_code: str, **data):
    return Client().post(
        "/idp/token", {"grant_type": DEVICE_GRANT, "client_id": "panda-client", "device_code": device_code, **data}
    )


def decide(browser, user_code: str, *, action: str = "approve", username: str = "alice"):
    page = browser.get("/idp/device", {"user_code": user_code})
    assert page.status_code == 200, page.content
    return browser.post(
        "/idp/device",
        {"user_code": user_code, "username": username, "action": action, "csrfmiddlewaretoken": csrf_of(page)},
    )


def allow_next_poll():
    """The client waited its interval (tests do not sleep)."""
    DeviceCode.objects.update(last_poll=utcnow() - dt.timedelta(seconds=60))
