"""Attribute-summary facets (monitor.md §5): counts per value, computed in the database.

``facet_counts(queryset, ["jobstatus", "computingsite"])`` runs one ``values(field).annotate(Count)``
query per facet. A :class:`Facet` names a facet whose value is an expression (a priority bucket, a
memory bucket) and how a value becomes the filter value its link adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet

from apps.monitor.filters.values import NOT_SPECIFIED

# Values per facet sent to the page: the most frequent ones (the whole list would be a table of its own).
MAX_VALUES = 200


@dataclass(frozen=True)
class Facet:
    name: str  # facet name, also the filter key its links add
    expression: Any  # a field path or a query expression
    label: Callable[[Any], str] | None = None  # bucket value -> filter value (e.g. 10 -> "1000:1099")


def facet_counts(
    queryset: QuerySet, fields: Iterable[str | Facet], *, by_count: bool = False
) -> dict[str, list[tuple[Any, int]]]:
    """``{facet: [(value, count), ...]}``, values sorted (or by count, largest first, with ``by_count``)."""
    result: dict[str, list[tuple[Any, int]]] = {}
    base = queryset.order_by()
    for item in fields:
        facet = item if isinstance(item, Facet) else Facet(item, item)
        if isinstance(facet.expression, str):
            rows = base.values_list(facet.expression).annotate(n=Count("pk"))
        else:
            rows = base.annotate(facet_value=facet.expression).values_list("facet_value").annotate(n=Count("pk"))
        rows = rows.order_by("-n")[:MAX_VALUES]
        pairs = [(facet.label(value) if facet.label and value is not None else value, n) for value, n in rows]
        if by_count:
            pairs.sort(key=lambda pair: (-pair[1], sort_key(pair[0])))
        else:
            pairs.sort(key=lambda pair: sort_key(pair[0]))
        result[facet.name] = pairs
    return result


def sort_key(value: Any) -> tuple:
    """Empty values last, numbers numerically, everything else as text."""
    if value is None or value == "":
        return (2, 0, "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value))


def filter_value(value: Any) -> str:
    """What a facet link adds: the value, or ``Not specified`` for NULL and ''."""
    return NOT_SPECIFIED if value is None or value == "" else str(value)


def legacy_summary(counts: dict[str, list[tuple[Any, int]]]) -> list[dict]:
    """BigPanDA's ``selectionsummary``: ``[{"field", "list": [{"kname", "kvalue"}], "stats": {"sum"}}]``."""
    return [
        {
            "field": name,
            "list": [{"kname": filter_value(value), "kvalue": n} for value, n in pairs],
            "stats": {"sum": sum(n for _, n in pairs)},
        }
        for name, pairs in counts.items()
    ]
