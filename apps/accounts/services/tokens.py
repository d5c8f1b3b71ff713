"""Interim API tokens for robots and people (until the IAM issue brings OIDC tokens)."""

import datetime as dt

from django.db import transaction

from apps.accounts.models import ApiToken, User


def api_token_create(
    *,
    username: str,
    dn: str | None = None,
    fqans: list[str] | None = None,
    name: str = "default",
    expires: dt.datetime | None = None,
) -> tuple[User, str, bool]:
    """Create the user if needed, apply ``dn``/``fqans`` when given, and issue a new token.

    Returns ``(user, raw_token, user_created)``; only the token's hash is stored, so the raw
    value exists nowhere else.
    """
    if not username.strip():
        raise ValueError("username must not be empty")
    for fqan in fqans or []:
        if not fqan.startswith("/"):
            raise ValueError(f"FQAN {fqan!r} must start with '/' (for example /atlas/Role=production)")
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=username)
        if created:
            # Robots and token users never log in with a password.
            user.set_unusable_password()
        if dn is not None:
            user.dn = dn
        if fqans is not None:
            user.fqans = list(dict.fromkeys(fqans))
        user.save()
        _, raw = ApiToken.issue(user=user, name=name, expires=expires)
    return user, raw, created
