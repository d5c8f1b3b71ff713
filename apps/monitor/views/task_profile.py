"""``/taskprofile/<id>/`` and ``/taskprofiledata/<id>/``: jobs and events a task completed over time (monitor.md §1)."""

from apps.monitor.plots import svg
from apps.monitor.selectors.task_detail import task_get
from apps.monitor.selectors.task_profile import task_profile
from apps.monitor.views.common import json_response, respond
from apps.monitor.views.identity import not_found, read_refused


def _series_json(series: dict) -> dict:
    return {name: [{"time": moment, "count": count} for moment, count in points] for name, points in series.items()}


def _profile_data(task, profile: dict) -> dict:
    return {
        "jeditaskid": task.jeditaskid,
        "status": task.status,
        "jobs": _series_json(profile["jobs"]),
        "events": _series_json(profile["events"]),
    }


def _task_or_refusal(request, jeditaskid: int):
    if (refused := read_refused(request)) is not None:
        return None, refused
    task = task_get(jeditaskid)
    if task is None:
        return None, not_found(request, f"task {jeditaskid} not found")
    return task, None


def task_profile_page(request, jeditaskid: int):
    task, refusal = _task_or_refusal(request, jeditaskid)
    if refusal is not None:
        return refusal
    profile = task_profile(task)
    context = {
        "title": f"Profile of task {jeditaskid}",
        "task": task,
        "jobs_plot": svg.lines(profile["jobs"], title="Jobs completed (cumulative)", ylabel="jobs"),
        "events_plot": svg.lines(profile["events"], title="Events of finished jobs (cumulative)", ylabel="events"),
        "rows": [
            {"series": f"{kind} {name}", "time": moment, "count": count}
            for kind in ("jobs", "events")
            for name, points in profile[kind].items()
            for moment, count in points
        ],
    }
    return respond(request, "monitor/task_profile.html", context, json_data=_profile_data(task, profile))


def task_profile_data(request, jeditaskid: int):
    """The profile's series as JSON, whatever the Accept header (BigPanDA's data URL of the profile page)."""
    task, refusal = _task_or_refusal(request, jeditaskid)
    if refusal is not None:
        return refusal
    return json_response(_profile_data(task, task_profile(task)))
