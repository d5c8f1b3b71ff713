"""The callers of the permission-matrix and whoami tests: each a name and the headers it sends."""

from dataclasses import dataclass
from functools import cached_property

from django.test import Client

from tests.dispatcher.update_wire import decode_json, v1
from tests.factories import UserFactory, auth_header, robot_auth_header
from tests.oidc_issuer import ISSUER, USER_CLIENT

USER, SECOND_USER, MANAGER = "user", "second user", "production manager"
PILOT, HARVESTER, ANONYMOUS = "pilot robot", "harvester robot", "anonymous"
CALLERS = (USER, SECOND_USER, MANAGER, PILOT, HARVESTER, ANONYMOUS)


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict

    @cached_property
    def compact_name(self) -> str | None:
        """The name that owns the caller's jobs and tasks, as the server itself reports it."""
        return decode_json(Client().get(v1("system/whoami"), **self.headers))["data"]["compact_name"]


def caller_headers(name: str) -> dict:
    if name == MANAGER:
        return auth_header(UserFactory(), role="production")
    if name == PILOT:
        return robot_auth_header("panda-pilot", "pilot")
    if name == HARVESTER:
        return robot_auth_header("panda-harvester", "production")
    if name == ANONYMOUS:
        return {}
    return auth_header(UserFactory())


class Callers(dict):
    """The six callers, each made (user, token) when a test first needs it."""

    def __missing__(self, name: str) -> Caller:
        assert name in CALLERS, name
        self[name] = Caller(name, caller_headers(name))
        return self[name]


def working_group_manager(group: str) -> Caller:
    """A person with the production role of one working group only: an FQAN from a ``role:`` scope (iam.md §4)."""
    claims = ISSUER.claims(
        subject=f"{group}-manager",
        aud=USER_CLIENT,
        preferred_username=f"{group}-manager",
        name="Group Manager",
        groups=["atlas"],
        scope=f"openid role:/atlas/{group}/Role=production",
    )
    return Caller(f"{group} manager", {"HTTP_AUTHORIZATION": f"Bearer {ISSUER.sign(claims)}", "HTTP_ORIGIN": "atlas"})
