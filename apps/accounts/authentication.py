"""Interim API-token authentication (DRF) until the IAM issue brings OIDC bearer tokens.

``Authorization: Bearer <token>`` (or ``Token <token>``). Lookups are cached per process for
``PANDA_CONFIG_CACHE_SECONDS`` so the dispatcher's hot path costs no query for authentication.
"""

import time

from django.conf import settings
from rest_framework import authentication, exceptions

from apps.accounts.identity import Identity, identity_for_user
from apps.accounts.models import ApiToken, hash_token
from apps.core.timeutil import utcnow

_cache: dict[str, tuple[float, Identity | None]] = {}
_CACHE_MAX = 10_000


def token_from_header(header: str) -> str | None:
    parts = header.split()
    if len(parts) == 2 and parts[0].lower() in ("bearer", "token"):
        return parts[1]
    return None


def identity_for_token(raw: str) -> Identity | None:
    key = hash_token(raw)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached and cached[0] > now:
        return cached[1]
    token = ApiToken.objects.select_related("user").filter(key_hash=key, revoked=False, user__is_active=True).first()
    identity = None
    if token and (token.expires is None or token.expires > utcnow()):
        identity = identity_for_user(token.user)
    if len(_cache) > _CACHE_MAX:
        _cache.clear()
    _cache[key] = (now + settings.PANDA_CONFIG_CACHE_SECONDS, identity)
    return identity


def forget_cached_tokens() -> None:
    _cache.clear()


class PandaTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw = token_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
        if raw is None:
            return None
        identity = identity_for_token(raw)
        if identity is None:
            raise exceptions.AuthenticationFailed("Token authentication failed. invalid or expired token")
        if identity.compact_name in settings.PANDA_BANNED_USERS:
            raise exceptions.PermissionDenied(f"{identity.compact_name} is banned")
        return (identity, raw)

    def authenticate_header(self, request):
        return "Bearer"
