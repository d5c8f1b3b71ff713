"""The development provider's accounts, clients and grants (iam.md §10).

Every grant (authorization code, device code, refresh token) is single-use and expires: redeeming one
is a conditional update ``used=False -> True`` that must change exactly one row, so two concurrent
redemptions cannot both win. Codes and secrets are stored as SHA-256 hashes only.
"""

import hashlib
import hmac
import uuid

from django.db import models


def secret_hash(raw: str) -> str:
    # The secrets are 32 random bytes, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_subject() -> str:
    return uuid.uuid4().hex


class DevAccount(models.Model):
    """A person who can log in at the development provider (no password: the consent page picks one)."""

    username = models.CharField(max_length=150, unique=True)
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True, default="")
    groups = models.JSONField(default=list, blank=True)
    # The token ``sub``: stable for the life of the account, never reused.
    subject = models.CharField(max_length=64, unique=True, default=_new_subject)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username


class DevClient(models.Model):
    """An OAuth client: public (no secret), confidential, or a robot using the client-credentials grant."""

    class Grant(models.TextChoices):
        AUTHORIZATION_CODE = "authorization_code"
        REFRESH_TOKEN = "refresh_token"
        CLIENT_CREDENTIALS = "client_credentials"
        DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"

    client_id = models.CharField(max_length=255, unique=True)
    # Empty for public clients; otherwise the SHA-256 of the secret.
    secret_hash = models.CharField(max_length=64, blank=True, default="")
    redirect_uris = models.JSONField(default=list, blank=True)
    post_logout_redirect_uris = models.JSONField(default=list, blank=True)
    grant_types = models.JSONField(default=list, blank=True)
    is_robot = models.BooleanField(default=False)

    class Meta:
        ordering = ["client_id"]

    def __str__(self) -> str:
        return self.client_id

    @property
    def is_public(self) -> bool:
        return not self.secret_hash

    def allows(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def secret_matches(self, raw: str) -> bool:
        return bool(self.secret_hash) and hmac.compare_digest(self.secret_hash, secret_hash(raw))


class Grant(models.Model):
    client = models.ForeignKey(DevClient, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=500, blank=True, default="")
    expires = models.DateTimeField()
    used = models.BooleanField(default=False)

    class Meta:
        abstract = True


class AuthorizationCode(Grant):
    code_hash = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(DevAccount, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.CharField(max_length=500)
    nonce = models.CharField(max_length=255, blank=True, default="")
    code_challenge = models.CharField(max_length=128, blank=True, default="")

    def __str__(self) -> str:
        return f"code for {self.account_id} at {self.client_id}"


class DeviceCode(Grant):
    """A device authorization (RFC 8628): pending until a person approves or denies it at /idp/device."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DENIED = "denied"

    device_code_hash = models.CharField(max_length=64, unique=True)
    user_code = models.CharField(max_length=16, unique=True)
    audience = models.CharField(max_length=255, blank=True, default="")
    account = models.ForeignKey(DevAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    interval = models.PositiveIntegerField()
    last_poll = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_code} ({self.status})"


class RefreshToken(Grant):
    token_hash = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(DevAccount, on_delete=models.CASCADE, related_name="+")
    audience = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return f"refresh token of {self.account_id} at {self.client_id}"
