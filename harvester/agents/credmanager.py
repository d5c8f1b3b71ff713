"""CredManager: keep the token file fresh.

Every server call (and every pilot's) reads the token file again, so renewing a credential means
rewriting that file. Two ways:

- ``token_endpoint`` + ``client_id`` + ``client_secret_file``: Harvester obtains its robot token
  itself by the OAuth client-credentials grant (harvester/oauth.py) at start and renews it when a
  quarter of its lifetime is left;
- ``token_refresh_command`` (for example an OIDC agent's ``oidc-token`` writing the file, or a site's
  own script): run every ``token_refresh_seconds``.

A failure is logged and retried next cycle; the previous token stays in use meanwhile.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess

from harvester.context import Harvester
from harvester.oauth import ClientCredentials, TokenFetchError
from harvester.store import TIME_FORMAT, utcnow

log = logging.getLogger(__name__)

REFRESHED_KEY = "token_refreshed_at"


def client_credentials_of(h: Harvester) -> ClientCredentials:
    config = h.config
    return ClientCredentials(
        token_endpoint=config.token_endpoint,
        client_id=config.client_id,
        client_secret_file=config.client_secret_file,
        token_file=config.token_file,
        scope=config.token_scope,
        audience=config.token_audience,
        ca_file=config.ca_file,
        timeout=config.http_timeout,
        opaque_refresh_seconds=config.token_refresh_seconds,
    )


def _client_credentials_run(h: Harvester) -> bool:
    source = client_credentials_of(h)
    if h.token_renewed_since_start and not source.due():
        return False
    try:
        lifetime = source.refresh()
    except (TokenFetchError, OSError) as exc:
        log.warning("token request failed: %s", exc)
        return False
    h.token_renewed_since_start = True
    h.store.state_set(REFRESHED_KEY, utcnow().strftime(TIME_FORMAT))
    log.info("token obtained from %s for %s (valid %d s)", source.token_endpoint, source.client_id, lifetime)
    return True


def credmanager_run(h: Harvester) -> bool:
    """Renew the token when due; True when a new token was written."""
    if h.config.token_endpoint:
        return _client_credentials_run(h)
    command = h.config.token_refresh_command
    if not command:
        return False
    last = h.store.state_get(REFRESHED_KEY)
    period = dt.timedelta(seconds=h.config.token_refresh_seconds)
    if last and dt.datetime.strptime(last, TIME_FORMAT) > utcnow() - period:
        return False
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("token refresh failed: %s", exc)
        return False
    if result.returncode != 0:
        log.warning("token refresh exited with %s: %s", result.returncode, result.stderr.strip()[:300])
        return False
    h.store.state_set(REFRESHED_KEY, utcnow().strftime(TIME_FORMAT))
    log.info("token refreshed")
    return True
