"""``/jobs/``: the job list with facets and errors by count, as a page or as JSON (monitor.md §1, §4).

Path forms: ``/jobs/<key>/<value>/`` is ``/jobs/?<key>=<value>``; ``/jobs/<a>/`` is ``?mode=<a>`` for
``drop``/``nodrop`` or a ``key=value&...`` query written into the path. Query parameters win.
"""

from urllib.parse import parse_qsl

from django.http import HttpRequest, QueryDict
from django.shortcuts import render

from apps.jobs.error_codes import job_errors
from apps.monitor.filters.jobs import JOB_FILTERS
from apps.monitor.filters.parser import FilterError, Selection, parse_selection
from apps.monitor.filters.permalink import permalink_query
from apps.monitor.selectors.facets import legacy_summary
from apps.monitor.selectors.jobs import (
    dropped_count,
    errors_by_count,
    job_facets,
    jobs_json_rows,
    jobs_page,
    task_is_event_service,
)
from apps.monitor.views.common import json_response, wants_json
from apps.monitor.views.facet_links import facet_links, link
from apps.monitor.views.identity import bad_request, read_refused

OUTPUTS = ("selectionsummary", "jobs", "errsByCount")


def path_params(query: QueryDict, a: str | None, b: str | None) -> QueryDict:
    params = QueryDict(mutable=True)
    if a is not None and b is not None:
        params[a] = b
    elif a is not None:
        if a.lower() in ("drop", "nodrop"):
            params["mode"] = a.lower()
        elif "=" in a:
            for key, value in parse_qsl(a, keep_blank_values=True):
                params[key] = value
        else:
            raise FilterError(f"/jobs/{a}/: a single path part is drop, nodrop or key=value pairs")
    for key in query:
        params.setlist(key, query.getlist(key))
    return params


def jobs_list(request: HttpRequest, a: str | None = None, b: str | None = None):
    refused = read_refused(request)
    if refused:
        return refused
    try:
        params = path_params(request.GET, a, b)
        lowered = {key.lower(): value for key, value in params.items()}
        defaults = {"mode": "nodrop"} if task_is_event_service(lowered) else None
        selection = parse_selection(params, JOB_FILTERS, view="jobs", defaults=defaults)
        outputs = selection.outputs(OUTPUTS)
    except FilterError as exc:
        return bad_request(request, str(exc))
    if wants_json(request):
        return json_response(json_payload(selection, outputs))
    return render(request, "monitor/jobs.html", page_context(params, selection))


def json_payload(selection: Selection, outputs: list[str]) -> dict:
    """monitor.md §4: ``selectionsummary``, ``jobs``, ``errsByCount`` (those in ``outputs``) and the echo."""
    data: dict = {"selection": selection.echo, "warnings": selection.warnings}
    if "selectionsummary" in outputs:
        data["selectionsummary"] = legacy_summary(job_facets(selection))
    if "jobs" in outputs:
        data["jobs"] = jobs_json_rows(selection, with_files=bool(selection.extra.get("datasets")))
        if len(data["jobs"]) >= selection.limit:
            data["warnings"].append(f"Only the first {selection.limit} jobs are listed (limit={selection.limit}).")
    if "errsByCount" in outputs:
        data["errsByCount"] = errors_by_count(selection)
    return data


WINDOW_PARAMS = frozenset({"hours", "days", "date_from", "date_to", "earlierthan", "earlierthandays", "fulllist"})


def errors_link(params: QueryDict, selection: Selection) -> str:
    """``/errors/`` of the same jobs: the same filters, and the list's window made explicit.

    The error summary has its own default window (6 h for analysis), so a default window is written out.
    """
    given = {key.lower() for key in params}
    window = {} if given & WINDOW_PARAMS else {k: selection.echo[k] for k in ("hours", "days") if k in selection.echo}
    return "/errors/" + link(params, **window)


def page_context(params: QueryDict, selection: Selection) -> dict:
    page = jobs_page(selection)
    errors = errors_by_count(selection)
    for error in errors:
        error["href"] = "/jobs/" + link(params, jobstatus="failed", **{error["codename"]: str(error["codeval"])})
    sortby = selection.extra.get("sortby") or ""
    return {
        "title": "Jobs",
        "selection_echo": selection.echo_text,
        "warnings": selection.warnings,
        "page": page,
        "rows": [{"job": job, "errors": job_errors(job)} for job in page.rows],
        "next_href": "/jobs/" + link(params, cursor=page.next_cursor) if page.next_cursor else None,
        "first_href": "/jobs/" + link(params) if "cursor" in params else None,
        "dropped": dropped_count(selection),
        "nodrop_href": "/jobs/" + link(params, mode="nodrop"),
        "mode": selection.mode,
        "errors": errors,
        "facets": facet_links(params, job_facets(selection), base="/jobs/"),
        "permalink": "/jobs/?" + permalink_query(params, selection),
        "errors_href": errors_link(params, selection),
        "sort_links": [
            {
                "name": name,
                "href": "/jobs/" + link(params, sortby=f"{name}-{direction}"),
                "label": f"{name} {'↓' if direction == 'descending' else '↑'}",
                "current": sortby == f"{name}-{direction}",
            }
            for name in JOB_FILTERS.sort_options
            for direction in ("descending", "ascending")
        ],
    }
