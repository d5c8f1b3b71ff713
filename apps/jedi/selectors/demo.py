"""What the quick start's demo-tasks loop reports each round: where the demo tasks are."""

from collections.abc import Sequence

from django.db.models import Count, Q

from apps.jedi.models import Task
from apps.jedi.states import TaskStatus


def demo_task_counts(*, prefixes: Sequence[str]) -> dict[str, int]:
    """``{status: number of tasks}`` over the tasks whose name starts with one of ``prefixes``, in
    TaskStatus order."""
    if not prefixes:
        return {}
    named = Q()
    for prefix in prefixes:
        named |= Q(taskname__startswith=prefix)
    counts = dict(Task.objects.filter(named).values_list("status").annotate(n=Count("jeditaskid")))
    return {str(status): counts[status] for status in TaskStatus if counts.get(status)}
