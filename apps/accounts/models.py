from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person or a robot (pilot, Harvester). ``dn`` and ``fqans`` feed the PanDA identity.

    ``fqans`` holds VOMS-style attributes such as ``/atlas/Role=production``: the browser login syncs
    them from the identity provider's groups, and x509 callers get theirs from the trusted proxy.
    """

    dn = models.CharField(max_length=255, blank=True, default="", db_index=True)
    fqans = models.JSONField(default=list, blank=True)

    @property
    def panda_name(self) -> str:
        from apps.accounts.identity import clean_user_id

        return clean_user_id(self.dn) if self.dn else (self.get_full_name() or self.username)


class AuthConfig(models.Model):
    """OIDC client configuration of one VO or VO+role (iam.md §2).

    ``name`` is what follows ``/auth/`` in ``/auth/<name>_auth_config.json`` and what ``Origin`` names:
    ``atlas`` or ``atlas.production``. A token for ``Origin: atlas.production`` is checked against the
    record ``atlas.production`` when there is one, else against ``atlas``.
    Public fields (served to clients): vo, client_id, client_secret, audience, oidc_config_url,
    jwt_profile. The others never leave the server.
    """

    name = models.CharField(max_length=100, unique=True)
    vo = models.CharField(max_length=64)
    client_id = models.CharField(max_length=255)
    # Public clients (panda-client's device flow) have none; it is public by design when set (iam.md §2).
    client_secret = models.CharField(max_length=255, blank=True, default="")
    audience = models.CharField(max_length=255, blank=True, default="")
    oidc_config_url = models.URLField(max_length=500)
    jwt_profile = models.CharField(max_length=32, blank=True, default="")
    secondary_ids = models.JSONField(default=list, blank=True)
    # Client ids of robots (pilots, Harvester) -> the roles each may take, e.g. {"harvester": ["production"]}.
    robot_ids = models.JSONField(default=dict, blank=True)
    auto_roles = models.JSONField(default=list, blank=True)
    legacy_token_issuers = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ExternalIdentity(models.Model):
    """An identity-provider account ``(issuer, subject)`` mapped to a local user (iam.md §6)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="external_identities")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="external_identity_iss_sub")]

    def __str__(self) -> str:
        return f"{self.subject}@{self.issuer}"


class X509Usage(models.Model):
    """Requests authenticated by a legacy x509 DN through the trusted proxy, counted per DN (iam.md §7)."""

    dn = models.CharField(max_length=255, unique=True)
    count = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.dn}: {self.count}"
