"""The task page and its satellites (monitor.md §1 "Task"): thin views over the task selectors and services."""

from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from apps.jedi.services.commands import NOT_ALLOWED, NOT_FOUND, OK, PERMISSION_DENIED, STILL_ACTIVE
from apps.monitor.plots import svg
from apps.monitor.selectors import task_detail as selectors
from apps.monitor.selectors.task_plots import task_consumption, task_progress
from apps.monitor.selectors.why_not_running import why_task_not_running
from apps.monitor.services.task_actions import BAD_REQUEST, task_action_perform, task_actions_offered
from apps.monitor.views.common import json_response, respond, wants_json
from apps.monitor.views.identity import bad_request, caller, not_found, read_refused

LIVE_INTERVAL_SECONDS = 60
HISTOGRAM_BINS = 20
OUTCOME_STATUS = {
    OK: 200,
    STILL_ACTIVE: 200,
    NOT_FOUND: 404,
    PERMISSION_DENIED: 403,
    NOT_ALLOWED: 409,
    BAD_REQUEST: 400,
}


def _summary_context(task, job_summary: list[dict], datasets: list[dict]) -> dict:
    return {
        "task": {
            "jeditaskid": task.jeditaskid,
            "status": task.status,
            "is_final": selectors.task_is_final(task),
        },
        "jobsummary": job_summary,
        "njobs": sum(row["count"] for row in job_summary),
        "input_datasets": [row for row in datasets if row["is_input"]],
    }


def _plots(task, job_summary: list[dict]) -> tuple[dict, dict]:
    """(SVG charts, their data) for the page."""
    progress = task_progress(task)
    consumption = task_consumption(task.jeditaskid)
    histograms = {
        "duration": ("Job duration", "minutes"),
        "maxpss": ("Maximum memory (PSS)", "MB"),
        "cpu_efficiency": ("CPU efficiency", "percent"),
    }
    charts = {
        "jobstates": svg.pie([(row["jobstatus"], row["count"]) for row in job_summary], title="Job states"),
        "progress": svg.lines(progress, title="Task progress (cumulative jobs)", ylabel="jobs"),
    }
    tables = {}
    for key, (title, unit) in histograms.items():
        charts[key] = svg.histogram(consumption[key], bins=HISTOGRAM_BINS, title=title, xlabel=unit)
        tables[key] = [
            {"low": low, "high": high, "count": count}
            for low, high, count in svg.histogram_bins(consumption[key], bins=HISTOGRAM_BINS)
        ]
    data = {
        "jobstates": job_summary,
        "progress": {state: [{"time": t, "count": n} for t, n in points] for state, points in progress.items()},
        "consumption_summary": consumption["summary"],
        "consumption_sampled": consumption["sampled"],
        "histograms": tables,
    }
    return charts, data


def task_page(request, jeditaskid: int):
    if (refused := read_refused(request)) is not None:
        return refused
    task = selectors.task_get(jeditaskid)
    if task is None:
        return not_found(request, f"task {jeditaskid} not found")
    task_data = selectors.task_as_dict(task)
    params = selectors.task_params(jeditaskid)
    datasets = selectors.task_datasets(jeditaskid)
    job_summary = selectors.task_job_summary(jeditaskid)
    why = why_task_not_running(task, job_states={row["jobstatus"]: row["count"] for row in job_summary})
    charts, plot_data = _plots(task, job_summary)
    identity = caller(request)
    context = {
        "title": f"Task {jeditaskid}",
        "task": task_data,
        "params": selectors.task_params_humanized(params),
        "datasets": datasets,
        "scouts": selectors.task_scouts(jeditaskid),
        "scout_metrics": selectors.task_scout_metrics(task),
        "status_log": selectors.task_status_log(jeditaskid),
        "brokerage": selectors.task_brokerage(jeditaskid),
        "why": why,
        "actions": task_actions_offered(identity, task_owner=task.username, task_status=task.status),
        "charts": charts,
        "plot_data": plot_data,
        "live_interval": LIVE_INTERVAL_SECONDS,
    }
    # The summary fragment's keys, except its short "task": the page has the whole task.
    context.update(
        {key: value for key, value in _summary_context(task, job_summary, datasets).items() if key != "task"}
    )
    json_data = {
        "task": task_data,
        "taskparams": params,
        "datasets": datasets,
        "jobsummary": job_summary,
        "scouts": context["scouts"],
        "scoutmetrics": context["scout_metrics"],
        "statuslog": context["status_log"],
        "brokerage": context["brokerage"],
        "why_not_running": why,
        "plots": plot_data,
    }
    return respond(request, "monitor/task_detail.html", context, json_data=json_data)


