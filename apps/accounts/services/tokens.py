"""Interim API tokens for robots and people (until the IAM issue brings OIDC tokens)."""

import datetime as dt
import os
from pathlib import Path

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


def write_secret(path: Path, text: str) -> None:
    """Write a token file readable by its owner only (mode 0600, also when the file existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # O_CREAT keeps the mode of an existing file; force 0600 either way.
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
