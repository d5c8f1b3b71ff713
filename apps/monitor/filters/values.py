"""The value grammar of monitor.md §2 for one field: ``a|b``, ``a,b``, ``!a``, ``*`` and ``Not specified``.

* ``|`` separates OR terms; so does ``,`` except inside a term holding a ``*`` wildcard, where the
  comma-separated patterns must all match (AND).
* ``!`` before a term negates it; positives are OR-ed, negatives all excluded.
* ``*`` inside a value is a case-insensitive wildcard; a bare ``*`` means "is not null".
* ``Not specified`` (any case) means NULL or, for text, the empty string.

The result is a ``Q`` on the field's ORM path and the normalized value for the echo (OR with ``|``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q

from apps.monitor.filters.registry import DATETIME, EXACT, FLOAT, INT, NOT, NULL, WILDCARD, FilterField

NOT_SPECIFIED = "Not specified"


class ValueError400(ValueError):
    """A value the grammar cannot read; the parser turns it into a FilterError naming the key."""


@dataclass(frozen=True)
class Term:
    negated: bool
    kind: str  # "value", "null", "notnull", "wildcard"
    value: object = None
    patterns: tuple[str, ...] = ()

    def echo(self) -> str:
        sign = "!" if self.negated else ""
        if self.kind == "null":
            return sign + NOT_SPECIFIED
        if self.kind == "notnull":
            return sign + "*"
        if self.kind == "wildcard":
            return sign + ",".join(self.patterns)
        return sign + str(self.value)


def convert(kind: str, text: str):
    if kind == INT:
        try:
            return int(text)
        except ValueError:
            raise ValueError400(f"{text!r} is not an integer") from None
    if kind == FLOAT:
        try:
            return float(text)
        except ValueError:
            raise ValueError400(f"{text!r} is not a number") from None
    if kind == DATETIME:
        return parse_datetime(text)
    return text


DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def parse_datetime(text: str, *, end_of_day: bool = False) -> dt.datetime:
    """``YYYY-MM-DD[ HH:MM[:SS]]`` (or with ``T``); a bare date is its first (or, for ends, last) instant."""
    value = text.strip()
    for fmt in DATETIME_FORMATS:
        try:
            parsed = dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d" and end_of_day:
            parsed += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
        return parsed
    raise ValueError400(f"{text!r} is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS])")


def parse_terms(spec: FilterField, raw: str) -> list[Term]:
    text = raw.strip()
    if not text:
        raise ValueError400("empty value")
    terms: list[Term] = []
    for chunk in text.split("|"):
        chunk = chunk.strip()
        if not chunk:
            raise ValueError400(f"empty term in {raw!r}")
        if "*" in chunk and chunk.lstrip("!").strip() != "*":
            terms.append(wildcard_term(spec, chunk, raw))
            continue
        for piece in chunk.split(","):
            terms.append(plain_term(spec, piece.strip(), raw))
    return terms


def wildcard_term(spec: FilterField, chunk: str, raw: str) -> Term:
    negated = chunk.startswith("!")
    body = chunk[1:].strip() if negated else chunk
    if WILDCARD not in spec.operators:
        raise ValueError400(f"wildcards are not allowed for {spec.type} values ({raw!r})")
    patterns = tuple(part.strip() for part in body.split(","))
    if any(not part for part in patterns):
        raise ValueError400(f"empty pattern in {raw!r}")
    return Term(negated=negated, kind="wildcard", patterns=patterns)


def plain_term(spec: FilterField, piece: str, raw: str) -> Term:
    if not piece:
        raise ValueError400(f"empty term in {raw!r}")
    negated = piece.startswith("!")
    body = piece[1:].strip() if negated else piece
    if not body:
        raise ValueError400(f"'!' needs a value ({raw!r})")
    if negated and NOT not in spec.operators:
        raise ValueError400(f"'!' is not allowed here ({raw!r})")
    if body.lower() == NOT_SPECIFIED.lower():
        if NULL not in spec.operators:
            raise ValueError400(f"'{NOT_SPECIFIED}' is not allowed here ({raw!r})")
        return Term(negated=negated, kind="null")
    if body == "*":
        if NULL not in spec.operators:
            raise ValueError400(f"'*' is not allowed here ({raw!r})")
        return Term(negated=negated, kind="notnull")
    if EXACT not in spec.operators:
        raise ValueError400(f"plain values are not allowed here ({raw!r})")
    return Term(negated=negated, kind="value", value=convert(spec.type, body))


def pattern_q(path: str, pattern: str) -> Q:
    """One ``*`` pattern as prefix/suffix/contains lookups (case-insensitive, no regex, any database)."""
    parts = pattern.split("*")
    q = Q()
    first, last, middle = parts[0], parts[-1], parts[1:-1]
    if first:
        q &= Q(**{f"{path}__istartswith": first})
    for part in middle:
        if part:
            q &= Q(**{f"{path}__icontains": part})
    if last:
        q &= Q(**{f"{path}__iendswith": last})
    return q


def term_q(spec: FilterField, term: Term, path: str) -> Q:
    if term.kind == "null":
        q = Q(**{f"{path}__isnull": True})
        return q | Q(**{path: ""}) if spec.type == "str" else q
    if term.kind == "notnull":
        return Q(**{f"{path}__isnull": False})
    if term.kind == "wildcard":
        q = Q()
        for pattern in term.patterns:
            q &= pattern_q(path, pattern)
        return q
    return Q(**{path: term.value})


def value_q(spec: FilterField, raw: str, *, path: str | None = None) -> tuple[Q, str]:
    """The Q for ``raw`` on ``spec`` (on ``path`` if given, e.g. through a join) and its normalized echo."""
    terms = parse_terms(spec, raw)
    where = path or spec.path
    positives = [t for t in terms if not t.negated]
    negatives = [t for t in terms if t.negated]
    q = Q()
    plain = [t.value for t in positives if t.kind == "value"]
    if len(plain) > 1:
        either = Q(**{f"{where}__in": plain})
    elif plain:
        either = Q(**{where: plain[0]})
    else:
        either = Q()
    for term in positives:
        if term.kind != "value":
            either |= term_q(spec, term, where)
    if positives:
        q &= either
    for term in negatives:
        q &= ~term_q(spec, term, where)
    return q, "|".join(t.echo() for t in terms)
