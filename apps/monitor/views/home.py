"""The front page (the system at a glance), the search box, the help page and obsolete URLs (monitor.md §1)."""

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import render

from apps.monitor.plots import svg
from apps.monitor.selectors import overview
from apps.monitor.selectors.search import MAX_QUERY_LENGTH, search_hits
from apps.monitor.views.common import respond
from apps.monitor.views.help import HELP_SECTIONS
from apps.monitor.views.identity import bad_request
from apps.monitor.views.readable import readable


@readable
def front_page(request):
    hours = settings.PANDA_MONITOR_DASH_HOURS
    tasks = overview.tasks_by_status()
    jobs, source = overview.jobs_by_state()
    failing = overview.top_failing_queues(hours=hours)
    workers = overview.workers_by_status(hours=hours)
    data = {
        "tasks": tasks,
        "jobs": jobs,
        "jobs_source": source,
        "nhours": hours,
        "topfailingqueues": failing,
        "workers": workers,
    }
    context = {
        "title": "PanDA monitor",
        "tasks": tasks,
        "jobs": jobs,
        "failing": failing,
        "workers": workers,
        "hours": hours,
        "days": overview.TASK_DAYS,
        "job_pie": svg.pie(list(jobs.items()), title=f"Jobs by state, last {hours} h"),
    }
    return respond(request, "monitor/home.html", context, json_data=data)


@readable
def search(request):
    """``/search/?q=``: straight to the one page the query names, else a list of what it may name."""
    query = request.GET.get("q", "").strip()
    if not query:
        return bad_request(request, "search needs a query: ?q=<PandaID, task id, task name, user or site>")
    if len(query) > MAX_QUERY_LENGTH:
        return bad_request(request, f"the query is longer than {MAX_QUERY_LENGTH} characters")
    hits = search_hits(query)
    if len(hits) == 1 and "json" not in request.GET:
        return HttpResponseRedirect(hits[0].url)
    suggestion = None if query.isdigit() else "/tasks/?" + urlencode({"taskname": f"*{query}*"})
    context = {"title": f"Search: {query}", "query": query, "hits": hits, "suggestion": suggestion}
    data = {"query": query, "hits": [{"kind": h.kind, "label": h.label, "url": h.url} for h in hits]}
    return respond(request, "monitor/search.html", context, json_data=data)


@readable
def help_page(request):
    return respond(
        request, "monitor/help.html", {"title": "Help", "sections": HELP_SECTIONS}, json_data={"help": HELP_SECTIONS}
    )


# Obsolete BigPanDA URLs: a successor, or None for a page that no longer exists.
OBSOLETE = {
    "dashboard": "/dash/region/",
    "dash/regions": "/dash/region/",
    "summary": "/dash/region/",
    "queues": "/sites/",
    "siteinfo": "/sites/",
    "harvesters": "/harvester/instances/",
    "workers": "/harvester/workers/",
    "incidents": None,
    "logger": None,
    "esatlasPandaLogger": None,
    "workingGroups": None,
    "bigpandamon": None,
}


@readable
def obsolete(request, old: str):
    """A successor keeps the query string; a page with none says so (410), never a bare 404."""
    successor = OBSOLETE[old]
    if successor is not None:
        query = request.GET.urlencode()
        return HttpResponseRedirect(successor + (f"?{query}" if query else ""))
    context = {"title": "Decommissioned", "old": f"/{old}/"}
    return render(request, "monitor/decommissioned.html", context, status=410)


@readable
def worker_nodes_moved(request, site: str):
    return HttpResponseRedirect(f"/wns/{site}/")
