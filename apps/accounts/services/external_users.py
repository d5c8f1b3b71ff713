"""Local users for identity-provider accounts (iam.md §6): matched by ``(issuer, subject)``, never by e-mail."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from apps.accounts.models import ExternalIdentity, User
from apps.accounts.oidc.config import normalise_issuer
from apps.accounts.oidc.groups import fqans_for_groups

_USERNAME_FIELD = User._meta.get_field("username")
_NAME_MAX = User._meta.get_field("first_name").max_length
_EMAIL_MAX = User._meta.get_field("email").max_length


def _base_username(claims: dict, subject: str) -> str:
    raw = str(claims.get("preferred_username") or subject)
    # Django's username alphabet: letters, digits and @/./+/-/_.
    name = re.sub(r"[^\w.@+-]", "_", raw).strip("_") or "user"
    return name[: _USERNAME_FIELD.max_length]


def _unique_username(base: str) -> str:
    if not User.objects.filter(username=base).exists():
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: _USERNAME_FIELD.max_length - len(suffix)] + suffix
        if not User.objects.filter(username=candidate).exists():
            return candidate
        n += 1


def _names(claims: dict) -> tuple[str, str]:
    name = " ".join(str(claims.get("name") or "").split())
    if not name:
        return str(claims.get("given_name") or "")[:_NAME_MAX], str(claims.get("family_name") or "")[:_NAME_MAX]
    first, _, last = name.partition(" ")
    return first[:_NAME_MAX], last[:_NAME_MAX]


def _sync(user: User, claims: dict, groups: list[str]) -> None:
    first, last = _names(claims)
    email = str(claims.get("email") or "")[:_EMAIL_MAX]
    changed = {}
    if first or last:
        changed.update(first_name=first, last_name=last)
    if email:
        changed["email"] = email
    changed["fqans"] = fqans_for_groups(groups)
    changed = {k: v for k, v in changed.items() if getattr(user, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(user, key, value)
        user.save(update_fields=list(changed))


def user_for_claims(*, issuer: str, subject: str, claims: dict, groups: list[str]) -> User:
    """The user of the account ``(issuer, subject)``, created on first use, its names, e-mail and groups synced.

    The username comes from ``preferred_username`` (else the subject), made unique, and is kept
    afterwards; first and last name from ``name``; FQANs from the groups (``atlas/production`` ->
    ``/atlas/Role=production``). The e-mail is copied but never used to match.
    """
    if not issuer or not subject:
        raise ValueError("issuer and subject are required")
    issuer = normalise_issuer(issuer)
    groups = list(groups)
    link = ExternalIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    if link is None:
        try:
            with transaction.atomic():
                user = User(username=_unique_username(_base_username(claims, subject)))
                user.set_unusable_password()  # these users prove who they are at their provider
                user.save()
                link = ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject, groups=groups)
        except IntegrityError:
            # Another request created the same account (or took the username) at the same moment.
            link = ExternalIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
            if link is None:
                raise
    else:
        link.groups = groups
        link.save(update_fields=["groups", "last_seen"])
    _sync(link.user, claims, groups)
    return link.user
