"""Bearer-token validation, iam.md §3 steps 1–8, and the identity a valid token stands for (§6).

The decision (identity or refusal) is cached per token and Origin until the token expires, at most
``PANDA_OIDC_DECISION_CACHE_SECONDS``: a pilot's heartbeat then costs a dictionary lookup and no query.
"""

from __future__ import annotations

import hashlib
import threading
import time

import jwt
from django.conf import settings

from apps.accounts.identity import Identity
from apps.accounts.models import AuthConfig
from apps.accounts.oidc import keys
from apps.accounts.oidc.config import (
    accepted_audiences,
    accepted_client_ids,
    config_for,
    configs_for_client,
    is_known_client,
    legacy_issuers,
    normalise_issuer,
)
from apps.accounts.oidc.groups import Membership, RoleRefused, membership
from apps.accounts.oidc.origin import BadOrigin, parse_origin
from apps.accounts.services.external_users import user_for_claims

ALLOWED_ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub")
# Refusals that do not depend on the provider being reachable are remembered too, but briefly: a
# configuration fix (a new VO record, a group granted at the provider) takes effect within a minute.
REFUSAL_CACHE_SECONDS = 60
_CACHE_MAX = 10_000

# The clock of expiry checks and of the decision cache; tests move it instead of sleeping.
clock = time.time


class TokenRejected(Exception):
    """The token is not accepted; ``reason`` is what the client is told after "Token authentication failed."."""

    def __init__(self, reason: str, *, cacheable: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.cacheable = cacheable


_lock = threading.Lock()
_decisions: dict[str, tuple[float, Identity | str]] = {}


def forget_decisions() -> None:
    with _lock:
        _decisions.clear()


def _remember(key: str, until: float, decision: Identity | str) -> None:
    with _lock:
        if len(_decisions) >= _CACHE_MAX:
            _decisions.clear()
        _decisions[key] = (until, decision)


def identity_for_bearer(token: str, origin: str | None) -> Identity:
    """The identity of a bearer token sent with ``Origin: origin``; :class:`TokenRejected` otherwise."""
    key = hashlib.sha256(token.encode()).hexdigest() + "|" + (origin or "")
    now = clock()
    cached = _decisions.get(key)
    if cached is not None and cached[0] > now:
        if isinstance(cached[1], Identity):
            return cached[1]
        raise TokenRejected(cached[1])
    try:
        identity = _decide(token, origin, now)
    except TokenRejected as exc:
        if exc.cacheable:
            _remember(key, now + min(REFUSAL_CACHE_SECONDS, settings.PANDA_OIDC_DECISION_CACHE_SECONDS), exc.reason)
        raise
    until = min(float(identity.expires), now + settings.PANDA_OIDC_DECISION_CACHE_SECONDS)
    if until > now:
        _remember(key, until, identity)
    return identity


def validate_id_token(token: str, *, config: AuthConfig) -> dict:
    """The verified claims of an ID token issued for ``config``'s client (browser login, iam.md §8)."""
    _unverified(token)
    return _verified_claims(token, config, clock())


# --- steps -----------------------------------------------------------------------------------


def _unverified(token: str) -> tuple[dict, dict]:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenRejected("malformed token") from exc
    if not isinstance(claims, dict):
        raise TokenRejected("malformed token")
    return header, claims


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


def client_id_of(claims: dict) -> str:
    """Step 2: ``aud`` when it is a known client id (ID tokens), else ``client_id`` (device-flow access
    tokens), else ``sub`` (client-credentials robots)."""
    for aud in _audiences(claims):
        if is_known_client(aud):
            return aud
    candidate = claims.get("client_id") or claims.get("sub")
    if not isinstance(candidate, str) or not is_known_client(candidate):
        raise TokenRejected("unknown client id")
    return candidate


def _check_header(token: str) -> str:
    header = jwt.get_unverified_header(token)
    alg = header.get("alg")
    # The allow-list comes before any key is touched: never "none", never HMAC with a public key.
    if alg not in ALLOWED_ALGORITHMS:
        raise TokenRejected(f"algorithm {alg} is not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRejected("no kid in the token header")
    return kid


def _provider_key(config: AuthConfig, kid: str):
    try:
        document = keys.discovery(config.oidc_config_url)
        key = keys.signing_key(document["jwks_uri"], kid)
    except keys.KeyFetchError as exc:
        # The provider being unreachable says nothing about the token: never remember this refusal.
        raise TokenRejected(f"cannot get the signing keys of {config.name}: {exc}", cacheable=False) from exc
    if key is None:
        raise TokenRejected(f"unknown signing key {kid}")
    return normalise_issuer(document["issuer"]), key


def _check_times(claims: dict, now: float) -> None:
    leeway = settings.PANDA_OIDC_LEEWAY_SECONDS
    for name in ("exp", "iat", "nbf"):
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], (int, float))):
            raise TokenRejected(f"claim {name} is not a number")
    if now > claims["exp"] + leeway:
        raise TokenRejected("token expired")
    if claims["iat"] > now + leeway:
        raise TokenRejected("token issued in the future")
    if "nbf" in claims and claims["nbf"] > now + leeway:
        raise TokenRejected("token not yet valid")


