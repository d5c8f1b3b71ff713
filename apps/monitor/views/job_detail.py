"""The job page and its satellites (monitor.md §1 "Job"): thin views over apps/monitor/selectors/job_detail.py."""

from django.shortcuts import redirect
from django.urls import reverse

from apps.monitor.plots import svg
from apps.monitor.selectors import job_detail as selectors
from apps.monitor.selectors.why_not_running import why_job_not_running
from apps.monitor.views.common import respond, wants_json
from apps.monitor.views.identity import bad_request, not_found, read_refused

LOG_LINKS = (("pilot log", "pilotlog.txt"), ("payload stdout", "payload.stdout"), ("payload stderr", "payload.stderr"))


def _log_links(pandaid: int) -> list[dict]:
    base = reverse("monitor:filebrowser")
    links = [{"label": label, "url": f"{base}?pandaid={pandaid}&filename={name}"} for label, name in LOG_LINKS]
    links.append({"label": "log tarball contents", "url": f"{base}?pandaid={pandaid}"})
    return links


def job_page(request, pandaid: int, batchid: str | None = None):
    if (refused := read_refused(request)) is not None:
        return refused
    job = selectors.job_get(pandaid)
    if job is None or (batchid is not None and job.batchid != batchid):
        suffix = f" with batchid {batchid}" if batchid is not None else ""
        return not_found(request, f"job {pandaid}{suffix} not found")
    job_data = selectors.job_as_dict(job)
    files = selectors.job_files(pandaid)
    dsfiles = selectors.job_dataset_files(pandaid)
    texts = selectors.job_side_texts(pandaid)
    errors = selectors.job_error_summary(job)
    status_log = selectors.job_status_log(pandaid)
    relationships = selectors.job_relationships(pandaid, jeditaskid=job.jeditaskid)
    why = why_job_not_running(job)
    timeline = svg.bars(
        [(row["jobstatus"], round(row["duration"] / 60, 1)) for row in status_log if row["duration"] is not None],
        title="Time spent in each state",
        xlabel="state (in order)",
        ylabel="minutes",
    )
    context = {
        "title": f"Job {pandaid}",
        "job": job_data,
        "fields": sorted(job_data.items()),
        "files": files,
        "dsfiles": dsfiles,
        "texts": texts,
        "errors": errors,
        "status_log": status_log,
        "relationships": relationships,
        "log_links": _log_links(pandaid),
        "why": why,
        "timeline_chart": timeline,
    }
    json_data = {
        "job": job_data,
        "files": files,
        "dsfiles": dsfiles,
        "jobparameters": texts["jobparameters"],
        "metadata": texts["metadata"],
        # The payload stdout tail the pilot sends with heartbeats of debug-mode jobs (monitor.md §6).
        "debug_stdout": texts["stdout"],
        "errors": errors,
        "statuslog": status_log,
        "relationships": relationships,
        "logs": context["log_links"],
        "why_not_running": why,
    }
    return respond(request, "monitor/job_detail.html", context, json_data=json_data)


def job_query(request):
    """``/job?pandaid=N``: the job page of that job (JSON is served on this URL as well)."""
    pandaid = request.GET.get("pandaid", "").strip()
    if not pandaid:
        return bad_request(request, "give pandaid=<id>")
    if not pandaid.isdigit():
        return bad_request(request, f"pandaid must be an integer, got {pandaid!r}")
    if wants_json(request):
        return job_page(request, int(pandaid))
    return redirect("monitor:job", pandaid=int(pandaid))


def job_status_log_page(request, pandaid: int):
    if (refused := read_refused(request)) is not None:
        return refused
    rows = selectors.job_status_log(pandaid)
    if not rows and selectors.job_get(pandaid) is None:
        return not_found(request, f"job {pandaid} not found")
    context = {"title": f"Status log of job {pandaid}", "pandaid": pandaid, "status_log": rows}
    return respond(request, "monitor/job_statuslog.html", context, json_data=rows)


def job_relationships_page(request, pandaid: int):
    if (refused := read_refused(request)) is not None:
        return refused
    job = selectors.job_get(pandaid)
    relationships = selectors.job_relationships(pandaid, jeditaskid=job.jeditaskid if job else None)
    if job is None and not relationships["ancestors"] and not relationships["descendants"]:
        return not_found(request, f"job {pandaid} not found")
    context = {"title": f"Retries of job {pandaid}", "pandaid": pandaid, "relationships": relationships}
    return respond(request, "monitor/job_relationships.html", context, json_data=relationships)
