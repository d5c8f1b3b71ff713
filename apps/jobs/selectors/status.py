"""Job status look-ups for pilots and Harvester: getStatus and checkJobStatus (protocol.md §8.1-§8.2)."""

import datetime as dt
from collections.abc import Sequence

from django.db.models import Q

from apps.core.timeutil import utcnow
from apps.jobs.models import Job
from apps.jobs.states import ACTIVE_GROUP, ARCHIVED_GROUP

# checkJobStatus still reports archived jobs for this long, so a late heartbeat learns the outcome.
RECENTLY_ARCHIVED = dt.timedelta(hours=1)
UNKNOWN_JOB = {"status": "unknown", "command": "tobekilled"}


def job_statuses(*, pandaids: Sequence[int]) -> list[tuple[str, int] | None]:
    """(jobStatus, attemptNr) per requested PandaID, in order; None when the job is not in the
    active or archived group (getStatus never looks at the defined group)."""
    rows = Job.objects.filter(pandaid__in=set(pandaids), jobstatus__in=ACTIVE_GROUP | ARCHIVED_GROUP).values_list(
        "pandaid", "jobstatus", "attemptnr"
    )
    found = {pandaid: (status, attemptnr) for pandaid, status, attemptnr in rows}
    return [found.get(pandaid) for pandaid in pandaids]


def job_statuses_with_command(*, pandaids: Sequence[int]) -> list[dict]:
    """``{"status", "command"}`` per requested PandaID: active jobs, and archived jobs modified in the
    last hour; anything else is ``{"status": "unknown", "command": "tobekilled"}``."""
    recent = utcnow() - RECENTLY_ARCHIVED
    rows = Job.objects.filter(
        Q(jobstatus__in=ACTIVE_GROUP) | Q(jobstatus__in=ARCHIVED_GROUP, modificationtime__gte=recent),
        pandaid__in=set(pandaids),
    ).values_list("pandaid", "jobstatus", "commandtopilot")
    found = {pandaid: {"status": status, "command": command} for pandaid, status, command in rows}
    return [dict(found.get(pandaid, UNKNOWN_JOB)) for pandaid in pandaids]
