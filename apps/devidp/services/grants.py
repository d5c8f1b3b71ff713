"""The OAuth 2.0 / OIDC grants of the development provider, one function per state change.

Errors are :class:`OAuthError` carrying the RFC 6749 ``error`` code; nothing is written when one is
raised. Every grant is redeemed by a conditional update (``used=False`` -> ``True``) that must change
exactly one row, so a code or refresh token works once even under concurrent requests.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.core.timeutil import utcnow
from apps.devidp.models import AuthorizationCode, DevAccount, DevClient, DeviceCode, RefreshToken, secret_hash
from apps.devidp.services.tokens import id_token_create, robot_access_token_create, user_access_token_create

G = DevClient.Grant
SCOPES = ("openid", "profile", "email", "offline_access", "groups", "wlcg", "wlcg.groups")
AUTHORIZATION_CODE_SECONDS = 120
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5: a client told to slow down adds 5 s to its interval
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no words; no look-alike digits


class OAuthError(Exception):
    def __init__(self, error: str, description: str, *, status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def as_json(self) -> dict:
        return {"error": self.error, "error_description": self.description}


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def scope_parse(raw: str, *, default: str = "openid") -> str:
    words = list(dict.fromkeys((raw or default).split()))
    unknown = [word for word in words if word not in SCOPES]
    if unknown:
        raise OAuthError("invalid_scope", f"unsupported scope(s): {' '.join(unknown)}")
    return " ".join(words)


def client_authenticate(*, client_id: str, client_secret: str = "", grant_type: str) -> DevClient:
    """The calling client, its secret checked (confidential) or absent (public), allowed ``grant_type``."""
    client = DevClient.objects.filter(client_id=client_id).first() if client_id else None
    if client is None:
        raise OAuthError("invalid_client", f"unknown client {client_id!r}", status=401)
    # A public client has nothing to prove; whatever it sends as a secret is ignored (panda-client sends
    # its auth config's null client_secret as the string "None").
    if not client.is_public and not client.secret_matches(client_secret):
        raise OAuthError("invalid_client", "client authentication failed", status=401)
    if not client.allows(grant_type):
        raise OAuthError("unauthorized_client", f"client {client_id} may not use the {grant_type} grant")
    return client


def _user_token_response(
    *, client: DevClient, account: DevAccount, scope: str, audience: str = "", nonce: str = ""
) -> dict:
    response = {
        "access_token": user_access_token_create(account=account, client=client, scope=scope, audience=audience),
        "token_type": "Bearer",
        "expires_in": settings.PANDA_DEVIDP_ID_TOKEN_SECONDS,
        "scope": scope,
    }
    if "openid" in scope.split():
        response["id_token"] = id_token_create(account=account, client=client, scope=scope, nonce=nonce)
    if client.allows(G.REFRESH_TOKEN):
        raw = _new_secret()
        RefreshToken.objects.create(
            token_hash=secret_hash(raw),
            client=client,
            account=account,
            scope=scope,
            audience=audience,
            expires=utcnow() + dt.timedelta(seconds=settings.PANDA_DEVIDP_REFRESH_TOKEN_SECONDS),
        )
        response["refresh_token"] = raw
    return response


def _consume(model, **lookup) -> bool:
    return model.objects.filter(used=False, **lookup).update(used=True) == 1


# --- authorization code (with PKCE) ---------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    client: DevClient
    redirect_uri: str
    scope: str
    state: str
    nonce: str
    code_challenge: str


def authorization_request_validate(params) -> AuthorizationRequest:
    """The /authorize query checked before any page is shown: client, redirect URI, response type, PKCE."""
    client_id = params.get("client_id", "")
    client = DevClient.objects.filter(client_id=client_id).first() if client_id else None
    if client is None:
        raise OAuthError("invalid_client", f"unknown client {client_id!r}")
    if not client.allows(G.AUTHORIZATION_CODE):
        raise OAuthError("unauthorized_client", f"client {client_id} may not use the authorization code flow")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise OAuthError("invalid_request", f"redirect_uri {redirect_uri!r} is not registered for {client_id}")
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "only response_type=code is supported")
    challenge = params.get("code_challenge", "")
    method = params.get("code_challenge_method", "plain" if challenge else "")
    if challenge and method != "S256":
        raise OAuthError("invalid_request", "code_challenge_method must be S256")
    if client.is_public and not challenge:
        raise OAuthError("invalid_request", "a public client must send a PKCE code_challenge (S256)")
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=scope_parse(params.get("scope", "")),
        state=params.get("state", ""),
        nonce=params.get("nonce", ""),
        code_challenge=challenge,
    )


def authorization_code_issue(*, request: AuthorizationRequest, account: DevAccount) -> str:
    raw = _new_secret()
    AuthorizationCode.objects.create(
        code_hash=secret_hash(raw),
        client=request.client,
        account=account,
        redirect_uri=request.redirect_uri,
        scope=request.scope,
        nonce=request.nonce,
        code_challenge=request.code_challenge,
        expires=utcnow() + dt.timedelta(seconds=AUTHORIZATION_CODE_SECONDS),
    )
    return raw


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorization_code_redeem(*, client: DevClient, code: str, redirect_uri: str, code_verifier: str = "") -> dict:
    grant = AuthorizationCode.objects.select_related("account").filter(code_hash=secret_hash(code or "")).first()
    if grant is None or grant.client_id != client.pk:
        raise OAuthError("invalid_grant", "unknown authorization code")
    if grant.used or grant.expires <= utcnow():
        raise OAuthError("invalid_grant", "the authorization code has expired or was already used")
    if grant.redirect_uri != redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
    if grant.code_challenge and not hmac.compare_digest(pkce_challenge(code_verifier or ""), grant.code_challenge):
        raise OAuthError("invalid_grant", "PKCE verification failed (code_verifier)")
    with transaction.atomic():
        if not _consume(AuthorizationCode, pk=grant.pk):
            raise OAuthError("invalid_grant", "the authorization code was already used")
        return _user_token_response(client=client, account=grant.account, scope=grant.scope, nonce=grant.nonce)


# --- refresh token --------------------------------------------------------------------------


def refresh_token_redeem(*, client: DevClient, refresh_token: str, scope: str = "") -> dict:
    """A new token set for a refresh token (which is then used up: rotation)."""
    grant = RefreshToken.objects.select_related("account").filter(token_hash=secret_hash(refresh_token or "")).first()
    if grant is None or grant.client_id != client.pk:
        raise OAuthError("invalid_grant", "unknown refresh token")
    if grant.used or grant.expires <= utcnow():
        raise OAuthError("invalid_grant", "the refresh token has expired or was already used")
    new_scope = scope_parse(scope, default=grant.scope)
    if not set(new_scope.split()) <= set(grant.scope.split()):
        raise OAuthError("invalid_scope", "a refresh cannot widen the scope")
    with transaction.atomic():
        if not _consume(RefreshToken, pk=grant.pk):
            raise OAuthError("invalid_grant", "the refresh token was already used")
        return _user_token_response(client=client, account=grant.account, scope=new_scope, audience=grant.audience)


# --- client credentials (robots) ------------------------------------------------------------


def client_credentials_grant(*, client: DevClient, scope: str = "", audience: str = "") -> dict:
    if not client.is_robot or client.is_public:
        raise OAuthError("unauthorized_client", f"client {client.client_id} is not a confidential robot client")
    words = scope.split()
    if any(word not in SCOPES for word in words):
        raise OAuthError("invalid_scope", "unsupported scope")
    return {
        "access_token": robot_access_token_create(client=client, scope=" ".join(words), audience=audience),
        "token_type": "Bearer",
        "expires_in": settings.PANDA_DEVIDP_ROBOT_TOKEN_SECONDS,
        "scope": " ".join(words),
    }


# --- device code (RFC 8628) -----------------------------------------------------------------


def _user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def normalise_user_code(raw: str) -> str:
    letters = "".join(ch for ch in (raw or "").upper() if ch.isalnum())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else letters


def device_authorization_start(*, client: DevClient, scope: str = "", audience: str = "") -> tuple[DeviceCode, str]:
    """A new pending device authorization; returns it and the raw ``device_code`` (only its hash is kept)."""
    scope = scope_parse(scope)
    raw = _new_secret()
    for _ in range(5):
        try:
            with transaction.atomic():
                grant = DeviceCode.objects.create(
                    device_code_hash=secret_hash(raw),
                    user_code=_user_code(),
                    client=client,
                    scope=scope,
                    audience=audience,
                    interval=settings.PANDA_DEVIDP_DEVICE_INTERVAL_SECONDS,
                    expires=utcnow() + dt.timedelta(seconds=settings.PANDA_DEVIDP_DEVICE_CODE_SECONDS),
                )
            return grant, raw
        except IntegrityError:
            continue  # a user code already in use (20^8 codes: practically never)
    raise OAuthError("server_error", "could not allocate a user code", status=500)


def pending_device_code(user_code: str) -> DeviceCode:
    grant = DeviceCode.objects.select_related("client").filter(user_code=normalise_user_code(user_code)).first()
    if grant is None:
        raise OAuthError("invalid_request", "unknown code: check what your device shows")
    if grant.expires <= utcnow():
        raise OAuthError("expired_token", "this code has expired: start the login on your device again")
    if grant.status != DeviceCode.Status.PENDING or grant.used:
        raise OAuthError("invalid_request", "this code was already used")
    return grant


def device_code_decide(*, user_code: str, account: DevAccount | None, approve: bool) -> DeviceCode:
    """A person approves (as ``account``) or denies the pending device authorization ``user_code``."""
    grant = pending_device_code(user_code)
    if approve and account is None:
        raise OAuthError("invalid_request", "choose the account to log in as")
    status = DeviceCode.Status.APPROVED if approve else DeviceCode.Status.DENIED
    changed = DeviceCode.objects.filter(pk=grant.pk, status=DeviceCode.Status.PENDING, used=False).update(
        status=status, account=account if approve else None
    )
    if changed != 1:
        raise OAuthError("invalid_request", "this code was already used")
    grant.refresh_from_db()
    return grant


def device_code_redeem(*, client: DevClient, device_code: str) -> dict:
    """One poll of the token endpoint: pending, slow_down, denied, expired, or the tokens (once)."""
    grant = DeviceCode.objects.select_related("account").filter(device_code_hash=secret_hash(device_code or "")).first()
    if grant is None or grant.client_id != client.pk or grant.used:
        raise OAuthError("invalid_grant", "unknown or already used device_code")
    now = utcnow()
    if grant.expires <= now:
        raise OAuthError("expired_token", "the device code has expired; start again")
    too_fast = grant.last_poll is not None and now - grant.last_poll < dt.timedelta(seconds=grant.interval)
    updates = {"last_poll": now}
    if too_fast:
        updates["interval"] = grant.interval + SLOW_DOWN_STEP
    DeviceCode.objects.filter(pk=grant.pk).update(**updates)
    if too_fast:
        raise OAuthError("slow_down", f"polling faster than every {grant.interval} s; wait longer")
    if grant.status == DeviceCode.Status.PENDING:
        raise OAuthError("authorization_pending", "the user has not yet approved this device")
    if grant.status == DeviceCode.Status.DENIED:
        _consume(DeviceCode, pk=grant.pk)
        raise OAuthError("access_denied", "the user denied the authorization")
    with transaction.atomic():
        if not _consume(DeviceCode, pk=grant.pk):
            raise OAuthError("invalid_grant", "the device code was already used")
        return _user_token_response(client=client, account=grant.account, scope=grant.scope, audience=grant.audience)
