"""Endpoint registries: legacy ``/server/panda/<method>`` and v1 ``/api/v1/<module>/<method>``.

Endpoints are plain functions registered with a decorator in ``apps/dispatcher/api/*``; each one
parses its parameters, asks :mod:`apps.accounts.permissions`, calls one service and encodes.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.accounts.identity import Identity
from apps.core.values import as_bool, is_null

_MISSING = object()


@dataclass
class Call:
    """What an endpoint gets: who called, the decoded parameters and the raw request (headers)."""

    identity: Identity
    params: dict[str, Any]
    request: Any


@dataclass(frozen=True)
class Param:
    """A typed v1 parameter (protocol.md §2.2). ``kind`` is str, int, float, bool, list, dict, "int_list", "any"."""

    kind: Any = str
    required: bool = False
    default: Any = None


class ArgumentError(ValueError):
    pass


def cast(name: str, spec: Param, value):
    kind = spec.kind
    if kind == "any":
        return value
    if isinstance(value, str) and value == "None":
        return None
    if kind is bool:
        return as_bool(value)
    if kind is int:
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, bool):
            raise ArgumentError(f"{name} must be an integer")
        try:
            return int(float(value)) if isinstance(value, str) else int(value)
        except (TypeError, ValueError) as exc:
            raise ArgumentError(f"{name} must be an integer, got {value!r}") from exc
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ArgumentError(f"{name} must be a number, got {value!r}") from exc
    if kind == "int_list":
        items = value if isinstance(value, list) else [value]
        flat = []
        for item in items:
            if isinstance(item, str) and ("," in item or " " in item or item.startswith("[")):
                flat.extend(part for part in item.strip("[]").replace(",", " ").split() if part)
            else:
                flat.append(item)
        try:
            return [int(float(item)) if isinstance(item, str) else int(item) for item in flat]
        except (TypeError, ValueError) as exc:
            raise ArgumentError(f"{name} must be a list of integers, got {value!r}") from exc
    if kind is list:
        if isinstance(value, str):
            import json

            try:
                decoded = json.loads(value)
            except ValueError:
                return [value]
            return decoded if isinstance(decoded, list) else [decoded]
        return value if isinstance(value, list) else [value]
    if kind is dict:
        if isinstance(value, str):
            import json

            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ArgumentError(f"{name} must be a JSON object") from exc
        if not isinstance(value, dict):
            raise ArgumentError(f"{name} must be an object")
        return value
    # str
    if isinstance(value, list):
        value = value[-1] if value else ""
    if isinstance(value, (dict, list)):
        raise ArgumentError(f"{name} must be a string")
    return value if isinstance(value, str) else str(value)


def bind(params: dict[str, Any], specs: dict[str, Param], *, strict: bool = True) -> dict[str, Any]:
    unknown = sorted(set(params) - set(specs))
    if unknown and strict:
        raise ArgumentError(f"unexpected keyword argument(s) {', '.join(unknown)}")
    bound = {}
    for name, spec in specs.items():
        value = params.get(name, _MISSING)
        if value is _MISSING or (spec.kind is not str and is_null(value) and not spec.required):
            if spec.required:
                raise ArgumentError(f"missing required argument {name}")
            bound[name] = spec.default() if callable(spec.default) else spec.default
            continue
        bound[name] = cast(name, spec, value)
    return bound


@dataclass
class V1Endpoint:
    func: Callable
    http_method: str | None
    params: dict[str, Param] = field(default_factory=dict)
    strict: bool = True


LEGACY: dict[str, Callable[[Call], Any]] = {}
V1: dict[tuple[str, str], V1Endpoint] = {}

V1_MODULES = frozenset(
    [
        "async_process",
        "creds",
        "data_carousel",
        "event",
        "file_server",
        "harvester",
        "idds",
        "job",
        "metaconfig",
        "pilot",
        "statistics",
        "system",
        "task",
        "workflow",
    ]
)


def legacy_method(*names: str):
    def register(func):
        for name in names:
            LEGACY[name] = func
        return func

    return register


def v1_method(module: str, name: str, http_method: str | None, params: dict[str, Param] | None = None, strict=True):
    """``http_method`` None accepts any method (panda-client POSTs some GET-style calls)."""
    assert module in V1_MODULES, module

    def register(func):
        V1[(module, name)] = V1Endpoint(func=func, http_method=http_method, params=params or {}, strict=strict)
        return func

    return register
