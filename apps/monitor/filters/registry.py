"""Declarative filter registries (monitor.md §2, §8): which keys a list page accepts and what they mean.

A :class:`Registry` holds, per model, the plain field keys (lower-cased key -> ORM path, type, allowed
operators, facet or not), the special keys with their handlers, the time-window field, the defaults
of monitor.md §3 and the sort options. :func:`apps.monitor.filters.parser.parse_selection` is the one
parser for every registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from django.db.models import Q

    from apps.monitor.filters.parser import ParseContext

INT, STR, FLOAT, DATETIME = "int", "str", "float", "datetime"

# Operators of the value grammar: exact values, OR-lists, ``!`` negation, ``*`` wildcards, ``Not
# specified`` (null or empty) and bare ``*`` (not null). Datetime fields only take ``<field>range=``.
EXACT, NOT, WILDCARD, NULL = "exact", "not", "wildcard", "null"
RANGE = "range"
TEXT_OPERATORS = frozenset({EXACT, NOT, WILDCARD, NULL})
NUMBER_OPERATORS = frozenset({EXACT, NOT, NULL})
DATETIME_OPERATORS = frozenset({RANGE})


@dataclass(frozen=True)
class FilterField:
    key: str  # lower-cased URL key
    path: str  # ORM path the key filters on
    type: str  # INT, STR, FLOAT or DATETIME
    operators: frozenset[str]
    facet: bool = False


# A special key's handler turns its (non-empty, %-free) value into a Q, may add warnings, and returns
# the normalized value for the echo alongside.
Handler = Callable[[str, "ParseContext"], "tuple[Q, str]"]


@dataclass(frozen=True)
class SpecialKey:
    key: str
    handler: Handler
    help: str = ""
    # Keys that select by their own time condition (stuck jobs): no time window is applied with them.
    drops_window: bool = False


# A group handler reads several keys at once (e.g. harvesterid + workerid name one worker).
GroupHandler = Callable[[dict[str, str], "ParseContext"], "tuple[Q, dict[str, str]]"]


@dataclass(frozen=True)
class KeyGroup:
    keys: tuple[str, ...]
    handler: GroupHandler


@dataclass(frozen=True)
class SortOption:
    """``sortby=<name>-descending|-ascending``: the order_by fields for descending, plus annotations."""

    name: str
    fields: tuple[str, ...]
    annotations: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Registry:
    name: str
    model: type[models.Model]
    fields: dict[str, FilterField]
    special: dict[str, SpecialKey] = field(default_factory=dict)
    groups: tuple[KeyGroup, ...] = ()
    window_field: str | None = None
    default_hours: int | None = None
    default_limit: int = 20_000
    default_display_limit: int = 100
    sort_options: dict[str, SortOption] = field(default_factory=dict)
    default_sort: str | None = None
    # A URL naming one object by one of these keys (one plain value) is a deep query (monitor.md §3).
    single_object_keys: frozenset[str] = frozenset()
    deep_limit: int = 200_000
    # Status field and its non-final states: the window is not applied to those (monitor.md §3).
    status_key: str | None = None
    active_states: frozenset[str] = frozenset()
    # Adjusts defaults from the parsed keys (e.g. 2 days for event-service jobs).
    adjust_defaults: Callable[[dict[str, str], ParseContext], None] | None = None
    # Extra output controls a page accepts, passed through to Selection.extra["params"].
    passthrough: frozenset[str] = frozenset()
    # Adds registry-specific output behaviour (e.g. the drop mode of job lists).
    finish: Callable[[ParseContext], None] | None = None

    def facet_fields(self) -> list[str]:
        return [f.key for f in self.fields.values() if f.facet]

    def datetime_keys(self) -> list[str]:
        return [f.key for f in self.fields.values() if f.type == DATETIME]


def field_type(model_field: models.Field) -> str | None:
    if isinstance(model_field, (models.DateTimeField, models.DateField)):
        return DATETIME
    if isinstance(model_field, (models.IntegerField, models.AutoField, models.BigAutoField)):
        return INT
    if isinstance(model_field, (models.FloatField, models.DecimalField)):
        return FLOAT
    if isinstance(model_field, (models.CharField, models.TextField)):
        return STR
    return None  # JSON and binary columns are not filterable


OPERATORS_BY_TYPE = {STR: TEXT_OPERATORS, INT: NUMBER_OPERATORS, FLOAT: NUMBER_OPERATORS, DATETIME: DATETIME_OPERATORS}


def model_fields(
    model: type[models.Model],
    *,
    facets: Iterable[str] = (),
    exclude: Iterable[str] = (),
    prefix: str = "",
) -> dict[str, FilterField]:
    """A FilterField for every concrete column of ``model``: key = lower-cased field name."""
    facet_set, excluded = set(facets), set(exclude)
    result = {}
    for model_field in model._meta.concrete_fields:
        if model_field.name in excluded or model_field.is_relation:
            continue
        kind = field_type(model_field)
        if kind is None:
            continue
        key = prefix + model_field.name.lower()
        result[key] = FilterField(
            key=key,
            path=model_field.name,
            type=kind,
            operators=OPERATORS_BY_TYPE[kind],
            facet=model_field.name in facet_set,
        )
    unknown = facet_set - {f.path for f in result.values()}
    if unknown:
        raise ValueError(f"facets {sorted(unknown)} are not columns of {model.__name__}")
    return result
