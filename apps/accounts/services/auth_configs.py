"""VO records (``AuthConfig``, iam.md §2) from and to JSON ``{name: {field: value}}``, and their public part."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import AuthConfig
from apps.accounts.oidc.config import forget_auth_configs
from apps.accounts.oidc.origin import BadOrigin, parse_origin

# Served at /auth/<name>_auth_config.json (protocol.md §11.3); nothing else ever leaves the server.
PUBLIC_FIELDS = ("vo", "client_id", "client_secret", "audience", "oidc_config_url", "jwt_profile")
FIELDS = (
    *PUBLIC_FIELDS,
    "secondary_ids",
    "robot_ids",
    "auto_roles",
    "legacy_token_issuers",
    "enabled",
)
JWT_PROFILES = ("", "wlcg")


class AuthConfigError(ValueError):
    pass


def public_auth_config(config: AuthConfig) -> dict:
    """The public fields; ``client_secret`` and ``audience`` null when unset, ``jwt_profile`` only when set."""
    document = {
        "vo": config.vo,
        "client_id": config.client_id,
        "client_secret": config.client_secret or None,
        "audience": config.audience or None,
        "oidc_config_url": config.oidc_config_url,
    }
    if config.jwt_profile:
        document["jwt_profile"] = config.jwt_profile
    return document


def _strings(value, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AuthConfigError(f"{what} must be a list of non-empty strings")
    return list(value)


def _robot_ids(value, what: str) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise AuthConfigError(f"{what} must be an object {{client_id: [roles]}}")
    return {client: _strings(roles, f"{what}[{client!r}]") for client, roles in value.items()}


def _fields(name: str, record) -> dict:
    """The validated field values of one record; :class:`AuthConfigError` naming every problem."""
    if not isinstance(record, dict):
        raise AuthConfigError(f"{name}: must be an object")
    try:
        origin = parse_origin(name)
    except BadOrigin as exc:
        raise AuthConfigError(f"{name}: {exc}") from exc
    if origin is None or name != (f"{origin.vo}.{origin.role}" if origin.role else origin.vo):
        raise AuthConfigError(f"{name!r}: the name must be <vo> or <vo>.<role>")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise AuthConfigError(f"{name}: unknown fields {', '.join(unknown)}")
    values = {"vo": record.get("vo", origin.vo)}
    if values["vo"] != origin.vo:
        raise AuthConfigError(f"{name}: vo {values['vo']!r} does not match the name")
    for field in ("client_id", "oidc_config_url"):
        if not isinstance(record.get(field), str) or not record[field]:
            raise AuthConfigError(f"{name}: {field} is required")
        values[field] = record[field]
    for field in ("client_secret", "audience", "jwt_profile"):
        value = record.get(field) or ""
        if not isinstance(value, str):
            raise AuthConfigError(f"{name}: {field} must be a string or null")
        values[field] = value
    if values["jwt_profile"] not in JWT_PROFILES:
        raise AuthConfigError(f"{name}: jwt_profile must be 'wlcg' or empty")
    for field in ("secondary_ids", "auto_roles", "legacy_token_issuers"):
        values[field] = _strings(record.get(field, []), f"{name}: {field}")
    values["robot_ids"] = _robot_ids(record.get("robot_ids", {}), f"{name}: robot_ids")
    enabled = record.get("enabled", True)
    if not isinstance(enabled, bool):
        raise AuthConfigError(f"{name}: enabled must be true or false")
    values["enabled"] = enabled
    try:
        AuthConfig(name=name, **values).full_clean(validate_unique=False)
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
        raise AuthConfigError(f"{name}: {problems}") from exc
    return values


def auth_configs_load(*, documents: dict) -> dict[str, int]:
    """Create or update one record per name; all are validated first, so a bad file changes nothing.

    Records the file does not name are left alone. Returns counts ``created``, ``updated``, ``unchanged``.
    """
    if not isinstance(documents, dict) or not documents:
        raise AuthConfigError("expected a non-empty JSON object {name: {fields}}")
    validated = {name: _fields(name, record) for name, record in documents.items()}
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        existing = {c.name: c for c in AuthConfig.objects.select_for_update().filter(name__in=validated)}
        for name, values in validated.items():
            config = existing.get(name)
            if config is None:
                AuthConfig.objects.create(name=name, **values)
                counts["created"] += 1
            elif any(getattr(config, k) != v for k, v in values.items()):
                AuthConfig.objects.filter(pk=config.pk).update(**values)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
    forget_auth_configs()
    return counts


def auth_configs_export() -> dict:
    """Every record, every field, in the format :func:`auth_configs_load` reads."""
    return {config.name: {field: getattr(config, field) for field in FIELDS} for config in AuthConfig.objects.all()}
