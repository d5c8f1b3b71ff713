"""CredManager: keep the token file fresh.

Every server call reads the token file again, so renewing a credential means rewriting that file.
With ``token_refresh_command`` configured (for example an OIDC agent's ``oidc-token`` writing the
file, or a site's own script), this agent runs it every ``token_refresh_seconds``; a failure is
logged and retried next cycle, and the previous token stays in use meanwhile.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess

from harvester.context import Harvester
from harvester.store import TIME_FORMAT, utcnow

log = logging.getLogger(__name__)

REFRESHED_KEY = "token_refreshed_at"


def credmanager_run(h: Harvester) -> bool:
    """Run the refresh command when due; True when it ran and succeeded."""
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
