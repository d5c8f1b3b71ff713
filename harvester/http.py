"""One HTTP exchange for Harvester's clients (the server API and the token endpoint), standard library only."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request


def exchange(
    request: urllib.request.Request,
    *,
    timeout: float,
    context: ssl.SSLContext | None,
    what: str,
    error: type[Exception],
) -> str:
    """The response body as text; an HTTP error or an unreachable server raises ``error`` naming ``what``."""
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise error(f"{what}: HTTP {exc.code} {detail}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        raise error(f"{what}: {exc}") from None
