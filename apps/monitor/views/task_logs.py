"""``/tasklogs/<jeditaskid>/`` (monitor.md §1 "Task"): a task's status log, command history and last message."""

from apps.monitor.selectors import task_logs as selectors
from apps.monitor.views.common import respond
from apps.monitor.views.identity import not_found
from apps.monitor.views.readable import readable


@readable
def task_logs_page(request, jeditaskid: int):
    task = selectors.task_log_summary(jeditaskid)
    if task is None:
        return not_found(request, f"task {jeditaskid} not found")
    status_changes = selectors.task_status_changes(jeditaskid)
    commands = selectors.task_commands(jeditaskid)
    timeline = selectors.task_timeline(status_changes, commands)
    context = {
        "title": f"Logs of task {jeditaskid}",
        "task": task,
        "timeline": timeline,
        "status_log": status_changes,
        "commands": commands,
    }
    json_data = {
        "task": task,
        "errordialog": task["errordialog"] or "",
        "timeline": timeline,
        "statuslog": status_changes,
        "commands": commands,
    }
    return respond(request, "monitor/task_logs.html", context, json_data=json_data)
