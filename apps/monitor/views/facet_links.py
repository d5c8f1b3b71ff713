"""Links that keep the current view's filters: facet panels (``monitor/_facets.html``) and query edits."""

from urllib.parse import urlencode

from django.http import QueryDict

from apps.monitor.selectors.facets import filter_value

# Per-request output controls that a link to another selection must not carry along.
DROPPED_KEYS = ("cursor", "json")


def link(params: QueryDict, **changes) -> str:
    """``?query`` of the current view with ``changes`` (None removes a key); the page cursor is dropped."""
    items = {key: params[key] for key in params if key not in DROPPED_KEYS}
    for key, value in changes.items():
        if value is None:
            items.pop(key, None)
        else:
            items[key] = value
    return "?" + urlencode(items)


def facet_links(params: QueryDict, counts: dict[str, list[tuple]], *, base: str = "") -> list[dict]:
    """``[{"name", "selected", "values": [{"label", "count", "href"}]}]``: each value adds its filter.

    A filter already in the URL under another spelling (``JobStatus=`` for ``jobstatus``) is replaced,
    not doubled. ``base`` is the page path the links point to (empty: the current page).
    """
    lowered = {key.lower(): key for key in params}
    panels = []
    for name, pairs in counts.items():
        existing = lowered.get(name)
        values = []
        for value, count in pairs:
            shown = filter_value(value)
            changes = {name: shown} if existing is None else {existing: None, name: shown}
            values.append({"label": shown, "count": count, "href": base + link(params, **changes)})
        panels.append({"name": name, "values": values, "selected": name in lowered})
    return panels
