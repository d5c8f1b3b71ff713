"""Harvester's client-credentials token source against a small token endpoint on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from harvester.agents.credmanager import credmanager_run
from harvester.config import ConfigError
from harvester.context import Harvester
from harvester.oauth import ClientCredentials, TokenFetchError, token_times
from tests.harvester.conftest import harvester_config

SECRET = "s3cret/with+odd=chars"


def jwt_like(*, lifetime: int, issued: float | None = None, n: int = 0) -> str:
    """Only the payload matters to Harvester: it never verifies the signature (the server does)."""
    iat = int(time.time() if issued is None else issued)

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({'sub': 'robot', 'iat': iat, 'exp': iat + lifetime, 'n': n})}.sig"


class TokenEndpoint:
    """Answers the client-credentials grant for client ``robot`` with ``SECRET`` (HTTP Basic)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.lifetime = 3600
        self.status = 200
        self.body: bytes | None = None
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                endpoint.requests.append({"authorization": self.headers.get("Authorization", ""), "form": form})
                expected = "Basic " + base64.b64encode(b"robot:s3cret%2Fwith%2Bodd%3Dchars").decode()
                if self.headers.get("Authorization") != expected:
                    self._answer(401, {"error": "invalid_client"})
                elif form.get("grant_type") != ["client_credentials"]:
                    self._answer(400, {"error": "unsupported_grant_type"})
                elif endpoint.body is not None:
                    self._answer(endpoint.status, None)
                else:
                    token = jwt_like(lifetime=endpoint.lifetime, n=len(endpoint.requests))
                    self._answer(endpoint.status, {"access_token": token, "expires_in": endpoint.lifetime})

            def _answer(self, status, payload):
                body = endpoint.body if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/idp/token"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    server = TokenEndpoint()
    yield server
    server.close()


@pytest.fixture
def source(endpoint, tmp_path):
    secret = tmp_path / "robot.secret"
    secret.write_text(SECRET + "\n")
    return ClientCredentials(
        token_endpoint=endpoint.url,
        client_id="robot",
        client_secret_file=str(secret),
        token_file=str(tmp_path / "run" / "token"),
        scope="",
        audience="",
    )


def written(source) -> str:
    with open(source.token_file) as handle:
        return handle.read().strip()


def test_a_missing_token_file_is_due_and_refresh_writes_a_private_token(source, endpoint):
    assert source.due()

    lifetime = source.refresh()

    assert lifetime == 3600
    token = written(source)
    assert token_times(token)[1] - token_times(token)[0] == 3600
    assert stat.S_IMODE(os.stat(source.token_file).st_mode) == 0o600
    [request] = endpoint.requests
    assert request["form"] == {"grant_type": ["client_credentials"]}


def test_scope_and_audience_are_sent_when_configured(source, endpoint):
    source.scope, source.audience = "openid", "https://panda.example"

    source.refresh()

    assert endpoint.requests[0]["form"] == {
        "grant_type": ["client_credentials"],
        "scope": ["openid"],
        "audience": ["https://panda.example"],
    }


def test_the_token_is_renewed_only_when_a_quarter_of_its_life_is_left(source, endpoint):
    source.refresh()
    issued, expires = token_times(written(source))

    assert not source.due(now=issued + 0.7 * 3600)
    assert source.due(now=issued + 0.76 * 3600)
    assert source.due(now=expires + 1)


def test_a_short_token_is_renewed_a_minute_before_it_expires(source, endpoint):
    endpoint.lifetime = 120
    source.refresh()
    issued, _ = token_times(written(source))

    assert not source.due(now=issued + 59)
    assert source.due(now=issued + 61)


def test_an_opaque_token_is_renewed_every_refresh_period(source, endpoint):
    os.makedirs(os.path.dirname(source.token_file))
    with open(source.token_file, "w") as handle:
        handle.write("opaque-token\n")
    written_at = os.path.getmtime(source.token_file)
    source.opaque_refresh_seconds = 600

    assert not source.due(now=written_at + 599)
    assert source.due(now=written_at + 600)


