"""What the job brokers share: the candidate queues, ranking by weight, and recording the decision."""

import datetime as dt
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from apps.brokerage.models import DecisionKind
from apps.brokerage.services.decisions import decision_record, rejections_by_filter
from apps.brokerage.services.filters import Context
from apps.brokerage.services.grid import (
    InputLocations,
    input_locations,
    job_counts,
    pilots_last_seen,
    queue_cloud,
    task_jobs,
)
from apps.brokerage.services.needs import job_needs
from apps.core.timeutil import utcnow
from apps.jedi.models import DatasetContent, Task, TaskParams
from apps.jedi.plugins import BrokerageResult
from apps.sites.models import PandaQueue

NO_CLOUD = ("", "NA", "any")
# The window of the task's own recent job results (analysis task-failure filter).
RECENT_JOBS_WINDOW = dt.timedelta(hours=24)


@dataclass
class Candidates:
    queues: list[PandaQueue]
    preassigned: bool
    description: str
    error: str = ""


def candidate_queues(task: Task, queues: Sequence[PandaQueue]) -> Candidates:
    """§10.1 filter 1: the task's ``site`` (exact queue = pre-assigned, site name or regex), its cloud, or all."""
    site = (task.site or "").strip()
    if site:
        exact = [q for q in queues if q.name == site]
        if exact:
            return Candidates(exact, True, f"pre-assigned queue {site}")
        try:
            pattern = re.compile(site)
        except re.error as exc:
            return Candidates([], False, f"task site {site!r}", error=f"not a queue nor a valid pattern ({exc})")
        matched = [q for q in queues if pattern.fullmatch(q.name) or pattern.fullmatch(q.site.name)]
        return Candidates(matched, False, f"queues matching task site {site!r}")
    cloud = (task.cloud or "").strip()
    if cloud not in NO_CLOUD:
        return Candidates([q for q in queues if queue_cloud(q) == cloud], False, f"queues of cloud {cloud}")
    return Candidates(list(queues), False, "all queues")


def is_analysis(task: Task) -> bool:
    return task.tasktype == "anal" or task.prodsourcelabel == "user"


def task_params(task: Task) -> dict:
    """The submitted parameter map (``{}`` when missing or unreadable)."""
    text = TaskParams.objects.filter(task_id=task.jeditaskid).values_list("taskparams", flat=True).first()
    try:
        params = json.loads(text) if text else {}
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def build_context(
    task: Task, files: Sequence[DatasetContent], *, scout: bool, candidates: Candidates, needs_data: bool, **extra
) -> Context:
    """Everything the filters read, in a fixed handful of queries whatever the number of queues."""
    names = [q.name for q in candidates.queues]
    now = utcnow()
    return Context(
        task=task,
        needs=job_needs(task, files),
        scout=scout,
        preassigned=candidates.preassigned,
        counts=job_counts(names),
        pilots=pilots_last_seen(names),
        inputs=input_locations(files) if needs_data else InputLocations(),
        task_jobs=task_jobs(task.jeditaskid, since=now - RECENT_JOBS_WINDOW),
        now=now,
        extra=extra,
    )


def rank(
    kept: Iterable[str],
    weights: dict[str, float],
    *,
    used: set[str],
    top: int,
    rng: random.Random | None = None,
) -> tuple[list[tuple[str, float]], dict[str, str]]:
    """Queues the task already uses plus the ``top`` best others (ties shuffled), best first; and
    the reason for each queue left out."""
    rng = rng or random.Random()
    kept = list(kept)
    always = [name for name in kept if name in used]
    others = [name for name in kept if name not in used]
    rng.shuffle(others)
    others.sort(key=lambda name: weights[name], reverse=True)  # stable: equal weights stay shuffled
    best, rest = others[:top], others[top:]
    chosen = sorted(always + best, key=lambda name: weights[name], reverse=True)
    dropped = {}
    if rest:
        lowest = weights[best[-1]]
        for name in rest:
            dropped[name] = f"rank: weight {weights[name]:.4g} not among the {top} best (lowest kept {lowest:.4g})"
    return [(name, weights[name]) for name in chosen], dropped


def summarize(label: str, candidates: Candidates, chosen: list[tuple[str, float]], rejected: dict[str, str]) -> str:
    total = len(candidates.queues)
    if not total:
        why = f"{candidates.description}: {candidates.error}" if candidates.error else candidates.description
        return f"{label}: no candidate queue ({why})"
    head = f"{label}: {candidates.description}, {len(chosen)} of {total} kept"
    if chosen:
        head += " (" + ", ".join(f"{name} {weight:.3g}" for name, weight in chosen) + ")"
    if rejected:
        head += f"; rejected {len(rejected)}: {rejections_by_filter(rejected)}"
    return head


def record_result(
    task: Task, candidates: Candidates, chosen: list[tuple[str, float]], rejected: dict[str, str], *, label: str
) -> BrokerageResult:
    decision = decision_record(
        task_id=task.jeditaskid,
        kind=DecisionKind.JOB,
        chosen=[{"queue": name, "weight": weight} for name, weight in chosen],
        rejected=rejected,
        summary=summarize(label, candidates, chosen, rejected),
    )
    return BrokerageResult(candidates=chosen, rejected=rejected, decision_id=decision.id)