def _verified_claims(token: str, config: AuthConfig, now: float) -> dict:
    """Steps 3–5 against ``config``: header, key, signature, times, required claims, audience, issuer."""
    kid = _check_header(token)
    issuer, key = _provider_key(config, kid)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(ALLOWED_ALGORITHMS),
            options={
                "verify_exp": False,  # checked below against our clock, with the leeway
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,  # checked below against every accepted audience
                "verify_iss": False,  # checked below, trailing '/' and legacy issuers allowed
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenRejected("invalid signature") from exc
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"invalid token: {exc}") from exc
    for name in REQUIRED_CLAIMS:
        if claims.get(name) in (None, ""):
            raise TokenRejected(f"missing claim {name}")
    _check_times(claims, now)
    if not isinstance(claims["iss"], str) or not isinstance(claims["sub"], str):
        raise TokenRejected("claims iss and sub must be strings")
    if not set(_audiences(claims)) & accepted_audiences(config):
        raise TokenRejected("invalid audience")
    if normalise_issuer(claims["iss"]) not in {issuer, *legacy_issuers(config)}:
        raise TokenRejected("invalid issuer")
    return claims


def _capitalised(name: str) -> str:
    return " ".join(word[:1].upper() + word[1:].lower() for word in name.split())


def dn_for_claims(claims: dict, member: Membership) -> str:
    """``<Name Capitalized>/CN=nickname:<preferred_username>``; robots ``Robot <Role>`` (iam.md §6)."""
    if member.is_robot:
        name = _capitalised(f"robot {member.role}")
    else:
        name = _capitalised(str(claims.get("name") or "")) or str(claims["sub"])
    nickname = claims.get("preferred_username")
    return f"{name}/CN=nickname:{nickname}" if nickname else name


def _decide(token: str, origin_header: str | None, now: float) -> Identity:
    _, unverified = _unverified(token)
    client_id = client_id_of(unverified)
    try:
        origin = parse_origin(origin_header)
    except BadOrigin as exc:
        raise TokenRejected(str(exc)) from exc
    clients = configs_for_client(client_id)
    vo_config = config_for(origin.vo, origin.role) if origin else None
    if vo_config is not None and client_id in accepted_client_ids(vo_config):
        config = vo_config
    else:
        same_vo = [c for c in clients if origin is None or c.vo == origin.vo]
        config = (same_vo or clients)[0]
    claims = _verified_claims(token, config, now)
    vo, role = (origin.vo, origin.role) if origin else (config.vo, "")
    if vo_config is None and origin is not None:
        raise TokenRejected(f"no auth config for VO {vo}")
    if config.vo != vo:
        raise TokenRejected(f"client {client_id} does not belong to VO {vo}")
    try:
        member = membership(config=config, vo=vo, role=role, client_id=client_id, claims=claims)
    except RoleRefused as exc:
        raise TokenRejected(exc.reason) from exc
    issuer = normalise_issuer(keys.discovery(config.oidc_config_url)["issuer"])
    if member.is_robot:
        # One user per robot client, whatever subject its provider puts in the token.
        robot_claims = {**claims, "preferred_username": claims.get("preferred_username") or client_id}
        user = user_for_claims(issuer=issuer, subject=client_id, claims=robot_claims, groups=list(member.groups))
    else:
        user = user_for_claims(issuer=issuer, subject=claims["sub"], claims=claims, groups=list(member.groups))
    if not user.is_active:
        raise TokenRejected(f"user {user.username} is disabled")
    return Identity(
        user_id=user.pk,
        username=user.username,
        dn=dn_for_claims(claims, member),
        fqans=member.fqans,
        authenticated=True,
        method="oidc",
        vo=vo,
        role=member.role,
        groups=member.groups,
        expires=float(claims["exp"]),
        is_robot=member.is_robot,
        issuer=issuer,
        subject=claims["sub"],
        claims=tuple(claims.items()),
    )
