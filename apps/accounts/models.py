import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person or a robot (pilot, Harvester). ``dn`` and ``fqans`` feed the PanDA identity.

    ``fqans`` holds VOMS-style attributes such as ``/atlas/Role=production``: the interim API
    tokens carry their role through them, and the IAM issue maps token groups onto the same list.
    """

    dn = models.CharField(max_length=255, blank=True, default="", db_index=True)
    fqans = models.JSONField(default=list, blank=True)

    @property
    def panda_name(self) -> str:
        from apps.accounts.identity import clean_user_id

        return clean_user_id(self.dn) if self.dn else (self.get_full_name() or self.username)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """Interim bearer token (until the IAM issue): only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="default")
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user.username}:{self.name}"

    @classmethod
    def issue(cls, *, user: User, name: str = "default", expires=None) -> tuple["ApiToken", str]:
        raw = "pnd_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_hash=hash_token(raw), expires=expires)
        return token, raw
