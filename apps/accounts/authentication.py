"""Who is calling: OIDC bearer tokens (iam.md §3), legacy x509 through a trusted proxy (§7), sessions.

The DRF classes serve the wire APIs (``/server/panda/*``, ``/api/v1/*``), where a refused token
answers HTTP 403 ``ERROR : Token authentication failed. <reason>``. Plain Django views (the monitor's
JSON) call :func:`identity_from_request`, and answer a refused token with :func:`token_refused_response`
(HTTP 401 with ``WWW-Authenticate: Bearer realm="panda"``).
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import JsonResponse
from rest_framework import authentication, exceptions

from apps.accounts.identity import ANONYMOUS, Identity, identity_for_user
from apps.accounts.oidc.config import forget_auth_configs
from apps.accounts.oidc.keys import forget_keys
from apps.accounts.oidc.validator import TokenRejected, forget_decisions, identity_for_bearer
from apps.accounts.permissions import is_banned
from apps.accounts.x509 import identity_for_x509

FAILED = "Token authentication failed."
BEARER_CHALLENGE = 'Bearer realm="panda"'


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; ``None`` for any other scheme.

    A ``Bearer`` header without exactly one token is refused rather than taken as anonymous.
    """
    parts = header.split()
    if not parts or parts[0].lower() != "bearer":
        return None
    if len(parts) != 2:
        raise TokenRejected("malformed Authorization header")
    return parts[1]


def forget_identity_caches() -> None:
    """Token decisions, VO records and provider keys (tests; a process sees changes after their TTLs)."""
    forget_decisions()
    forget_auth_configs()
    forget_keys()


class OIDCBearerAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        try:
            token = bearer_token(request.META.get("HTTP_AUTHORIZATION", ""))
            if token is None:
                return None
            identity = identity_for_bearer(token, request.META.get("HTTP_ORIGIN"))
        except TokenRejected as exc:
            raise exceptions.AuthenticationFailed(f"{FAILED} {exc.reason}") from exc
        if is_banned(identity):
            raise exceptions.PermissionDenied(f"{identity.compact_name} is banned")
        return identity, token

    def authenticate_header(self, request):
        return BEARER_CHALLENGE


class TrustedProxyX509Authentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        identity = identity_for_x509(request.META)
        if identity is None:
            return None
        if is_banned(identity):
            raise exceptions.PermissionDenied(f"{identity.compact_name} is banned")
        return identity, None


def identity_from_request(request) -> Identity:
    """The caller of a plain Django view: bearer token, then trusted x509, then the session user.

    Raises :class:`TokenRejected` for a bad token and Django's ``PermissionDenied`` for a banned user.
    """
    token = bearer_token(request.META.get("HTTP_AUTHORIZATION", ""))
    if token is not None:
        identity = identity_for_bearer(token, request.META.get("HTTP_ORIGIN"))
    else:
        identity = identity_for_x509(request.META)
        if identity is None:
            user = getattr(request, "user", None)
            identity = identity_for_user(user) if user is not None and user.is_authenticated else ANONYMOUS
    if is_banned(identity):
        raise DjangoPermissionDenied(f"{identity.compact_name} is banned")
    return identity


def token_refused_response(exc: TokenRejected) -> JsonResponse:
    """HTTP 401 for monitor and DRF-style (non-wire) APIs (iam.md §3)."""
    response = JsonResponse({"detail": f"{FAILED} {exc.reason}"}, status=401)
    response["WWW-Authenticate"] = f'{BEARER_CHALLENGE}, error="invalid_token"'
    return response
