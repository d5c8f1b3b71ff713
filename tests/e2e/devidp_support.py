"""The development identity provider served by the live server, driven over HTTP as a client would."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from apps.devidp.files import private_file_write
from apps.devidp.models import DevClient
from apps.devidp.services.grants import client_credentials_grant

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _post_form(url: str, data: dict, opener=None) -> dict:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(), method="POST")
    with (opener or urllib.request.build_opener()).open(request, timeout=30) as response:
        return json.loads(response.read())


@dataclass
class LiveProvider:
    issuer: str

    def robot_token_file(self, client_id: str, path: Path) -> Path:
        """A client-credentials token of a robot client (what Harvester obtains for itself)."""
        token = client_credentials_grant(client=DevClient.objects.get(client_id=client_id))["access_token"]
        private_file_write(path, token)
        return path

    def device_login(self, username: str, *, client_id: str = "panda-client") -> dict:
        """panda-client's device flow: device code, a person approving on /idp/device, then the token poll."""
        started = _post_form(
            f"{self.issuer}/devicecode", {"client_id": client_id, "scope": "openid profile email offline_access"}
        )
        self.approve(started["verification_uri_complete"], username)
        return _post_form(
            f"{self.issuer}/token",
            {"grant_type": DEVICE_GRANT, "client_id": client_id, "device_code": started["device_code"]},
        )

    def approve(self, verification_uri_complete: str, username: str) -> None:
        """What a person does in the browser: open the link the command line shows, pick the account, approve."""
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with browser.open(verification_uri_complete, timeout=30) as page:
            html = page.read().decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        user_code = urllib.parse.parse_qs(urllib.parse.urlsplit(verification_uri_complete).query)["user_code"][0]
        form = {"csrfmiddlewaretoken": csrf, "user_code": user_code, "username": username, "action": "approve"}
        approve = urllib.request.Request(
            f"{self.issuer}/device",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Referer": verification_uri_complete},
            method="POST",
        )
        with browser.open(approve, timeout=30) as page:
            assert f"logged in as {username}" in page.read().decode()


def token_claims(token: str) -> dict:
    """The payload of a JWT, unverified (the server verifies; tests only read it)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
