"""Sites and queues, worker nodes, global shares and resource types (monitor.md §1): thin views."""

import json
from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render

from apps.monitor.filters.parser import FilterError, parse_selection
from apps.monitor.filters.sites import SITE_FILTERS
from apps.monitor.selectors import sites as selectors
from apps.monitor.selectors.facets import legacy_summary
from apps.monitor.views.common import json_response, respond, wants_json
from apps.monitor.views.facet_links import facet_links
from apps.monitor.views.identity import bad_request
from apps.monitor.views.readable import readable

DEFAULT_HOURS = 12
MAX_HOURS = 24 * 31


def hours_param(request) -> int:
    """``hours=N`` (default 12): how far back final jobs and worker-node activity count; no other key."""
    unknown = sorted(set(request.GET) - {"hours", "json", "timestamp"})
    if unknown:
        raise ValueError(f"unknown parameter {', '.join(unknown)}; allowed: hours")
    text = request.GET.get("hours", str(DEFAULT_HOURS)).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_HOURS:
        raise ValueError(f"hours must be a whole number from 1 to {MAX_HOURS}, got {text!r}")
    return int(text)


def _queue_names_of(name: str) -> list[str]:
    """A queue's own name, or every queue of a site; 404 when neither exists."""
    queue = selectors.queue_detail(name)
    if queue is not None:
        return [queue.name]
    site = selectors.site_detail(name)
    if site is None:
        raise Http404(f"no queue or site named {name!r}")
    return list(site.queues.order_by("name").values_list("name", flat=True))


@readable
def sites_page(request):
    """``/sites/``: the queue list with the site facets of monitor.md §5; filters of SITE_FILTERS."""
    try:
        selection = parse_selection(request.GET, SITE_FILTERS, view="sites")
    except FilterError as exc:
        return bad_request(request, str(exc))
    queues = selectors.queues_matching(selection)
    counts = selectors.site_facet_counts(queues)
    rows = selectors.queues_listed(queues)[: selection.display_limit]
    if wants_json(request):
        return json_response({"selection": selection.echo, "selectionsummary": legacy_summary(counts), "sites": rows})
    context = {
        "title": "Sites and queues",
        "queues": rows,
        "facets": facet_links(request.GET, counts),
        "selection_echo": selection.echo_text,
        "warnings": selection.warnings,
    }
    return render(request, "monitor/sites.html", context)


@readable
def site_page(request, name: str):
    """``/site/<name>/``: a queue's document and job counts, or a site and its queues."""
    try:
        hours = hours_param(request)
    except ValueError as exc:
        return bad_request(request, str(exc))
    queue = selectors.queue_detail(name)
    if queue is not None:
        counts = selectors.queue_state_counts([queue.name], hours=hours)[queue.name]
        links = {
            "jobs": "/jobs/?" + urlencode({"computingsite": queue.name, "hours": hours}),
            "failed jobs": "/jobs/?" + urlencode({"computingsite": queue.name, "jobstatus": "failed", "hours": hours}),
            "errors": "/errors/?" + urlencode({"computingsite": queue.name, "hours": hours}),
            "worker nodes": f"/wns/{queue.name}/",
            "Harvester workers": "/harvester/workers/?" + urlencode({"computingsite": queue.name}),
            "dashboard": "/dash/region/?" + urlencode({"site": queue.name}),
        }
        data = {
            "queue": {
                "name": queue.name,
                "site": queue.site.name,
                "cloud": queue.cloud or queue.site.cloud,
                "tier": queue.site.tier,
                "status": queue.status,
                "state": queue.state,
                "type": queue.type,
                "resource_type": queue.resource_type,
                "corecount": queue.corecount,
                "maxrss": queue.maxrss,
                "maxtime": queue.maxtime,
                "harvester": queue.harvester,
                "workflow": queue.workflow,
                "last_modified": queue.last_modified,
            },
            "document": queue.document,
            "selection": {"queue": queue.name, "hours": str(hours)},
            "jobs": counts,
            "nhours": hours,
            "links": links,
        }
        context = {
            "title": f"Queue {queue.name}",
            "queue": queue,
            "summary": data["queue"],
            "document_text": json.dumps(queue.document, indent=2, sort_keys=True),
            "counts": counts,
            "links": links,
            "selection_echo": f"queue={queue.name}, hours={hours}",
        }
        return respond(request, "monitor/queue.html", context, json_data=data)
    site = selectors.site_detail(name)
    if site is None:
        raise Http404(f"no queue or site named {name!r}")
    queues = selectors.queues_listed(site.queues.all())
    counts = selectors.queue_state_counts([row["name"] for row in queues], hours=hours)
    for row in queues:
        row["jobs"] = counts[row["name"]]
    data = {
        "selection": {"site": site.name, "hours": str(hours)},
        "site": {"name": site.name, "cloud": site.cloud, "tier": site.tier, "country": site.country, "role": site.role},
        "queues": queues,
        "nhours": hours,
    }
    context = {
        "title": f"Site {site.name}",
        "site": site,
        "queues": queues,
        "selection_echo": f"site={site.name}, hours={hours}",
    }
    return respond(request, "monitor/site.html", context, json_data=data)


