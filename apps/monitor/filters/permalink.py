"""The "Permalink" action (monitor.md §8 State): relative windows rewritten to absolute date_from/date_to."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.http import QueryDict

from apps.core.timeutil import utcnow
from apps.monitor.filters.parser import Selection

RELATIVE_KEYS = ("hours", "days", "earlierthan", "earlierthandays", "date_from", "date_to", "cursor", "timestamp")
STAMP = "%Y-%m-%d %H:%M:%S"


def permalink_query(params: QueryDict | dict, selection: Selection, *, now: dt.datetime | None = None) -> str:
    """The query string of the same view frozen in time: same filters, absolute window (if it has one)."""
    items = [(key, value) for key, value in params.items() if key.lower() not in RELATIVE_KEYS]
    if selection.date_from is not None or selection.date_to is not None:
        end = selection.date_to or (now or utcnow())
        if end.microsecond:  # the stamp has whole seconds: round up, or the last second's rows drop out
            end = end.replace(microsecond=0) + dt.timedelta(seconds=1)
        if selection.date_from is not None:
            items.append(("date_from", selection.date_from.strftime(STAMP)))
        items.append(("date_to", end.strftime(STAMP)))
    return urlencode(items)
