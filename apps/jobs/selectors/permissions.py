"""The facts about a job that the permission rules need (apps.accounts.permissions)."""

from apps.jobs.models import Job


def job_permission_facts(*, pandaid: int) -> dict | None:
    """``owner``, ``prod_source_label`` and ``working_group`` of a job; None when there is no such job."""
    row = Job.objects.filter(pandaid=pandaid).values("produsername", "prodsourcelabel", "workinggroup").first()
    if row is None:
        return None
    return {
        "owner": row["produsername"],
        "prod_source_label": row["prodsourcelabel"],
        "working_group": row["workinggroup"],
    }
