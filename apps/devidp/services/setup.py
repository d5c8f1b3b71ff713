"""The demo set-up of the development provider: accounts, clients, robot secrets and the "atlas" VO record.

Running it again changes nothing that is already right: a client secret is kept while its file still
holds it, and the records are brought back to the values below.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.accounts.models import AuthConfig
from apps.devidp.documents import DISCOVERY_PATH
from apps.devidp.files import private_file_write
from apps.devidp.keys import signing_key
from apps.devidp.models import DevAccount, DevClient, secret_hash
from apps.devidp.services.tokens import issuer

G = DevClient.Grant
VO = "atlas"
DEMO_ACCOUNTS = (
    # username, name, groups
    ("alice", "Alice Atlas", ["atlas"]),
    ("bob", "Bob Atlas", ["atlas"]),
    ("prodmgr", "Production Manager", ["atlas", "atlas/production"]),
    # The quick start makes the group atlas/admin staff and superuser of the Django admin.
    ("siteadmin", "Site Admin", ["atlas", "atlas/admin"]),
)
CLI_CLIENT = "panda-client"
MONITOR_CLIENT = "panda-monitor"
HARVESTER_CLIENT = "panda-harvester"
PILOT_CLIENT = "panda-pilot"
ROBOT_ROLES = {HARVESTER_CLIENT: ["production"], PILOT_CLIENT: ["pilot"]}


@dataclass
class SetupResult:
    accounts_created: list[str] = field(default_factory=list)
    clients_created: list[str] = field(default_factory=list)
    secrets_written: dict[str, Path] = field(default_factory=dict)
    secrets_kept: dict[str, Path] = field(default_factory=dict)
    auth_config_created: bool = False
    kid: str = ""


def server_url_from_issuer() -> str:
    base = issuer()
    return base[: -len("/idp")] if base.endswith("/idp") else base


def secret_file(client_id: str) -> Path:
    return Path(settings.VAR_DIR) / "devidp" / f"{client_id}.secret"


def _client(client_id: str, result: SetupResult, **values) -> DevClient:
    client, created = DevClient.objects.update_or_create(client_id=client_id, defaults=values)
    if created:
        result.clients_created.append(client_id)
    return client


def _ensure_secret(client: DevClient, result: SetupResult) -> None:
    path = secret_file(client.client_id)
    try:
        current = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        current = ""
    if current and client.secret_matches(current):
        result.secrets_kept[client.client_id] = path
        return
    raw = secrets.token_urlsafe(32)
    client.secret_hash = secret_hash(raw)
    client.save(update_fields=["secret_hash"])
    private_file_write(path, raw + "\n")
    result.secrets_written[client.client_id] = path


def devidp_setup(*, server_url: str | None = None) -> SetupResult:
    server = (server_url or server_url_from_issuer()).rstrip("/")
    result = SetupResult()
    with transaction.atomic():
        for username, name, groups in DEMO_ACCOUNTS:
            _, created = DevAccount.objects.update_or_create(
                username=username, defaults={"name": name, "email": f"{username}@example.org", "groups": groups}
            )
            if created:
                result.accounts_created.append(username)
        _client(
            CLI_CLIENT,
            result,
            secret_hash="",
            grant_types=[G.DEVICE_CODE, G.REFRESH_TOKEN],
            is_robot=False,
            redirect_uris=[],
            post_logout_redirect_uris=[],
        )
        monitor = _client(
            MONITOR_CLIENT,
            result,
            grant_types=[G.AUTHORIZATION_CODE, G.REFRESH_TOKEN],
            is_robot=False,
            redirect_uris=[f"{server}/oidc/callback/"],
            post_logout_redirect_uris=[f"{server}/"],
        )
        robots = [
            _client(
                client_id,
                result,
                grant_types=[G.CLIENT_CREDENTIALS],
                is_robot=True,
                redirect_uris=[],
                post_logout_redirect_uris=[],
            )
            for client_id in ROBOT_ROLES
        ]
        for client in [monitor, *robots]:
            _ensure_secret(client, result)
        _, result.auth_config_created = AuthConfig.objects.update_or_create(
            name=VO,
            defaults={
                "vo": VO,
                "client_id": CLI_CLIENT,
                "client_secret": "",
                "audience": "",
                "oidc_config_url": issuer() + DISCOVERY_PATH,
                "jwt_profile": "",
                "secondary_ids": [MONITOR_CLIENT],
                "robot_ids": ROBOT_ROLES,
                "auto_roles": ["production"],
                "enabled": True,
            },
        )
    # The key now, before any web worker needs it (they would agree on one anyway, see keys.py).
    result.kid = signing_key().kid
    return result
