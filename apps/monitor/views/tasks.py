"""``/tasks/``: the task list with its attribute summary, as a page or as JSON (monitor.md §1, §4, §5)."""

from django.http import HttpRequest
from django.shortcuts import render

from apps.monitor.filters.parser import FilterError, parse_selection
from apps.monitor.filters.permalink import permalink_query
from apps.monitor.filters.tasks import TASK_FILTERS
from apps.monitor.selectors.facets import legacy_summary
from apps.monitor.selectors.tasks_list import task_facets, tasks_json_rows, tasks_rows
from apps.monitor.views.common import json_response, wants_json
from apps.monitor.views.facet_links import facet_links
from apps.monitor.views.identity import bad_request, read_refused

OUTPUTS = ("selectionsummary", "tasks")


def tasks_list(request: HttpRequest):
    if (refused := read_refused(request)) is not None:
        return refused
    try:
        selection = parse_selection(request.GET, TASK_FILTERS, view="tasks")
        outputs = selection.outputs(OUTPUTS)
    except FilterError as exc:
        return bad_request(request, str(exc))
    if wants_json(request):
        data: dict = {"selection": selection.echo, "warnings": selection.warnings}
        if "selectionsummary" in outputs:
            data["selectionsummary"] = legacy_summary(task_facets(selection))
        if "tasks" in outputs:
            data["tasks"] = tasks_json_rows(selection)
        return json_response(data)
    rows, total = tasks_rows(selection)
    context = {
        "title": "Tasks",
        "selection_echo": selection.echo_text,
        "warnings": selection.warnings,
        "rows": rows,
        "total": total,
        "facets": facet_links(request.GET, task_facets(selection), base="/tasks/"),
        "permalink": "/tasks/?" + permalink_query(request.GET, selection),
    }
    return render(request, "monitor/tasks.html", context)
