"""The provider's public documents: OIDC discovery and the JWKS.

The server validates development tokens without an HTTP call to itself: ``DevIdpConfig.ready()``
registers :func:`local_document` with the token validator for URLs under the issuer.
"""

from __future__ import annotations

from django.conf import settings

from apps.devidp.keys import jwks
from apps.devidp.models import DevClient
from apps.devidp.services.grants import SCOPES
from apps.devidp.services.tokens import issuer

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwk"


def discovery_document() -> dict:
    base = issuer()
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "device_authorization_endpoint": f"{base}/devicecode",
        "jwks_uri": f"{base}{JWKS_PATH}",
        "userinfo_endpoint": f"{base}/userinfo",
        "end_session_endpoint": f"{base}/logout",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(SCOPES),
        "grant_types_supported": [choice.value for choice in DevClient.Grant],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nonce",
            "name",
            "preferred_username",
            "email",
            "groups",
        ],
    }


def local_document(url: str) -> dict | None:
    """The discovery document or the JWKS for ``url``, or None (not ours, or the provider is off)."""
    if not settings.PANDA_DEVIDP_ENABLED:
        return None
    base = issuer()
    if url.rstrip("/") == base + DISCOVERY_PATH:
        return discovery_document()
    if url.rstrip("/") == base + JWKS_PATH:
        return jwks()
    return None
