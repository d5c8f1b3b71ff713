"""Groups, roles and robots (iam.md §4): which role a token may act with, and its FQANs (§6)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.accounts.models import AuthConfig
from apps.accounts.oidc.config import is_robot_client, robot_roles


class RoleRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Membership:
    role: str  # "" for plain VO membership
    groups: tuple[str, ...]
    fqans: tuple[str, ...]
    is_robot: bool


def token_groups(claims: dict, *, jwt_profile: str) -> list[str]:
    """Group names without their leading ``/`` (IAM writes ``atlas/production``, WLCG ``/atlas/production``)."""
    raw = claims.get("wlcg.groups" if jwt_profile == "wlcg" else "groups")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return []
    return list(dict.fromkeys(g.strip().lstrip("/") for g in raw if isinstance(g, str) and g.strip("/ ")))


def scope_fqans(claims: dict) -> list[str]:
    """``role:<X>`` scopes add the FQAN ``X``."""
    scope = claims.get("scope") or claims.get("scp") or ""
    scopes = scope.split() if isinstance(scope, str) else [s for s in scope if isinstance(s, str)]
    return [s[len("role:") :] for s in scopes if s.startswith("role:") and len(s) > len("role:")]


def role_fqan(vo: str, role: str) -> str:
    return f"/{vo}/Role={role}" if role else f"/{vo}"


def not_a_member(vo: str, role: str) -> RoleRefused:
    return RoleRefused(f"Not a member of the {vo}/{role} group" if role else f"Not a member of the {vo} group")


def _robot_role(config: AuthConfig, client_id: str, vo: str, role: str) -> str:
    allowed = robot_roles(config, client_id)
    if role:
        if role not in allowed:
            raise not_a_member(vo, role)
        return role
    # No role named: the VO's auto roles the robot may take, in order, else its first own role.
    for candidate in [*(config.auto_roles or []), *allowed]:
        if candidate in allowed:
            return candidate
    raise not_a_member(vo, role)


def membership(*, config: AuthConfig, vo: str, role: str, client_id: str, claims: dict) -> Membership:
    """The role the caller acts with, its groups and FQANs; :class:`RoleRefused` when it may not."""
    extra = scope_fqans(claims)
    if is_robot_client(config, client_id):
        role = _robot_role(config, client_id, vo, role)
        fqans = tuple(dict.fromkeys([role_fqan(vo, role), *extra]))
        return Membership(role=role, groups=(f"{vo}/{role}",), fqans=fqans, is_robot=True)
    groups = token_groups(claims, jwt_profile=config.jwt_profile)
    present = set(groups)
    if role:
        if f"{vo}/{role}" not in present:
            raise not_a_member(vo, role)
    else:
        role = next((r for r in config.auto_roles or [] if f"{vo}/{r}" in present), "")
        if not role and vo not in present:
            raise not_a_member(vo, "")
    fqans = tuple(dict.fromkeys([role_fqan(vo, role), *extra]))
    return Membership(role=role, groups=tuple(groups), fqans=fqans, is_robot=False)


def fqans_for_groups(groups: list[str]) -> list[str]:
    """User-record FQANs of group names: ``atlas`` -> ``/atlas``, ``atlas/production`` -> ``/atlas/Role=production``."""
    fqans = []
    for group in groups:
        parts = [p for p in group.strip("/").split("/") if p]
        if not parts:
            continue
        fqans.append("/" + parts[0] if len(parts) == 1 else "/" + "/".join(parts[:-1]) + f"/Role={parts[-1]}")
    return list(dict.fromkeys(fqans))