@readable
def worker_nodes_page(request, site: str):
    """``/wns/<site>/``: jobs per worker node of a queue (or of every queue of a site), black holes flagged."""
    try:
        hours = hours_param(request)
    except ValueError as exc:
        return bad_request(request, str(exc))
    queue_names = _queue_names_of(site)
    nodes = selectors.worker_nodes(queue_names, hours=hours)
    states = [state for state in selectors.STATE_ORDER if any(state in node["states"] for node in nodes)]
    for node in nodes:
        node["cells"] = [node["states"].get(state, 0) for state in states]
    warnings = [f"{node['wn']} fails most of its jobs: a black hole?" for node in nodes if node["black_hole"]]
    context = {
        "title": f"Worker nodes of {site}",
        "site": site,
        "nodes": nodes,
        "states": states,
        "selection_echo": f"site={site}, hours={hours}",
        "warnings": warnings,
        "hours": hours,
    }
    data = {
        "selection": {"site": site, "hours": str(hours)},
        "site": site,
        "queues": queue_names,
        "nhours": hours,
        "workernodes": nodes,
    }
    return respond(request, "monitor/worker_nodes.html", context, json_data=data)


@readable
def worker_node_page(request, site: str, wn: str):
    """``/wn/<site>/<wn>/``: one node's jobs, states and errors."""
    try:
        hours = hours_param(request)
    except ValueError as exc:
        return bad_request(request, str(exc))
    queue_names = _queue_names_of(site)
    nodes = {node["wn"]: node for node in selectors.worker_nodes(queue_names, hours=hours)}
    node = nodes.get(wn, {"wn": wn, "states": {}, "total": 0, "failed": 0, "failure_rate": 0.0, "black_hole": False})
    failures = selectors.worker_node_failures(queue_names, wn, hours=hours)
    jobs = selectors.worker_node_jobs(queue_names, wn, hours=hours)
    data = {
        "selection": {"site": site, "wn": wn, "hours": str(hours)},
        "summary": node,
        "errors": failures,
        "jobs": jobs,
    }
    context = {
        "title": f"Worker node {wn} at {site}",
        "site": site,
        "node": node,
        "failures": failures,
        "jobs": jobs,
        "selection_echo": f"site={site}, wn={wn}, hours={hours}",
        "warnings": ["Most jobs of this node fail: a black hole?"] if node["black_hole"] else [],
    }
    return respond(request, "monitor/worker_node.html", context, json_data=data)


@readable
def global_shares_page(request):
    shares = selectors.global_shares()
    return respond(
        request,
        "monitor/global_shares.html",
        {"title": "Global shares", "shares": shares},
        json_data={"shares": shares},
    )


@readable
def resource_types_page(request):
    types = selectors.resource_types()
    return respond(
        request,
        "monitor/resource_types.html",
        {"title": "Resource types", "resourcetypes": types},
        json_data={"resourcetypes": types},
    )