def test_a_refused_or_unusable_answer_raises_and_keeps_the_old_token(source, endpoint, tmp_path):
    source.refresh()
    old = written(source)
    cases = [
        (401, b'{"error": "invalid_client"}', "HTTP 401"),
        (200, b"<html>", "no access_token"),
        (200, b'{"access_token": "two words"}', "unusable access_token"),
    ]
    for status, body, message in cases:
        endpoint.status, endpoint.body = status, body
        with pytest.raises(TokenFetchError, match=message):
            source.refresh()
        assert written(source) == old


def test_a_wrong_or_missing_secret_is_reported(source, endpoint, tmp_path):
    (tmp_path / "robot.secret").write_text("wrong\n")
    with pytest.raises(TokenFetchError, match="HTTP 401"):
        source.refresh()
    (tmp_path / "robot.secret").unlink()
    with pytest.raises(TokenFetchError, match="cannot read the client secret"):
        source.refresh()


def test_an_unreachable_endpoint_is_reported(source):
    source.token_endpoint = "http://127.0.0.1:9/idp/token"

    with pytest.raises(TokenFetchError, match="127.0.0.1:9"):
        source.refresh()


def test_the_credential_manager_obtains_and_renews_harvesters_token(endpoint, tmp_path):
    (tmp_path / "robot.secret").write_text(SECRET)
    config = harvester_config(
        tmp_path,
        harvester={
            "token_endpoint": endpoint.url,
            "client_id": "robot",
            "client_secret_file": "robot.secret",  # relative to the configuration
            "token_file": "run/token",
            "origin": "atlas.production",
        },
    )
    h = Harvester.from_config(config)
    try:
        assert credmanager_run(h) is True
        first = (tmp_path / "run" / "token").read_text().strip()
        assert credmanager_run(h) is False  # fresh: not renewed
        assert h.comm._headers()["Authorization"] == f"Bearer {first}"
        assert h.comm._headers()["Origin"] == "atlas.production"

        endpoint.lifetime = 30  # a token that is already inside its renewal margin
        (tmp_path / "run" / "token").unlink()
        assert credmanager_run(h) is True
        second = (tmp_path / "run" / "token").read_text().strip()
        assert credmanager_run(h) is True  # due again at once
        assert (tmp_path / "run" / "token").read_text().strip() not in (first, second)

        endpoint.status, endpoint.body = 500, b"{}"
        kept = (tmp_path / "run" / "token").read_text()
        assert credmanager_run(h) is False
        assert (tmp_path / "run" / "token").read_text() == kept
    finally:
        h.close()


def test_a_token_left_by_an_earlier_run_is_replaced_at_start(endpoint, tmp_path):
    (tmp_path / "robot.secret").write_text(SECRET)
    (tmp_path / "run").mkdir()
    # Still valid for long, but maybe of another issuer or key: a new Harvester process asks again.
    old = jwt_like(lifetime=4 * 24 * 3600, n=99)
    (tmp_path / "run" / "token").write_text(old)
    config = harvester_config(
        tmp_path,
        harvester={
            "token_endpoint": endpoint.url,
            "client_id": "robot",
            "client_secret_file": "robot.secret",
            "token_file": "run/token",
        },
    )
    h = Harvester.from_config(config)
    try:
        assert credmanager_run(h) is True
        assert (tmp_path / "run" / "token").read_text().strip() != old
        assert len(endpoint.requests) == 1
        assert credmanager_run(h) is False
    finally:
        h.close()


COMPLETE = {"token_endpoint": "http://idp/token", "client_id": "c", "client_secret_file": "s", "token_file": "t"}


def without(key: str) -> dict:
    return {name: value for name, value in COMPLETE.items() if name != key}


@pytest.mark.parametrize(
    ("harvester", "message"),
    [
        (without("client_id"), "needs harvester.client_id"),
        (without("client_secret_file"), "needs harvester.client_secret_file"),
        (without("token_file"), "needs harvester.token_file"),
        ({**COMPLETE, "token_endpoint": "ftp://idp/token"}, "must be an http"),
        ({"client_id": "c"}, "need harvester.token_endpoint"),
        ({**COMPLETE, "token_refresh_command": ["true"]}, "exclude each other"),
    ],
)
def test_an_incomplete_client_credentials_configuration_is_refused(tmp_path, harvester, message):
    with pytest.raises(ConfigError, match=message):
        harvester_config(tmp_path, harvester=harvester)
