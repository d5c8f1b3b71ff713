"""What the jobs table says about global shares: cores in use per share (jedi.md §10.5 ranking)."""

from django.db.models import Sum
from django.db.models.functions import Coalesce

from apps.jobs.models import Job
from apps.jobs.states import JobStatus

USAGE_STATES = (JobStatus.STARTING.value, JobStatus.RUNNING.value)


def share_usage() -> dict[str | None, int]:
    """Cores of ``starting``/``running`` jobs per ``gshare`` (one aggregate query)."""
    rows = (
        Job.objects.filter(jobstatus__in=USAGE_STATES)
        .values_list("gshare")
        .annotate(cores=Sum(Coalesce("corecount", 1)))
        .order_by()
    )
    return {gshare: cores or 0 for gshare, cores in rows}
