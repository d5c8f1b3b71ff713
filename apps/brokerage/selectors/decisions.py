"""Reading brokerage decisions: what the monitor's "why is it not running?" panel, ``task/get_details``
and ``task/get_brokerage_decisions`` show.

A decision as a dict: when, which kind (``job``: queues for a chunk; ``task``: the nucleus), its
summary, the kept candidates with their weights (best first) and the rejected ones grouped by the
filter that rejected them (the text before the first colon of the reason).
"""

from apps.brokerage.models import BrokerageDecision, DecisionKind
from apps.core.timeutil import format_wire_time
from apps.jedi.models import Task

MAX_LIMIT = 20


def reason_filter(reason: str) -> str:
    """The filter that rejected a candidate: the text before the first colon of its reason."""
    name, sep, _ = reason.partition(":")
    return name.strip() if sep else "other"


def latest_decisions(task_id: int, limit: int = 5) -> list[BrokerageDecision]:
    """The task's newest decisions of either kind, newest first (``limit`` capped at 20)."""
    limit = max(0, min(int(limit), MAX_LIMIT))
    return list(BrokerageDecision.objects.filter(jeditaskid=task_id).order_by("-creationtime", "-id")[:limit])


def decision_as_dict(decision: BrokerageDecision) -> dict:
    grouped: dict[str, list[dict]] = {}
    for name, reason in sorted(decision.rejected.items()):
        grouped.setdefault(reason_filter(reason), []).append({"name": name, "reason": reason})
    kept = [
        {"name": item.get("queue") or item.get("nucleus"), "weight": item.get("weight")}
        for item in decision.chosen
        if isinstance(item, dict)
    ]
    return {
        "id": decision.id,
        "kind": decision.kind,
        "time": format_wire_time(decision.creationtime),
        "summary": decision.summary,
        "kept": kept,
        "rejected": dict(sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))),
        "n_rejected": len(decision.rejected),
    }


def _newest(task_id: int, kind: str) -> BrokerageDecision | None:
    return BrokerageDecision.objects.filter(jeditaskid=task_id, kind=kind).order_by("-creationtime", "-id").first()


def brokerage_explanation(task_id: int) -> dict:
    """The task's status (``None`` for an unknown task) and its newest job and task decisions."""
    task = Task.objects.filter(jeditaskid=task_id).values("status", "errordialog", "nucleus", "site").first()
    job = _newest(task_id, DecisionKind.JOB)
    nucleus = _newest(task_id, DecisionKind.TASK)
    return {
        "jeditaskid": task_id,
        "status": task["status"] if task else None,
        "errordialog": task["errordialog"] if task else None,
        "nucleus": task["nucleus"] if task else None,
        "site": task["site"] if task else None,
        "job_brokerage": decision_as_dict(job) if job else None,
        "task_brokerage": decision_as_dict(nucleus) if nucleus else None,
    }
