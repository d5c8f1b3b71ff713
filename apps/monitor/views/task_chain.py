"""Task chain and data flow (monitor.md §1 "Task chain / flow"): ``/taskchain/?jeditaskid=``,
``/ganttTaskChain/?jeditaskid=`` and ``/taskflow/<jeditaskid>/``; thin views over selectors/task_chain.py."""

from apps.monitor.plots import svg
from apps.monitor.selectors import task_chain as selectors
from apps.monitor.views.common import respond
from apps.monitor.views.identity import bad_request, not_found
from apps.monitor.views.readable import readable

ALLOWED = frozenset({"jeditaskid", "json", "timestamp"})


def _task_id(request) -> int | str:
    """The ``jeditaskid`` parameter, or the message refusing the query string."""
    unknown = sorted(set(request.GET) - ALLOWED)
    if unknown:
        return f"unknown parameter {', '.join(unknown)}; allowed: jeditaskid"
    raw = request.GET.get("jeditaskid", "").strip()
    if not raw:
        return "give jeditaskid=<id>"
    if not raw.isdigit():
        return f"jeditaskid must be an integer, got {raw!r}"
    return int(raw)


def _chain(request):
    """(jeditaskid, chain) or the refusing response."""
    jeditaskid = _task_id(request)
    if isinstance(jeditaskid, str):
        return bad_request(request, jeditaskid)
    chain = selectors.task_chain(jeditaskid)
    if chain is None:
        return not_found(request, f"task {jeditaskid} not found")
    return jeditaskid, chain


def _warnings(chain: dict) -> list[str]:
    if chain["truncated"]:
        return [f"The chain is cut at {selectors.MAX_TASKS} tasks or {selectors.MAX_DEPTH} levels."]
    return []


@readable
def task_chain_page(request):
    built = _chain(request)
    if not isinstance(built, tuple):
        return built
    jeditaskid, chain = built
    context = {
        "title": f"Task chain of {jeditaskid}",
        "selection_echo": f"jeditaskid={jeditaskid}",
        "warnings": _warnings(chain),
        "jeditaskid": jeditaskid,
        "chain": chain,
    }
    json_data = {"selection": {"jeditaskid": str(jeditaskid)}, **chain, "warnings": _warnings(chain)}
    return respond(request, "monitor/task_chain.html", context, json_data=json_data)


@readable
def gantt_task_chain_page(request):
    built = _chain(request)
    if not isinstance(built, tuple):
        return built
    jeditaskid, chain = built
    rows = selectors.gantt_rows(chain["tasks"])
    chart = svg.gantt(
        [(row["label"], row["start"], row["end"], row["status"]) for row in rows],
        title=f"Task chain of {jeditaskid} over time",
    )
    context = {
        "title": f"Task chain of {jeditaskid} over time",
        "selection_echo": f"jeditaskid={jeditaskid}",
        "warnings": _warnings(chain),
        "jeditaskid": jeditaskid,
        "rows": rows,
        "chart": chart,
    }
    json_data = {
        "selection": {"jeditaskid": str(jeditaskid)},
        "root": chain["root"],
        "tasks": rows,
        "warnings": _warnings(chain),
    }
    return respond(request, "monitor/gantt_task_chain.html", context, json_data=json_data)


@readable
def task_flow_page(request, jeditaskid: int):
    flow = selectors.task_flow(jeditaskid)
    if flow is None:
        return not_found(request, f"task {jeditaskid} not found")
    context = {"title": f"Data flow of task {jeditaskid}", **flow}
    return respond(request, "monitor/task_flow.html", context, json_data=flow)
