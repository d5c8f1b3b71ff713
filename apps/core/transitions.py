"""The one way to change a status: a conditional update checked against a transition table.

Each domain (jobs, later tasks and workers) keeps its own table and log model and calls
:func:`conditional_status_update` inside its own transition service. Correctness rests on the
``WHERE <status> IN <allowed sources>`` clause and the row count, never on row locks, so it holds
on SQLite as well as on PostgreSQL.
"""

from collections.abc import Iterable, Mapping

from django.db.models import QuerySet


class IllegalTransition(Exception):
    """The transition table does not allow this change."""

    def __init__(self, kind: str, old: str | None, new: str):
        super().__init__(f"{kind} cannot go from {old!r} to {new!r}")
        self.old = old
        self.new = new


class StaleStatus(Exception):
    """The row was no longer in the expected state when the update ran (another actor won)."""

    def __init__(self, kind: str, pk, expected: Iterable[str]):
        super().__init__(f"{kind} {pk} is no longer in {sorted(expected)}")
        self.pk = pk


def sources_for(table: Mapping[str, frozenset[str]], new: str) -> frozenset[str]:
    return frozenset(old for old, targets in table.items() if new in targets)


def check_transition(kind: str, table: Mapping[str, frozenset[str]], old: str | None, new: str) -> None:
    if old is None or new not in table.get(old, frozenset()):
        raise IllegalTransition(kind, old, new)


def conditional_status_update(
    queryset: QuerySet, *, status_field: str, expected: Iterable[str], changes: Mapping
) -> int:
    """``UPDATE ... SET changes WHERE <filters of queryset> AND status IN expected``; returns rows."""
    return queryset.filter(**{f"{status_field}__in": list(expected)}).update(**changes)
