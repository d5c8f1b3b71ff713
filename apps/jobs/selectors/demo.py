"""What the quick start's demo-jobs loop reports each round: where the jobs of the demo queues are."""

from collections.abc import Sequence

from django.db.models import Count

from apps.jobs.models import Job
from apps.jobs.states import JobStatus


def demo_job_counts(*, queues: Sequence[str]) -> dict[str, int]:
    """``{jobstatus: number of jobs}`` over the queues, in the order of a job's life (JobStatus order)."""
    rows = Job.objects.filter(computingsite__in=list(queues)).values_list("jobstatus").annotate(n=Count("pandaid"))
    counts = dict(rows)
    return {str(status): counts[status] for status in JobStatus if counts.get(status)}
