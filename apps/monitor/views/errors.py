"""The error summary ``/errors/`` and the task × site failure matrix ``/errorsscat/`` (monitor.md §1, §4, §5).

Thin: the query string goes through the one filter parser with the jobs registry, the selectors count
in the database, and the view adds the drill-down links (each carrying the page's filters) and plots.
"""

from urllib.parse import urlencode

from django.http import QueryDict

from apps.monitor.filters.jobs import JOB_FILTERS, jobtype_names
from apps.monitor.filters.parser import FilterError, Selection, parse_selection
from apps.monitor.filters.permalink import permalink_query
from apps.monitor.filters.values import ValueError400
from apps.monitor.plots import svg
from apps.monitor.selectors.error_scatter import error_scatter
from apps.monitor.selectors.errors import error_summary
from apps.monitor.views.common import respond
from apps.monitor.views.identity import bad_request, read_refused

DEFAULT_HOURS = 12
ANALYSIS_HOURS = 6
MAX_ROWS = 200
# Parameters that shape this page only; the jobs list gets the filters and the window.
PAGE_ONLY = frozenset({"json", "timestamp", "display_limit", "limit", "sortby", "fields", "outputs", "cursor"})


def error_defaults(params: QueryDict) -> dict:
    """monitor.md §3: 12 hours, 6 for analysis jobs."""
    raw = params.get("jobtype", "")
    try:
        analysis = bool(raw) and jobtype_names(raw) == ["analysis"]
    except ValueError400:
        analysis = False  # the parser reports the bad value
    return {"hours": ANALYSIS_HOURS if analysis else DEFAULT_HOURS}


def parse_error_selection(params: QueryDict, *, view: str) -> Selection:
    return parse_selection(params, JOB_FILTERS, view=view, defaults=error_defaults(params))


def carried_filters(params: QueryDict, selection: Selection) -> dict[str, str]:
    """The page's filters and window as query parameters for drill-down links (the default window made explicit)."""
    carried = {key: params.get(key) for key in params if key not in PAGE_ONLY}
    if not any(key in carried for key in ("hours", "days", "date_from", "date_to", "fulllist")):
        for key in ("hours", "days"):
            if key in selection.echo:
                carried[key] = selection.echo[key]
    return carried


def jobs_link(carried: dict[str, str], **narrowing) -> str:
    params = {**carried, "jobstatus": "failed", **{key: value for key, value in narrowing.items() if value is not None}}
    return "/jobs/?" + urlencode(params)


def code_filter(error: dict) -> dict[str, str]:
    return {error["codename"]: str(error["codeval"])}


def _link_rows(rows: list[dict], carried: dict[str, str], field: str) -> list[dict]:
    linked = []
    for row in rows:
        narrowing = {field: str(row["name"]) if row["name"] not in (None, "") else "Not specified"}
        errors = [
            {**error, "href": jobs_link(carried, **narrowing, **code_filter(error))}
            for error in sorted(row["errors"].values(), key=lambda e: (-e["count"], e["error"]))
        ]
        linked.append({**row, "href": jobs_link(carried, **narrowing), "error_list": errors})
    return linked


def errors_page(request):
    if (refused := read_refused(request)) is not None:
        return refused
    try:
        selection = parse_error_selection(request.GET, view="errors")
    except FilterError as exc:
        return bad_request(request, str(exc))
    top = min(selection.display_limit, MAX_ROWS)
    summary = error_summary(selection, top=top)
    carried = carried_filters(request.GET, selection)
    warnings = list(selection.warnings)
    if summary.hourly:
        warnings.append("Whole hours of this long window are counted from the hourly error aggregates.")
    json_data = {
        "selection": selection.echo,
        "jobSummary": summary.job_summary,
        "errsByCount": summary.by_count,
        "errsBySite": summary.by_site,
        "errsByUser": summary.by_user,
        "errsByTask": summary.by_task,
        "errsByComponent": [{"name": name, "count": count} for name, count in summary.by_component],
        "errsOverTime": [{"time": moment, "count": count} for moment, count in summary.over_time],
        "warnings": warnings,
    }
    by_count = [{**error, "href": jobs_link(carried, **code_filter(error))} for error in summary.by_count]
    context = {
        "title": "Error summary",
        "selection_echo": selection.echo_text,
        "warnings": warnings,
        "job_summary": summary.job_summary,
        "by_count": by_count,
        "by_site": _link_rows(summary.by_site, carried, "computingsite"),
        "by_user": _link_rows(summary.by_user, carried, "produsername"),
        "by_task": _link_rows(summary.by_task, carried, "jeditaskid"),
        "by_component": summary.by_component,
        "over_time": summary.over_time,
        "all_failed_href": jobs_link(carried),
        "permalink": "/errors/?" + permalink_query(request.GET, selection),
        "component_plot": svg.bars(summary.by_component, title="Errors by component", ylabel="errors"),
        "time_plot": svg.bars(
            [(moment.strftime("%m-%d %H:%M"), count) for moment, count in summary.over_time],
            title="Errors over time",
            ylabel="errors",
        ),
        "state_plot": svg.pie([(row["name"], row["count"]) for row in summary.job_summary], title="Job states"),
    }
    return respond(request, "monitor/errors.html", context, json_data=json_data)


def error_scatter_page(request):
    if (refused := read_refused(request)) is not None:
        return refused
    try:
        selection = parse_error_selection(request.GET, view="errorsscat")
    except FilterError as exc:
        return bad_request(request, str(exc))
    matrix = error_scatter(selection, top=min(selection.display_limit, MAX_ROWS))
    carried = carried_filters(request.GET, selection)
    rows = [
        {
            **task,
            "href": jobs_link(carried, jeditaskid=str(task["jeditaskid"])),
            "cells": [
                (task["sites"].get(site), jobs_link(carried, jeditaskid=str(task["jeditaskid"]), computingsite=site))
                for site in matrix["sites"]
            ],
        }
        for task in matrix["tasks"]
    ]
    context = {
        "title": "Error scattering: tasks × sites",
        "selection_echo": selection.echo_text,
        "warnings": selection.warnings,
        "sites": matrix["sites"],
        "rows": rows,
    }
    json_data = {"selection": selection.echo, **matrix, "warnings": selection.warnings}
    return respond(request, "monitor/errorsscat.html", context, json_data=json_data)
