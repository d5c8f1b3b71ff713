"""The caller's PanDA identity: compact user name, FQANs and the roles derived from them (iam.md §6)."""

import re
from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings

PRODUCTION_FQAN = re.compile(r"^/[^/]+(/usatlas)?/Role=production$")
PILOT_FQAN = re.compile(r"^/[^/]+/Role=pilot$")
WG_PRODUCTION_FQAN = re.compile(r"^/[^/]+/([^/]+)/Role=production$")


def clean_user_id(dn: str) -> str:
    """PanDA's compact user name, in the spec's order of rules (iam.md §6)."""
    name = dn
    name = re.sub(r"/(DC|O|OU|C|L)=[^/]*", "", name)
    name = re.sub(r"/CN=\d+(?=/|$)", "", name)
    name = re.sub(r"[ _]\d+(?=/|$|\s)", "", name)
    name = re.sub(r"/CN=proxy", "", name)
    name = re.sub(r"/CN=limited proxy", "", name)
    name = name.replace("limited proxy", "")
    name = re.sub(r"/CN=Robot:[^/]*", "", name)
    name = re.sub(r"/CN=nickname:[^/]*", "", name)
    cns = re.findall(r"/CN=([^/]*)", name)
    name = cns[-1] if len(cns) >= 2 else name.replace("/CN=", "")
    name = re.split(r"/email", name, flags=re.IGNORECASE)[0]
    name = re.sub(r"[()']", "", name)
    parts = name.rsplit(" ", 1)
    if len(parts) == 2 and "@" in parts[1] and " " in name:
        name = parts[0]
    return name.strip().strip("/")


@dataclass(frozen=True)
class Identity:
    """Who called. Immutable and cached per token, so the derived roles are computed once."""

    user_id: int | None
    username: str
    dn: str
    fqans: tuple[str, ...] = field(default_factory=tuple)
    authenticated: bool = True
    # How the caller proved who it is: "oidc" (bearer token), "x509" (trusted proxy), "session" (browser).
    method: str = "session"
    vo: str = ""
    role: str = ""
    groups: tuple[str, ...] = field(default_factory=tuple)
    # Epoch seconds when the credential stops being valid (token ``exp``); None when it does not expire.
    expires: float | None = None
    is_robot: bool = False
    issuer: str = ""
    subject: str = ""
    # Every claim of the token (iam.md §6), for handlers that need one; compare=False keeps hashing cheap.
    claims: tuple[tuple[str, object], ...] = field(default_factory=tuple, compare=False)

    @cached_property
    def compact_name(self) -> str:
        return clean_user_id(self.dn) if self.dn else self.username

    @cached_property
    def is_production(self) -> bool:
        if any(PRODUCTION_FQAN.match(fqan) for fqan in self.fqans):
            return True
        return any(re.search(pattern, self.dn) for pattern in settings.PANDA_PRODUCTION_DNS) if self.dn else False

    @cached_property
    def is_pilot(self) -> bool:
        return any(PILOT_FQAN.match(fqan) for fqan in self.fqans)

    @cached_property
    def production_working_groups(self) -> frozenset[str]:
        groups = set()
        for fqan in self.fqans:
            match = WG_PRODUCTION_FQAN.match(fqan)
            if match and match.group(1) != "usatlas":
                groups.add(match.group(1))
        return frozenset(groups)


ANONYMOUS = Identity(user_id=None, username="", dn="", fqans=(), authenticated=False)


def identity_for_user(user) -> Identity:
    dn = user.dn or (user.get_full_name() or user.username)
    return Identity(user_id=user.pk, username=user.username, dn=dn, fqans=tuple(user.fqans or ()))
