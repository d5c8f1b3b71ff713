"""The development provider switched on for browser-login tests, and a small HTTP browser for live servers."""

import re
from html import unescape
from urllib.parse import urlencode

import requests

from apps.accounts.oidc.config import forget_auth_configs
from apps.accounts.oidc.keys import forget_keys, register_local_documents
from apps.devidp.documents import local_document
from apps.devidp.keys import forget_signing_key
from apps.devidp.services.setup import devidp_setup, secret_file


def dev_provider_on(settings, tmp_path, server_url: str):
    """The development provider at ``<server_url>/idp``, set up as the quick start does (accounts alice, bob,
    prodmgr; the panda-monitor client redirecting to ``server_url``; the "atlas" AuthConfig)."""
    settings.PANDA_DEVIDP_ENABLED = True
    settings.PANDA_DEVIDP_ISSUER = server_url + "/idp"
    settings.PANDA_DEVIDP_KEY_FILE = tmp_path / "idp" / "signing-key.pem"
    settings.VAR_DIR = tmp_path / "var"
    settings.PANDA_MONITOR_OIDC_CLIENT_SECRET = ""
    settings.PANDA_MONITOR_OIDC_CLIENT_SECRET_FILE = secret_file("panda-monitor")
    settings.PANDA_BROWSER_LOGIN_VO = "atlas"
    forget_signing_key()
    # The server reads the provider's documents in-process, as it does for the quick start's issuer.
    register_local_documents(settings.PANDA_DEVIDP_ISSUER, local_document)
    result = devidp_setup(server_url=server_url)
    forget_auth_configs()
    forget_keys()
    return result


def form_fields(html: str) -> dict:
    """The hidden inputs (with the CSRF token) of the page's form."""
    return {
        name: unescape(value)
        for name, value in re.findall(r"<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]*)\"", html)
    }


class Browser:
    """Follows redirects and keeps cookies, like a browser without JavaScript."""

    def __init__(self, base_url: str):
        self.base = base_url
        self.session = requests.Session()

    def get(self, path: str, **kwargs):
        return self.session.get(self.base + path, timeout=30, **kwargs)

    def login(self, username: str, *, next_path: str = "/"):
        """Click "Log in", pick ``username`` on the provider's page; the answer is where the browser landed."""
        consent = self.get("/login/?" + urlencode({"next": next_path}))
        assert "/idp/authorize" in consent.url, (consent.status_code, consent.text[:500])
        fields = form_fields(consent.text)
        return self.session.post(consent.url.split("?")[0], data={**fields, "username": username, "action": "approve"})

    def logout(self):
        page = self.get("/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return self.session.post(self.base + "/logout/", data={"csrfmiddlewaretoken": token}, timeout=30)
