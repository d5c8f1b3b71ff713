"""Users (monitor.md §1 "Users"): ``/users/``, ``/user/<name>/`` and ``/userProfile/<name>/``.

``<name>`` is the compact user name of jobs (``produsername``) and tasks (``username``). The pages
take the jobs filter grammar (``days=N`` sets "over N days"); default one week.
"""

from urllib.parse import quote, urlencode

from apps.monitor.filters.jobs import JOB_FILTERS
from apps.monitor.filters.parser import FilterError, parse_selection
from apps.monitor.plots import svg
from apps.monitor.selectors.users import narrowed_to_user, user_activity, users_active
from apps.monitor.views.common import respond
from apps.monitor.views.identity import bad_request, read_refused

DEFAULT_HOURS = 7 * 24
MAX_ROWS = 500


def _selection(request):
    return parse_selection(request.GET, JOB_FILTERS, view="users", defaults={"hours": DEFAULT_HOURS})


def users_page(request):
    if (refused := read_refused(request)) is not None:
        return refused
    try:
        selection = _selection(request)
    except FilterError as exc:
        return bad_request(request, str(exc))
    users = users_active(selection, limit=min(selection.display_limit, MAX_ROWS))
    for user in users:
        user["href"] = f"/user/{quote(user['name'], safe='')}/"
    context = {
        "title": "Users",
        "selection_echo": selection.echo_text,
        "warnings": selection.warnings,
        "users": users,
    }
    json_data = {"selection": selection.echo, "users": users, "warnings": selection.warnings}
    return respond(request, "monitor/users.html", context, json_data=json_data)


def _user_context(request, name: str):
    """(selection, activity, context) or an error response."""
    if (refused := read_refused(request)) is not None:
        return refused
    try:
        selection = _selection(request)
    except FilterError as exc:
        return bad_request(request, str(exc))
    selection = narrowed_to_user(selection, name)
    activity = user_activity(name, selection, limit=min(selection.display_limit, MAX_ROWS))
    if not activity["tasks"] and not activity["jobs"]:
        # A user who just logged in has a (so far empty) page, not a 404.
        selection.warnings.append(f"No jobs or tasks of {name} in this window: a longer one is days=N.")
    window = {key: selection.echo[key] for key in ("hours", "days") if key in selection.echo}
    context = {
        "title": f"User {name}",
        "name": name,
        "selection_echo": selection.echo_text,
        "warnings": selection.warnings,
        **activity,
        "tasks_href": "/tasks/?" + urlencode({"username": name, **window}),
        "jobs_href": "/jobs/?" + urlencode({"produsername": name, **window}),
        "errors_href": "/errors/?" + urlencode({"produsername": name, **window}),
        "profile_href": f"/userProfile/{quote(name, safe='')}/",
        "user_href": f"/user/{quote(name, safe='')}/",
        "progress_plot": svg.lines(
            {status: points for status, points in activity["progress"].items()},
            title=f"Jobs of {name} ended over time",
            ylabel="jobs",
        ),
        "state_plot": svg.pie([(row["name"], row["count"]) for row in activity["job_summary"]], title="Job states"),
    }
    json_data = {
        "selection": selection.echo,
        "user": name,
        "jobSummary": activity["job_summary"],
        "tasks": activity["tasks"],
        "jobs": activity["jobs"],
        "errsByCount": activity["errors"],
        "progress": {
            status: [{"time": moment, "count": count} for moment, count in points]
            for status, points in activity["progress"].items()
        },
        "warnings": selection.warnings,
    }
    return context, json_data


def user_page(request, name: str):
    built = _user_context(request, name)
    if not isinstance(built, tuple):
        return built
    context, json_data = built
    return respond(request, "monitor/user.html", context, json_data=json_data)


def user_profile_page(request, name: str):
    built = _user_context(request, name)
    if not isinstance(built, tuple):
        return built
    context, json_data = built
    context["title"] = f"Profile of {name}"
    return respond(request, "monitor/user_profile.html", context, json_data=json_data)
