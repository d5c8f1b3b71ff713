"""Identity providers' discovery documents and signing keys (iam.md §3 step 4).

Both are cached per URL for ``PANDA_OIDC_KEYS_CACHE_SECONDS``. A token naming a key id the cached JWKS
does not hold makes exactly one refetch of the JWKS (the provider may have rotated its key).

Documents come from, in order: a resolver registered with :func:`register_local_documents` for URLs
under its prefix (the development provider answers in-process, so the server never HTTP-calls itself);
the fetcher installed with :func:`set_fetcher` (tests); the default HTTPS fetcher, which verifies TLS
(``PANDA_OIDC_CA_BUNDLE``: empty or ``true`` for the system CAs, a CA bundle path, or ``false``).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from django.conf import settings
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

Fetcher = Callable[[str], dict]
Resolver = Callable[[str], "dict | None"]

FETCH_TIMEOUT_SECONDS = 10
MAX_DOCUMENT_BYTES = 1 << 20


class KeyFetchError(Exception):
    """A discovery document or JWKS could not be obtained or is malformed."""


_lock = threading.Lock()
_fetcher: Fetcher | None = None
_local: dict[str, Resolver] = {}
_documents: dict[str, tuple[float, dict]] = {}
_key_sets: dict[str, tuple[float, dict[str, Any]]] = {}


def set_fetcher(fetcher: Fetcher | None) -> None:
    """Fetch documents with ``fetcher(url) -> dict``; ``None`` restores the default HTTPS fetcher."""
    global _fetcher
    _fetcher = fetcher


def register_local_documents(prefix: str, resolver: Resolver) -> None:
    """Answer URLs under ``prefix`` in-process with ``resolver(url)`` (``None`` means not found)."""
    with _lock:
        _local[prefix.rstrip("/")] = resolver


def forget_keys() -> None:
    """Drop the cached documents and keys (registered resolvers and the fetcher stay)."""
    with _lock:
        _documents.clear()
        _key_sets.clear()


def _ssl_context() -> ssl.SSLContext:
    bundle = (settings.PANDA_OIDC_CA_BUNDLE or "").strip()
    if bundle.lower() in ("", "true", "1", "yes"):
        return ssl.create_default_context()
    if bundle.lower() in ("false", "0", "no"):
        log.warning("PANDA_OIDC_CA_BUNDLE=false: identity provider certificates are NOT verified")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=bundle)


def http_fetch(url: str) -> dict:
    """GET ``url`` and parse its JSON object, verifying the server's certificate for https."""
    if not url.startswith(("https://", "http://")):
        raise KeyFetchError(f"unsupported URL {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        context = _ssl_context() if url.startswith("https://") else None
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS, context=context) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise KeyFetchError(f"cannot fetch {url}: {exc}") from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise KeyFetchError(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise KeyFetchError(f"{url} is not JSON") from exc


def _local_resolver(url: str) -> Resolver | None:
    for prefix, resolver in list(_local.items()):
        if url == prefix or url.startswith(prefix + "/"):
            return resolver
    return None


def fetch_document(url: str) -> dict:
    resolver = _local_resolver(url)
    try:
        if resolver is not None:
            document = resolver(url)
            if document is None:
                raise KeyFetchError(f"{url} not found")
        else:
            document = (_fetcher or http_fetch)(url)
    except KeyFetchError:
        raise
    except Exception as exc:  # an injected fetcher or resolver may raise anything
        raise KeyFetchError(f"cannot fetch {url}: {exc}") from exc
    if not isinstance(document, dict):
        raise KeyFetchError(f"{url} is not a JSON object")
    return document


def discovery(config_url: str) -> dict:
    """The provider's discovery document; ``issuer`` and ``jwks_uri`` are checked to be present."""
    now = time.monotonic()
    cached = _documents.get(config_url)
    if cached is not None and cached[0] > now:
        return cached[1]
    document = fetch_document(config_url)
    for name in ("issuer", "jwks_uri"):
        if not isinstance(document.get(name), str) or not document[name]:
            raise KeyFetchError(f"discovery document {config_url} has no {name}")
    with _lock:
        _documents[config_url] = (now + settings.PANDA_OIDC_KEYS_CACHE_SECONDS, document)
    return document


def _parse_key_set(jwks_uri: str, document: dict) -> dict[str, Any]:
    keys = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise KeyFetchError(f"JWKS {jwks_uri} has no keys list")
    for entry in entries:
        # Only RSA signing keys can verify RS256, the one algorithm we accept.
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            keys[entry["kid"]] = RSAAlgorithm.from_jwk(entry)
        except Exception as exc:  # a malformed key must not hide the good ones
            log.warning("skipping unusable key %s of %s: %s", entry.get("kid"), jwks_uri, exc)
    return keys


def _load_key_set(jwks_uri: str) -> dict[str, Any]:
    keys = _parse_key_set(jwks_uri, fetch_document(jwks_uri))
    with _lock:
        _key_sets[jwks_uri] = (time.monotonic() + settings.PANDA_OIDC_KEYS_CACHE_SECONDS, keys)
    return keys


def signing_key(jwks_uri: str, kid: str):
    """The public key ``kid`` of ``jwks_uri``; ``None`` when the provider does not list it.

    An unknown ``kid`` in a cached key set makes one refetch (key rotation), never more.
    """
    cached = _key_sets.get(jwks_uri)
    if cached is not None and cached[0] > time.monotonic():
        keys = cached[1]
        if kid in keys:
            return keys[kid]
    keys = _load_key_set(jwks_uri)
    return keys.get(kid)
