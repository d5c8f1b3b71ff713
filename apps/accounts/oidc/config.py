"""VO records (``AuthConfig``, iam.md §2) as the validator needs them, read once per short period.

Every request with a bearer token needs the accepted client ids of all VOs; a snapshot of the enabled
records is kept per process for ``PANDA_CONFIG_CACHE_SECONDS`` so this costs no query per request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings

from apps.accounts.models import AuthConfig
from apps.accounts.oidc.origin import BadOrigin, parse_origin


def normalise_issuer(issuer: str) -> str:
    """Issuers compare equal with or without a trailing ``/`` (iam.md §3 step 5)."""
    return issuer.rstrip("/")


def robot_roles(config: AuthConfig, client_id: str) -> list[str]:
    return list((config.robot_ids or {}).get(client_id) or [])


def is_robot_client(config: AuthConfig, client_id: str) -> bool:
    return client_id in (config.robot_ids or {})


def accepted_client_ids(config: AuthConfig) -> frozenset[str]:
    """The config's own client id, its secondary ids and its robots' client ids."""
    ids = {config.client_id, *(config.secondary_ids or []), *(config.robot_ids or {})}
    return frozenset(i for i in ids if i)


def accepted_audiences(config: AuthConfig) -> frozenset[str]:
    """``aud`` must contain one of these: a client id, secondary id, robot id or the configured audience."""
    return accepted_client_ids(config) | ({config.audience} if config.audience else frozenset())


def legacy_issuers(config: AuthConfig) -> frozenset[str]:
    return frozenset(normalise_issuer(i) for i in (config.legacy_token_issuers or []) if i)


@dataclass(frozen=True)
class _Snapshot:
    expires: float
    by_name: dict[str, AuthConfig]
    configs: tuple[AuthConfig, ...]
    client_ids: frozenset[str]


_lock = threading.Lock()
_snapshot: _Snapshot | None = None


def _current() -> _Snapshot:
    global _snapshot
    snapshot = _snapshot
    now = time.monotonic()
    if snapshot is not None and snapshot.expires > now:
        return snapshot
    configs = tuple(AuthConfig.objects.filter(enabled=True).order_by("name"))
    client_ids = frozenset().union(*(accepted_client_ids(c) for c in configs))
    snapshot = _Snapshot(
        expires=now + settings.PANDA_CONFIG_CACHE_SECONDS,
        by_name={c.name: c for c in configs},
        configs=configs,
        client_ids=client_ids,
    )
    with _lock:
        _snapshot = snapshot
    return snapshot


def forget_auth_configs() -> None:
    global _snapshot
    with _lock:
        _snapshot = None


def config_for(vo: str, role: str = "") -> AuthConfig | None:
    """The record named ``<vo>.<role>`` when there is one, else the one named ``<vo>``."""
    by_name = _current().by_name
    if role:
        config = by_name.get(f"{vo}.{role}") or by_name.get(f"{vo}:{role}")
        if config is not None:
            return config
    return by_name.get(vo)


def config_named(name: str) -> AuthConfig | None:
    """The record an ``/auth/<name>_auth_config.json`` URL names (``vo``, ``vo.role`` or ``vo:role``)."""
    try:
        origin = parse_origin(name)
    except BadOrigin:
        return None
    return None if origin is None else config_for(origin.vo, origin.role)


def is_known_client(client_id: str) -> bool:
    return client_id in _current().client_ids


def configs_for_client(client_id: str) -> list[AuthConfig]:
    return [c for c in _current().configs if client_id in accepted_client_ids(c)]
