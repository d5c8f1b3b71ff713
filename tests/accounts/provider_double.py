"""A small local HTTP server that plays an OIDC provider's device-code protocol for the CLI tests.

It is a protocol-level test server, not a mock of our code: the CLI talks real HTTP to it. Each answer of
the token endpoint to a device-code poll is taken from ``device_answers`` in order, so a test scripts
``authorization_pending``, ``slow_down``, ``expired_token`` and success.
"""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def fake_id_token(*, expires_in: float, username: str = "jdoe") -> str:
    """A JWT-shaped ID token; the CLI reads its ``exp`` without verifying (the server verifies)."""
    now = int(time.time())
    claims = {"sub": "s-1", "preferred_username": username, "iat": now, "exp": int(now + expires_in)}
    return f"{b64({'alg': 'RS256', 'kid': 'k1'})}.{b64(claims)}.c2lnbmF0dXJl"


def token_answer(*, expires_in: float = 3600, refresh_token: str | None = "refresh-1", username: str = "jdoe") -> dict:
    answer = {
        "access_token": "access-" + username,
        "id_token": fake_id_token(expires_in=expires_in, username=username),
        "token_type": "Bearer",
        "expires_in": int(expires_in),
    }
    if refresh_token:
        answer["refresh_token"] = refresh_token
    return answer


class ProviderDouble:
    def __init__(self, *, jwt_profile: str = "", interval: float = 5, expires_in: int = 600, tls=None):
        self.jwt_profile = jwt_profile
        self.interval = interval
        self.expires_in = expires_in
        self.device_answers: list[tuple[int, dict]] = []
        self.refresh_answers: list[tuple[int, dict]] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        scheme = "http"
        if tls is not None:  # an ssl.SSLContext holding the server's certificate
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def posts_to(self, path: str) -> list[dict]:
        return [form for method, got, form in self.requests if method == "POST" and got == path]

    def auth_config(self) -> dict:
        return {
            "vo": "atlas",
            "client_id": "panda-client",
            "client_secret": "public-secret",
            "audience": "https://panda.example.org",
            "oidc_config_url": self.url + "/.well-known/openid-configuration",
            "jwt_profile": self.jwt_profile,
        }

    def answer(self, method: str, path: str, form: dict) -> tuple[int, dict]:
        self.requests.append((method, path, form))
        if method == "GET" and path == "/auth/atlas_auth_config.json":
            return 200, self.auth_config()
        if method == "GET" and path == "/.well-known/openid-configuration":
            return 200, {
                "issuer": self.url,
                "device_authorization_endpoint": self.url + "/device",
                "token_endpoint": self.url + "/token",
            }
        if method == "POST" and path == "/device":
            return 200, {
                "device_code": "dev-code-1",
                "user_code": "ABCD-EFGH",
                "verification_uri": self.url + "/verify",
                "verification_uri_complete": self.url + "/verify?user_code=ABCD-EFGH",
                "interval": self.interval,
                "expires_in": self.expires_in,
            }
        if method == "POST" and path == "/token":
            answers = self.refresh_answers if form.get("grant_type") == "refresh_token" else self.device_answers
            if answers:
                return answers.pop(0)
            return 400, {"error": "invalid_request", "error_description": "no answer scripted"}
        return 404, {"error": "not_found"}

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._send(*double.answer("GET", self.path, {}))

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                form = {key: values[-1] for key, values in parse_qs(body).items()}
                self._send(*double.answer("POST", self.path, form))

            def _send(self, status: int, data: dict):
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler
