"""Signed tokens of the development provider: ID tokens for people, access tokens for people and robots.

ID tokens: iss, aud (= client id), sub, iat, exp, nonce, name, preferred_username, email, groups.
Access tokens: iss, sub, client_id, aud, scope, groups, iat, exp. RS256 with the key's ``kid``.
"""

from __future__ import annotations

import time
import uuid

import jwt
from django.conf import settings

from apps.devidp.keys import jwks, signing_key
from apps.devidp.models import DevAccount, DevClient


def issuer() -> str:
    return settings.PANDA_DEVIDP_ISSUER.rstrip("/")


def sign(claims: dict) -> str:
    key = signing_key()
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


def _base(*, subject: str, lifetime: int) -> dict:
    now = int(time.time())
    return {"iss": issuer(), "sub": subject, "iat": now, "nbf": now, "exp": now + lifetime, "jti": uuid.uuid4().hex}


def _group_claims(account: DevAccount, scope: str) -> dict:
    claims: dict = {"groups": list(account.groups)}
    if "wlcg.groups" in scope.split():
        claims["wlcg.groups"] = ["/" + group.lstrip("/") for group in account.groups]
    return claims


def id_token_create(*, account: DevAccount, client: DevClient, scope: str = "openid", nonce: str = "") -> str:
    claims = _base(subject=account.subject, lifetime=settings.PANDA_DEVIDP_ID_TOKEN_SECONDS)
    claims.update(
        {
            "aud": client.client_id,
            "azp": client.client_id,
            "name": account.name,
            "preferred_username": account.username,
            "email": account.email,
            **_group_claims(account, scope),
        }
    )
    if nonce:
        claims["nonce"] = nonce
    return sign(claims)


def user_access_token_create(*, account: DevAccount, client: DevClient, scope: str, audience: str = "") -> str:
    claims = _base(subject=account.subject, lifetime=settings.PANDA_DEVIDP_ID_TOKEN_SECONDS)
    claims.update(
        {"client_id": client.client_id, "aud": audience or client.client_id, "scope": scope}
        | _group_claims(account, scope)
    )
    return sign(claims)


def robot_access_token_create(*, client: DevClient, scope: str = "", audience: str = "") -> str:
    """A client-credentials token: the robot is its own subject (iam.md §3 step 2 finds it by ``sub``)."""
    claims = _base(subject=client.client_id, lifetime=settings.PANDA_DEVIDP_ROBOT_TOKEN_SECONDS)
    claims.update({"client_id": client.client_id, "aud": audience or client.client_id, "scope": scope, "groups": []})
    return sign(claims)


def token_verify(raw: str, *, require: list[str] | None = None, verify_exp: bool = True) -> dict:
    """Claims of a token this provider signed (any published key); raises ``jwt.PyJWTError`` otherwise."""
    keys = {key["kid"]: key for key in jwks()["keys"]}
    kid = jwt.get_unverified_header(raw).get("kid")
    if kid not in keys:
        raise jwt.InvalidTokenError("the token was not signed by a key of this provider")
    options = {"verify_aud": False, "verify_exp": verify_exp, "require": require or ["iat", "sub"]}
    return jwt.decode(raw, jwt.PyJWK(keys[kid]).key, algorithms=["RS256"], issuer=issuer(), options=options)
