"""Brokerage decisions of a task: v1 ``task/get_brokerage_decisions`` (this project's extension).

Upstream PanDA has no such endpoint; its monitor reads the JEDI logs to tell why a task's jobs go
where they go. Here every job and task (nucleus) brokerage records its decision
(apps.brokerage.models.BrokerageDecision), and this endpoint returns what the monitor shows:

``GET /api/v1/task/get_brokerage_decisions?task_id=<N>`` (authenticated) answers ``data`` =
``{"jeditaskid", "status", "errordialog", "nucleus", "site", "job_brokerage", "task_brokerage",
"recent"}``: the newest job and task decisions, each ``{"id", "kind", "time", "summary", "kept":
[{"name", "weight"}], "rejected": {"<filter>": [{"name", "reason"}]}, "n_rejected"}`` (``null``
when there is none), and ``recent``, the summaries of the newest five decisions. An unknown task
answers ``success:false``, ``message:"Task not found"``.
"""

from apps.accounts.permissions import may_read_tasks
from apps.brokerage.selectors.decisions import brokerage_explanation, latest_decisions
from apps.core.timeutil import format_wire_time
from apps.dispatcher.encoding import error_text, v1_fail, v1_ok
from apps.dispatcher.registry import Param, v1_method

AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"
TASK_NOT_FOUND = "Task not found"
_INT64 = 2**63 - 1


@v1_method("task", "get_brokerage_decisions", "GET", {"task_id": Param(int, required=True)})
def get_brokerage_decisions(call, task_id):
    if not may_read_tasks(call.identity):
        return error_text(403, AUTH_REQUIRED)
    if not 0 < task_id <= _INT64:
        return v1_fail(TASK_NOT_FOUND)
    explanation = brokerage_explanation(task_id)
    if explanation["status"] is None:
        return v1_fail(TASK_NOT_FOUND)
    explanation["recent"] = [
        {"id": d.id, "kind": d.kind, "time": format_wire_time(d.creationtime), "summary": d.summary}
        for d in latest_decisions(task_id, limit=5)
    ]
    return v1_ok(explanation)
