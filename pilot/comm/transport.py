"""HTTP requests with retries (exponential backoff with jitter); standard library only."""

from __future__ import annotations

import gzip
import json
import logging
import platform
import random
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pilot import __version__
from pilot.comm.credentials import Credentials

logger = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = f"pilot/{__version__} (Python {platform.python_version()}; {platform.system()} {platform.machine()})"


class TransportError(Exception):
    """The request did not produce a usable answer (network, HTTP error, undecodable body)."""


@dataclass
class Reply:
    status: int
    body: str
    content_type: str


def _ssl_context(creds: Credentials) -> ssl.SSLContext:
    context = ssl.create_default_context(capath=creds.ca_path or None)
    if creds.proxy_path and not creds.token_path:
        context.load_cert_chain(creds.proxy_path)
    return context


def encode_body(params: dict[str, Any], *, style: str) -> tuple[bytes, dict[str, str]]:
    """Body and headers for one of the request styles.

    * ``legacy``: gzip-compressed JSON, ``Content-Type: application/json``, no Content-Encoding, no Accept
      (byte-for-byte what pilot 3.11 sends to ``/server/panda/*``);
    * ``v1``: gzip JSON with ``Content-Encoding: gzip`` and ``Accept: application/json``;
    * ``form``: url-encoded strings (pilot 3.11's curl fallback).
    """
    if style == "legacy":
        return gzip.compress(json.dumps(params).encode()), {"Content-Type": "application/json"}
    if style == "v1":
        return gzip.compress(json.dumps(params).encode()), {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept": "application/json",
        }
    if style == "form":
        flat = {k: _form_value(v) for k, v in params.items()}
        return urllib.parse.urlencode(flat).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
    raise ValueError(f"unknown request style {style}")


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def post(url: str, params: dict[str, Any], *, style: str, creds: Credentials, timeout: float) -> Reply:
    body, headers = encode_body(params, style=style)
    headers["User-Agent"] = USER_AGENT
    headers.update(creds.headers())
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    return _open(request, creds=creds, timeout=timeout)


def get(url: str, *, creds: Credentials | None = None, timeout: float, params: dict[str, Any] | None = None) -> Reply:
    if params:
        url = f"{url}?{urllib.parse.urlencode(params, doseq=True)}"
    headers = {"User-Agent": USER_AGENT}
    if creds:
        headers.update(creds.headers())
    return _open(urllib.request.Request(url, headers=headers), creds=creds or Credentials(), timeout=timeout)


def _open(request: urllib.request.Request, *, creds: Credentials, timeout: float) -> Reply:
    context = _ssl_context(creds) if request.full_url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            raw = response.read()
            return Reply(response.status, _decode(raw), response.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as exc:
        text = _decode(exc.read() or b"")
        raise TransportError(f"HTTP {exc.code} from {request.full_url}: {text[:300]}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TransportError(f"{request.full_url}: {exc}") from None


def _decode(raw: bytes) -> str:
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def backoff_delays(*, attempts: int, base: float, cap: float) -> list[float]:
    """Delays before attempts 2..n: exponential, capped, with "equal jitter" so pilots do not stampede."""
    delays = []
    for n in range(attempts - 1):
        delay = min(cap, base * (2**n))
        delays.append(delay / 2 + random.uniform(0, delay / 2))
    return delays


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int,
    base: float,
    cap: float,
    stop: threading.Event | None = None,
    what: str = "request",
) -> T:
    """Run ``call`` until it returns; :class:`TransportError` is retried, the last one re-raised."""
    delays = backoff_delays(attempts=attempts, base=base, cap=cap)
    for attempt in range(attempts):
        try:
            return call()
        except TransportError as exc:
            if attempt == attempts - 1:
                raise
            delay = delays[attempt]
            logger.warning("%s failed (attempt %d/%d): %s; retrying in %.1f s", what, attempt + 1, attempts, exc, delay)
            if stop is not None:
                if stop.wait(delay):
                    raise
            else:
                time.sleep(delay)
    raise AssertionError("unreachable")
