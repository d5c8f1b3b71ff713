"""The benchmark's identity provider: an RSA key made at start, its discovery document and JWKS served
over HTTP on 127.0.0.1 from a thread of the bench process, and the robot token the simulated pilots send.

gunicorn's workers validate the token exactly as in production: they fetch the discovery document
and the JWKS once (cached), then every request is a decision-cache hit.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "bench-pilot"
KID = "bench-key"


class BenchIssuer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="bench-issuer", daemon=True)
        self.thread.start()

    @property
    def config_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def documents(self) -> dict[str, dict]:
        jwk = {**RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": KID, "use": "sig", "alg": "RS256"}
        return {
            "/.well-known/openid-configuration": {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"},
            "/jwks": {"keys": [jwk]},
        }

    def _handler(self):
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                document = issuer.documents().get(self.path)
                body = json.dumps(document).encode() if document else b"{}"
                self.send_response(200 if document else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def auth_config(self) -> dict:
        """The VO record (AuthConfig fields) that makes the server accept this issuer's robot token."""
        return {
            "name": "atlas",
            "vo": "atlas",
            "client_id": "bench-client",
            "oidc_config_url": self.config_url,
            "robot_ids": {CLIENT_ID: ["production"]},
            "auto_roles": ["production"],
        }

    def robot_token(self, *, lifetime: int = 24 * 3600) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": CLIENT_ID, "client_id": CLIENT_ID, "aud": CLIENT_ID,
                  "iat": now, "exp": now + lifetime}  # fmt: skip
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
