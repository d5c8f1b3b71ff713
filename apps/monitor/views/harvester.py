"""Harvester pages (monitor.md §1 Harvester): thin views over apps/monitor/selectors/harvester.py."""

from django.http import Http404
from django.shortcuts import render

from apps.monitor.filters.parser import FilterError
from apps.monitor.filters.workers import WORKER_FILTERS
from apps.monitor.selectors import harvester as selectors
from apps.monitor.views.common import json_response, respond, wants_json
from apps.monitor.views.facet_links import facet_links
from apps.monitor.views.identity import bad_request
from apps.monitor.views.readable import readable
from apps.monitor.views.sites import hours_param


@readable
def instances_page(request):
    try:
        hours = hours_param(request)
    except ValueError as exc:
        return bad_request(request, str(exc))
    rows = selectors.instances(hours=hours)
    context = {"title": "Harvester instances", "instances": rows, "hours": hours, "selection_echo": f"hours={hours}"}
    return respond(
        request,
        "monitor/harvester_instances.html",
        context,
        json_data={"selection": {"hours": str(hours)}, "instances": rows},
    )


@readable
def workers_page(request):
    """``/harvester/workers/``: the worker summary and list; an empty window widens to the last submitted worker."""
    try:
        selection, workers, warnings = selectors.workers_widened(request.GET)
    except FilterError as exc:
        return bad_request(request, str(exc))
    rows = selectors.worker_rows(workers, limit=selection.display_limit)
    summary = selectors.worker_summary(workers)
    if wants_json(request):
        return json_response({"selection": selection.echo, "warnings": warnings, "summary": summary, "workers": rows})
    counts = {name: list(values.items()) for name, values in summary.items()}
    context = {
        "title": "Harvester workers",
        "workers": rows,
        "facets": facet_links(request.GET, counts),
        "selection_echo": selection.echo_text,
        "warnings": warnings,
    }
    return render(request, "monitor/harvester_workers.html", context)


@readable
def worker_page(request, workerid: int):
    """``/harvester/worker/<workerid>/?harvesterid=``: a worker, its fields and the jobs it ran."""
    unknown = sorted(set(request.GET) - {"harvesterid", "json", "timestamp"})
    if unknown:
        return bad_request(request, f"unknown parameter {', '.join(unknown)}; allowed: harvesterid")
    workers = selectors.workers_of(workerid, request.GET.get("harvesterid", "").strip() or None)
    if not workers:
        raise Http404(f"no worker {workerid}")
    if len(workers) > 1:
        context = {"title": f"Workers {workerid}", "workers": workers, "workerid": workerid}
        data = {"workers": [{"harvesterid": w.harvesterid, "workerid": w.workerid} for w in workers]}
        return respond(request, "monitor/harvester_worker_choice.html", context, json_data=data)
    worker = workers[0]
    jobs = selectors.worker_jobs(worker)
    fields = {name: getattr(worker, name) for name in selectors.WORKER_LIST_FIELDS} | {
        name: getattr(worker, name)
        for name in (
            "queuename",
            "submissionhost",
            "harvesterhost",
            "errorcode",
            "pilotstatus",
            "stdout",
            "stderr",
            "batchlog",
        )
    }
    jobs_url = f"/jobs/?harvesterid={worker.harvesterid}&workerid={worker.workerid}"
    context = {
        "title": f"Worker {worker.harvesterid}:{worker.workerid}",
        "fields": fields,
        "jobs": jobs,
        "jobs_url": jobs_url,
    }
    return respond(
        request,
        "monitor/harvester_worker.html",
        context,
        json_data={"workers": [fields], "jobs": jobs, "jobs_url": jobs_url},
    )


@readable
def slots_page(request):
    rows = selectors.slots()
    return respond(
        request, "monitor/harvester_slots.html", {"title": "Harvester slots", "slots": rows}, json_data={"slots": rows}
    )


@readable
def workers_for_task_page(request):
    """``/workersfortask/?jeditaskid=N``: the workers that ran the task's jobs, with their summary."""
    text = request.GET.get("jeditaskid", "").strip()
    unknown = sorted(set(request.GET) - {"jeditaskid", "json", "timestamp"})
    if unknown:
        return bad_request(request, f"unknown parameter {', '.join(unknown)}; allowed: jeditaskid")
    if not text.isdigit():
        return bad_request(request, f"jeditaskid must be a task id (an integer), got {text!r}")
    workers = selectors.workers_for_task(int(text))
    summary = selectors.worker_summary(workers)
    rows = selectors.worker_rows(workers, limit=WORKER_FILTERS.default_display_limit)
    context = {
        "title": f"Workers of task {text}",
        "workers": rows,
        "summary": summary,
        "selection_echo": f"jeditaskid={text}",
    }
    data = {"selection": {"jeditaskid": text}, "summary": summary, "workers": rows}
    return respond(request, "monitor/harvester_workers.html", context, json_data=data)
