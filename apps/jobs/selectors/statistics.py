"""Job counts per queue for Harvester's worker adjuster: ``statistics/active_job_stats_by_site``."""

from django.db.models import Count

from apps.jobs.models import Job
from apps.jobs.states import ACTIVE_GROUP, DEFINED_GROUP, JobStatus

# Upstream leaves merging out ("breaks APF") and always lists these, with 0 when there are none.
EXCLUDED_STATES = frozenset({JobStatus.MERGING})
ALWAYS_LISTED = (JobStatus.ASSIGNED, JobStatus.ACTIVATED, JobStatus.RUNNING)


def active_job_stats_by_site() -> dict[str, dict[str, int]]:
    """``{computingSite: {jobStatus: n}}`` over the defined and active groups."""
    states = (DEFINED_GROUP | ACTIVE_GROUP) - EXCLUDED_STATES
    rows = (
        Job.objects.filter(jobstatus__in=states, computingsite__isnull=False)
        .values("computingsite", "jobstatus")
        .annotate(n=Count("pandaid"))
        .order_by()
    )
    stats: dict[str, dict[str, int]] = {}
    for row in rows:
        stats.setdefault(row["computingsite"], {})[row["jobstatus"]] = row["n"]
    for per_state in stats.values():
        for state in ALWAYS_LISTED:
            per_state.setdefault(str(state), 0)
    return stats
