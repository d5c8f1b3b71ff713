"""Legacy x509 identities asserted by a trusted front proxy (iam.md §7).

Only a request from an address in ``PANDA_X509_TRUSTED_PROXIES`` that carries the shared secret
``PANDA_X509_PROXY_SECRET`` in ``PANDA_X509_SECRET_HEADER`` may assert a client DN
(``PANDA_X509_DN_HEADER``, OpenSSL ``/DC=.../CN=...`` form) and VOMS FQANs (``PANDA_X509_FQANS_HEADER``,
comma-separated, ``VOMS /atlas/Role=production/Capability=NULL`` or bare FQANs). From anyone else these
headers are ignored. Every accepted request logs a deprecation warning and is counted per DN.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from functools import lru_cache

from django.conf import settings

from apps.accounts.identity import Identity
from apps.accounts.models import User
from apps.accounts.services.x509_usage import x509_usage_count

log = logging.getLogger(__name__)

LIMITED_PROXY = "/CN=limited proxy"


def _meta_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.error("PANDA_X509_TRUSTED_PROXIES: %r is not an address or network, ignored", entry)
    return tuple(networks)


def from_trusted_proxy(meta: dict) -> bool:
    """The request comes from a trusted proxy address AND carries the right shared secret."""
    secret = settings.PANDA_X509_PROXY_SECRET
    if not secret or not settings.PANDA_X509_TRUSTED_PROXIES:
        return False
    try:
        address = ipaddress.ip_address(meta.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if not any(address in network for network in _networks(tuple(settings.PANDA_X509_TRUSTED_PROXIES))):
        return False
    sent = meta.get(_meta_key(settings.PANDA_X509_SECRET_HEADER), "")
    return hmac.compare_digest(sent.encode(), secret.encode())


def clean_dn(dn: str) -> tuple[str, bool]:
    """``(dn, limited)``: ``/CN=limited proxy`` removed (and flagged), repeated ``/CN=proxy`` collapsed."""
    dn = dn.strip()
    limited = LIMITED_PROXY in dn
    dn = dn.replace(LIMITED_PROXY, "")
    dn = re.sub(r"(/CN=proxy)+", "/CN=proxy", dn)
    return dn, limited


def user_dn(dn: str) -> str:
    """The certificate owner's DN: proxy components (``/CN=proxy``, ``/CN=<digits>``) cut off the end."""
    return re.sub(r"(/CN=(proxy|\d+))+$", "", dn)


def parse_fqans(value: str) -> tuple[str, ...]:
    """FQANs from VOMS attribute values; ``/Capability=NULL`` and ``/Role=NULL`` are dropped."""
    fqans = []
    for item in value.split(","):
        item = item.strip()
        if item.upper().startswith("VOMS "):
            item = item[5:].strip()
        if not item.startswith("/"):
            continue
        item = item.replace("/Capability=NULL", "").replace("/Role=NULL", "")
        fqans.append(item)
    return tuple(dict.fromkeys(fqans))


def _vo_and_role(fqans: tuple[str, ...]) -> tuple[str, str]:
    """The VO and role of the first FQAN (``/atlas/Role=production`` -> atlas, production)."""
    if not fqans:
        return "", ""
    parts = fqans[0].strip("/").split("/")
    role = parts[-1][len("Role=") :] if parts[-1].startswith("Role=") else ""
    return parts[0], role


def identity_for_x509(meta: dict) -> Identity | None:
    """The identity a trusted proxy asserts for this request, ``None`` when it asserts none (or may not).

    A limited proxy is not a secure identity (iam.md §6): it gets an unauthenticated identity, so every
    endpoint that needs an authenticated caller refuses it, and it carries no DN or FQAN that a
    permission could grant rights to.
    """
    raw_dn = meta.get(_meta_key(settings.PANDA_X509_DN_HEADER), "")
    if not raw_dn or not from_trusted_proxy(meta):
        return None
    dn, limited = clean_dn(raw_dn)
    if not dn:
        return None
    log.warning("deprecated x509 authentication through the trusted proxy %s: %s", meta.get("REMOTE_ADDR"), dn)
    x509_usage_count(dn=dn)
    if limited:
        return Identity(user_id=None, username="", dn="", authenticated=False, method="x509", subject=dn)
    fqans = parse_fqans(meta.get(_meta_key(settings.PANDA_X509_FQANS_HEADER), ""))
    user = User.objects.filter(dn__in={dn, user_dn(dn)}, is_active=True).order_by("pk").first()
    vo, role = _vo_and_role(fqans)
    return Identity(
        user_id=user.pk if user else None,
        username=user.username if user else "",
        dn=dn,
        fqans=fqans,
        authenticated=True,
        method="x509",
        vo=vo,
        role=role,
        subject=dn,
    )