def task_query(request):
    """``/task?jeditaskid=N`` or ``/task?taskname=X``: that task's page (JSON is served on this URL as well)."""
    raw = request.GET.get("jeditaskid", "").strip()
    taskname = request.GET.get("taskname", "").strip()
    if raw:
        if not raw.isdigit():
            return bad_request(request, f"jeditaskid must be an integer, got {raw!r}")
        jeditaskid = int(raw)
    elif taskname:
        if (refused := read_refused(request)) is not None:
            return refused
        found = selectors.task_id_by_name(taskname)
        if found is None:
            return not_found(request, f"no task named {taskname!r}")
        jeditaskid = found
    else:
        return bad_request(request, "give jeditaskid=<id> or taskname=<name>")
    if wants_json(request):
        return task_page(request, jeditaskid)
    return redirect("monitor:task", jeditaskid=jeditaskid)


def job_summary_for_task(request, jeditaskid: int):
    """``/getjobsummaryfortask/<id>/``: the live summary fragment (job states, input progress) of a task."""
    if (refused := read_refused(request)) is not None:
        return refused
    task = selectors.task_get(jeditaskid)
    if task is None:
        return not_found(request, f"task {jeditaskid} not found")
    context = _summary_context(task, selectors.task_job_summary(jeditaskid), selectors.task_datasets(jeditaskid))
    fragment = render_to_string("monitor/_task_summary.html", context, request=request)
    if wants_json(request):
        return json_response(
            {
                "jeditaskid": jeditaskid,
                "status": task.status,
                "final": context["task"]["is_final"],
                "jobsummary": context["jobsummary"],
                "datasets": context["input_datasets"],
                "fragment": fragment,
            }
        )
    return respond(
        request,
        "monitor/task_summary.html",
        {"title": f"Job summary of task {jeditaskid}", "fragment": fragment, **context},
    )


def task_status_log_page(request, jeditaskid: int):
    if (refused := read_refused(request)) is not None:
        return refused
    rows = selectors.task_status_log(jeditaskid)
    if not rows and selectors.task_get(jeditaskid) is None:
        return not_found(request, f"task {jeditaskid} not found")
    context = {"title": f"Status log of task {jeditaskid}", "jeditaskid": jeditaskid, "status_log": rows}
    return respond(request, "monitor/task_statuslog.html", context, json_data=rows)


@require_POST
def task_action(request, jeditaskid: int):
    """POST ``action`` (kill, finish, retry, pause, resume, change_priority; ``priority`` for the last)."""
    identity = caller(request)
    if isinstance(identity, HttpResponse):
        return identity
    outcome = task_action_perform(
        identity,
        jeditaskid=jeditaskid,
        action=request.POST.get("action", ""),
        priority=request.POST.get("priority"),
        comment=request.POST.get("comment", ""),
    )
    status = OUTCOME_STATUS.get(outcome.code, 409)
    if wants_json(request):
        return json_response({"code": outcome.code, "message": outcome.message}, status=status)
    context = {
        "title": f"Task {jeditaskid}: {request.POST.get('action', '')}",
        "jeditaskid": jeditaskid,
        "outcome": outcome,
        "accepted": outcome.success,
    }
    response = respond(request, "monitor/task_action_result.html", context)
    response.status_code = status
    return response
