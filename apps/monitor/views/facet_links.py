"""Facet panels of the sites and Harvester pages, in the shape of the shared ``monitor/_facets.html``."""

from apps.monitor.selectors.facets import filter_value


def facet_links(params, counts: dict[str, list[tuple]]) -> list[dict]:
    """``[{"name", "selected", "values": [{"label", "count", "href"}]}]``: each value adds (or replaces) its filter."""
    panels = []
    for name, pairs in counts.items():
        values = []
        for value, count in pairs:
            query = params.copy()
            query.pop("json", None)
            query[name] = filter_value(value)
            values.append({"label": filter_value(value), "count": count, "href": "?" + query.urlencode()})
        panels.append({"name": name, "selected": name in params, "values": values})
    return panels
