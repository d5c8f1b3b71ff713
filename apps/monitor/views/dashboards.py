"""Queue dashboards and the status summary (monitor.md §1): thin views over apps/monitor/selectors."""

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render

from apps.monitor.plots import svg
from apps.monitor.selectors.dashboards import (
    ES_VALUES,
    Dashboard,
    DashParamError,
    dash_params_parse,
    dashboard_counts,
)
from apps.monitor.selectors.queue_counts import JOBTYPE_LABEL_FILTERS, STATE_ORDER
from apps.monitor.selectors.status_summary import status_summary, status_summary_params_parse
from apps.monitor.views.common import json_response, respond, wants_json
from apps.monitor.views.identity import bad_request
from apps.monitor.views.readable import readable

PLOTTED_QUEUES = 25
TITLES = {"region": "regions", "world": "world (by nucleus)", "es": "event service, by region"}


def echo_text(echo: dict[str, str]) -> str:
    """The one-line selection echo, in the jobs list's form (``key=value, key=value``)."""
    return ", ".join(f"{key}={value}" for key, value in echo.items())


def jobs_link(**params) -> str:
    return "/jobs/?" + urlencode({key: value for key, value in params.items() if value})


def dashboard_table(dashboard: Dashboard) -> list[dict]:
    """Rows of the page table: a group (region or nucleus), its sites, their queues, each with a cell per state."""
    jobtype = dashboard.params.jobtype
    resourcetype = dashboard.params.resourcetype
    table = []

    def row(kind: str, name: str, counts: dict, href: str, link_key: str, link_value: str, **extra) -> dict:
        narrowing = {"resourcetype": resourcetype, link_key: link_value}
        split_jobtype = name if kind == "split" and dashboard.params.splitby == "jobtype" else jobtype
        if kind == "split" and dashboard.params.splitby == "resourcetype":
            narrowing["resourcetype"] = name
        # The snapshot's jobtype is a split on prodsourcelabel; the same split keeps the drill-down exact.
        narrowing["prodsourcelabel"] = JOBTYPE_LABEL_FILTERS.get(split_jobtype, "")
        narrowing["hours"] = str(settings.PANDA_MONITOR_DASH_HOURS)
        if dashboard.params.view == "es":
            narrowing["eventservice"] = "|".join(str(value) for value in ES_VALUES)
        cells = [(counts.get(state, 0), jobs_link(**narrowing, jobstatus=state)) for state in dashboard.states]
        return {"kind": kind, "name": name, "href": href, "total": sum(counts.values()), "cells": cells, **extra}

    world = dashboard.params.view == "world"
    page = "/dash/es/" if dashboard.params.view == "es" else "/dash/region/"
    for group_name, group in dashboard.groups.items():
        # A region narrows the dashboard; a nucleus has no dashboard parameter, so it opens its jobs.
        kept = {key: value for key, value in dashboard.params.echo.items() if key not in ("view", "region")}
        href = jobs_link(nucleus=group_name) if world else page + "?" + urlencode(kept | {"region": group_name})
        table.append(row("group", group_name, group["states"], href, "nucleus" if world else "region", group_name))
        for site_name, site in group["sites"].items():
            table.append(row("site", site_name, site["states"], f"/site/{site_name}/", "site", site_name))
            for queue_name, queue in site["queues"].items():
                table.append(
                    row(
                        "queue",
                        queue_name,
                        queue["states"],
                        f"/site/{queue_name}/",
                        "computingsite",
                        queue_name,
                        status=queue["status"],
                    )
                )
                for part, counts in queue.get("split", {}).items():
                    table.append(row("split", part, counts, "", "computingsite", queue_name))
    return table


def _dashboard(request, *, view: str, jobtype: str = "") -> HttpResponse:
    try:
        params = dash_params_parse(request.GET, view=view, jobtype=jobtype)
    except DashParamError as exc:
        return bad_request(request, str(exc))
    dashboard = dashboard_counts(params)
    if wants_json(request):
        return json_response(dashboard.as_json())
    warnings = []
    if view == "es":
        warnings.append("Event-service jobs (and their merge jobs) are always counted live.")
    elif dashboard.source == "live":
        warnings.append("No recent queue snapshot (is the run_queue_snapshot beat task running?): counted live.")
    plotted = dashboard.queue_rows()[:PLOTTED_QUEUES]
    context = {
        "title": "Queue dashboard: " + TITLES[view],
        "dashboard": dashboard,
        "table": dashboard_table(dashboard),
        "selection_echo": echo_text(params.echo),
        "warnings": warnings,
        "plot": svg.stacked_bars(plotted, title="Queue load (busiest queues)", ylabel="jobs"),
        "group_label": "Nucleus" if view == "world" else "Region",
        "hours": settings.PANDA_MONITOR_DASH_HOURS,
    }
    return render(request, "monitor/dashboard.html", context)


@readable
def dash_region(request):
    return _dashboard(request, view="region")


@readable
def dash_world(request):
    return _dashboard(request, view="world")


@readable
def dash_es(request):
    return _dashboard(request, view="es")


@readable
def dash_analysis(request):
    return _dashboard(request, view="region", jobtype="analysis")


@readable
def dash_production(request):
    return _dashboard(request, view="region", jobtype="production")


@readable
def status_summary_page(request):
    try:
        params = status_summary_params_parse(request.GET)
    except DashParamError as exc:
        return bad_request(request, str(exc))
    rows = status_summary(params)
    data = {"selection": params.echo, "nhours": params.nhours, "queues": rows}
    states = sorted({state for row in rows for state in row["jobs"]}, key=_state_rank)
    context = {
        "title": "Status summary",
        "rows": [dict(row, cells=[row["jobs"].get(state, 0) for state in states]) for row in rows],
        "states": states,
        "selection_echo": echo_text(params.echo),
    }
    return respond(request, "monitor/status_summary.html", context, json_data=data)


@readable
def status_summary_api(request):
    """The scripting endpoint: always JSON."""
    try:
        params = status_summary_params_parse(request.GET)
    except DashParamError as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response({"selection": params.echo, "nhours": params.nhours, "queues": status_summary(params)})


def _state_rank(state: str) -> int:
    return STATE_ORDER.index(state) if state in STATE_ORDER else len(STATE_ORDER)
