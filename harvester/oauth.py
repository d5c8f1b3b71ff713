"""Harvester's own token: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4), standard library only.

With ``token_endpoint``, ``client_id`` and ``client_secret_file`` configured, Harvester asks the
identity provider for a robot access token itself (HTTP Basic client authentication) and writes it to
``token_file`` (mode 0600, replaced atomically: a pilot or a server call never reads half a token).
The token is renewed when a quarter of its lifetime is left, read from the JWT's ``exp`` and ``iat``;
an opaque token is renewed every ``token_refresh_seconds``. The pilots Harvester starts read the same
file, so they always send a valid token too.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from harvester.http import exchange

MIN_MARGIN_SECONDS = 60


class TokenFetchError(RuntimeError):
    """The identity provider gave no token (unreachable, refused, or an unusable answer)."""


def token_times(token: str) -> tuple[float, float] | None:
    """``(iat, exp)`` of a JWT, read without verification (the server verifies it); None if opaque."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = float(claims["exp"])
        return float(claims.get("iat", exp)), exp
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def write_private(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".token-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class ClientCredentials:
    token_endpoint: str
    client_id: str
    client_secret_file: str
    token_file: str
    scope: str = ""
    audience: str = ""
    ca_file: str = ""
    timeout: float = 20.0
    opaque_refresh_seconds: float = 3600.0

    def _secret(self) -> str:
        try:
            with open(self.client_secret_file, encoding="utf-8") as handle:
                secret = handle.read().strip()
        except OSError as exc:
            raise TokenFetchError(f"cannot read the client secret {self.client_secret_file}: {exc.strerror}") from None
        if not secret:
            raise TokenFetchError(f"the client secret file {self.client_secret_file} is empty")
        return secret

    def fetch(self) -> tuple[str, float]:
        """A new access token and its lifetime in seconds."""
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        pair = f"{urllib.parse.quote(self.client_id, safe='')}:{urllib.parse.quote(self._secret(), safe='')}"
        request = urllib.request.Request(
            self.token_endpoint,
            data=urllib.parse.urlencode(form).encode(),
            headers={
                "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        https = self.token_endpoint.startswith("https")
        context = ssl.create_default_context(cafile=self.ca_file or None) if https else None
        text = exchange(request, timeout=self.timeout, context=context, what=self.token_endpoint, error=TokenFetchError)
        try:
            answer = json.loads(text)
            token = answer["access_token"]
            lifetime = float(answer.get("expires_in") or 0)
        except (ValueError, TypeError, KeyError):
            raise TokenFetchError(f"{self.token_endpoint}: no access_token in {text[:200]!r}") from None
        if not isinstance(token, str) or not token or any(ch.isspace() for ch in token):
            raise TokenFetchError(f"{self.token_endpoint}: unusable access_token")
        return token, lifetime

    def due(self, *, now: float | None = None) -> bool:
        """True when the token file is missing or less than a quarter of its token's lifetime is left."""
        now = time.time() if now is None else now
        try:
            with open(self.token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
            written = os.path.getmtime(self.token_file)
        except OSError:
            return True
        if not token:
            return True
        times = token_times(token)
        if times is None:
            return now - written >= self.opaque_refresh_seconds
        issued, expires = times
        return expires - now <= max((expires - issued) / 4, MIN_MARGIN_SECONDS)

    def refresh(self) -> float:
        """Fetch a token and write it; returns its lifetime in seconds."""
        token, lifetime = self.fetch()
        write_private(self.token_file, token)
        return lifetime
