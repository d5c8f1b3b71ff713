"""Job statistics for Harvester's worker adjuster: v1 ``statistics/active_job_stats_by_site``."""

import logging

from django.db import DatabaseError

from apps.accounts.permissions import may_read_job_statistics
from apps.dispatcher.encoding import error_text, v1_fail, v1_ok
from apps.dispatcher.registry import v1_method
from apps.jobs.selectors.statistics import active_job_stats_by_site as active_job_stats

log = logging.getLogger(__name__)

AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"
STATS_FAILED = "Database failure getting the job statistics"


@v1_method("statistics", "active_job_stats_by_site", "GET")
def active_job_stats_by_site(call):
    """``{computingSite: {jobStatus: n}}`` of jobs not yet final; an empty grid is an empty object."""
    if not may_read_job_statistics(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        return v1_ok(active_job_stats())
    except DatabaseError:
        log.exception("statistics/active_job_stats_by_site failed")
        return v1_fail(STATS_FAILED)
