"""A test identity provider: RSA keys generated here, its discovery document and JWKS served in-process.

``TestIssuer`` signs tokens and answers the validator's document fetches (install ``issuer.fetch`` with
``apps.accounts.oidc.keys.set_fetcher``), counting them so tests can see the one refetch on rotation.
The autouse fixture in tests/conftest.py installs ``ISSUER`` with the ``atlas`` VO record below.
"""

from __future__ import annotations

import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER_URL = "https://idp.test.invalid/"
CONFIG_URL = "https://idp.test.invalid/.well-known/openid-configuration"
JWKS_URL = "https://idp.test.invalid/jwks"
USER_CLIENT = "panda-client"
AUDIENCE = "https://panda.test.invalid"
ROBOT_IDS = {"panda-pilot": ["pilot"], "panda-harvester": ["production"]}

ATLAS_CONFIG = {
    "name": "atlas",
    "vo": "atlas",
    "client_id": USER_CLIENT,
    "audience": AUDIENCE,
    "oidc_config_url": CONFIG_URL,
    "auto_roles": ["production", "pilot"],
    "robot_ids": ROBOT_IDS,
}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TestIssuer:
    __test__ = False  # not a test class

    def __init__(self, *, issuer: str = ISSUER_URL, config_url: str = CONFIG_URL, jwks_url: str = JWKS_URL):
        self.issuer = issuer
        self.config_url = config_url
        self.jwks_url = jwks_url
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches: list[str] = []
        self.add_key("test-key-1")

    def add_key(self, kid: str, *, publish: bool = True) -> None:
        self.keys[kid] = new_key()
        if publish:
            self.published.append(kid)

    @property
    def kid(self) -> str:
        return self.published[-1]

    def jwks(self) -> dict:
        entries = []
        for kid in self.published:
            jwk = RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            entries.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": entries}

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "authorization_endpoint": self.issuer + "authorize",
            "token_endpoint": self.issuer + "token",
        }

    def fetch(self, url: str) -> dict:
        self.fetches.append(url)
        if url == self.config_url:
            return self.discovery()
        if url == self.jwks_url:
            return self.jwks()
        raise LookupError(f"{url} not found")

    def jwks_fetches(self) -> int:
        return self.fetches.count(self.jwks_url)

    def claims(self, *, subject: str, expires_in: float = 3600, **extra) -> dict:
        now = int(time.time())
        return {"iss": self.issuer, "sub": subject, "iat": now, "exp": int(now + expires_in), **extra}

    def sign(
        self, claims: dict, *, kid: str | None = None, algorithm: str = "RS256", headers: dict | None = None
    ) -> str:
        kid = kid or self.kid
        return jwt.encode(claims, self.keys[kid], algorithm=algorithm, headers={"kid": kid, **(headers or {})})

    def public_pem(self, kid: str | None = None) -> bytes:
        return (
            self.keys[kid or self.kid]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


ISSUER = TestIssuer()
