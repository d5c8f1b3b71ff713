"""Credentials: bearer token file + Origin (token mode), or an x509 proxy (pilot-harvester.md §5.1)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass
class Credentials:
    token_path: str = ""
    origin: str = ""
    proxy_path: str = ""
    ca_path: str = ""

    @property
    def present(self) -> bool:
        return bool(self.token_path or self.proxy_path)

    def token(self) -> str:
        """Read each time: a refreshed token file is picked up without a restart."""
        if not self.token_path:
            return ""
        with open(self.token_path, encoding="utf-8") as handle:
            return handle.read().strip()

    def headers(self) -> dict[str, str]:
        if not self.token_path:
            return {}
        headers = {"Authorization": f"Bearer {self.token()}"}
        if self.origin:
            headers["Origin"] = self.origin
        return headers


def _token_dirs(pilot_home: str) -> list[str]:
    dirs = []
    auth_dir = os.environ.get("OIDC_AUTH_DIR")
    if auth_dir:
        dirs.append(os.path.dirname(auth_dir.rstrip("/")) or auth_dir)
        dirs.append(auth_dir)
    for var in ("PILOT_SOURCE_DIR", "PILOT_WORK_DIR"):
        if os.environ.get(var):
            dirs.append(os.environ[var])
    dirs.append(pilot_home)
    if os.environ.get("HOME"):
        dirs.append(os.environ["HOME"])
    return dirs


def find_credentials(*, pilot_home: str, capath: str = "", cacert: str = "") -> Credentials:
    creds = Credentials()
    token_name = os.environ.get("OIDC_AUTH_TOKEN") or os.environ.get("PANDA_AUTH_TOKEN") or ""
    if token_name:
        candidates = (
            [token_name]
            if os.path.isabs(token_name)
            else [os.path.join(d, token_name) for d in _token_dirs(pilot_home)]
        )
        for path in candidates:
            if os.path.isfile(path) and os.access(path, os.R_OK):
                creds.token_path = path
                break
        else:
            logger.warning("token file %s not found in %s", token_name, candidates)
    creds.origin = os.environ.get("OIDC_AUTH_ORIGIN") or os.environ.get("PANDA_AUTH_ORIGIN") or ""
    proxy = cacert or os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}"
    if os.path.isfile(proxy) and os.access(proxy, os.R_OK):
        creds.proxy_path = proxy
    for ca in (capath, os.environ.get("X509_CERT_DIR", ""), "/etc/grid-security/certificates"):
        if ca and os.path.isdir(ca):
            creds.ca_path = ca
            break
    return creds
