"""Recording brokerage decisions: one row per decision, the newest ``KEEP_PER_TASK`` kept per task.

The monitor and ``task/get_brokerage_decisions`` read them (apps/brokerage/selectors/decisions.py);
older rows are pruned on every write so a long-running task does not pile up thousands.
"""

from collections import Counter
from collections.abc import Mapping

from apps.brokerage.models import BrokerageDecision, DecisionKind
from apps.brokerage.selectors.decisions import reason_filter

KEEP_PER_TASK = 20
SUMMARY_LENGTH = BrokerageDecision._meta.get_field("summary").max_length


def rejections_by_filter(rejected: Mapping[str, str]) -> str:
    """``memory 3, status 2`` (most frequent first)."""
    counts = Counter(reason_filter(reason) for reason in rejected.values())
    return ", ".join(f"{name} {n}" for name, n in counts.most_common())


def decision_record(
    *,
    task_id: int,
    kind: str = DecisionKind.JOB,
    chosen: list[dict],
    rejected: Mapping[str, str],
    summary: str,
) -> BrokerageDecision:
    """Store the decision and prune the task's older ones beyond ``KEEP_PER_TASK``."""
    decision = BrokerageDecision.objects.create(
        jeditaskid=task_id, kind=kind, chosen=chosen, rejected=dict(rejected), summary=summary[:SUMMARY_LENGTH]
    )
    oldest_kept = (
        BrokerageDecision.objects.filter(jeditaskid=task_id)
        .order_by("-id")
        .values_list("id", flat=True)[KEEP_PER_TASK - 1 : KEEP_PER_TASK]
    )
    threshold = list(oldest_kept)
    if threshold:
        BrokerageDecision.objects.filter(jeditaskid=task_id, id__lt=threshold[0]).delete()
    return decision
