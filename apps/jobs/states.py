"""Job states and the transition table of spec/states.md §1–2.

Groups: ``DEFINED`` (pending, waiting, defined, assigned), ``ACTIVE`` (activated .. merging),
``ARCHIVED`` (finished, failed, cancelled, closed). States never go backwards; a retry is a new
job. ``transferring -> holding`` takes the final report after a pilot-reported stage-out;
``holding -> cancelled`` exists for killed jobs whose pilot reported ``failed``; ``assigned -> failed``
for jobs whose inputs could not be shipped to their queue (Setupper failure, ddmErrorCode 100).
"""

from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending"
    WAITING = "waiting"
    DEFINED = "defined"
    ASSIGNED = "assigned"
    ACTIVATED = "activated"
    THROTTLED = "throttled"
    SENT = "sent"
    STARTING = "starting"
    RUNNING = "running"
    HOLDING = "holding"
    TRANSFERRING = "transferring"
    MERGING = "merging"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CLOSED = "closed"


S = JobStatus
DEFINED_GROUP = frozenset({S.PENDING, S.WAITING, S.DEFINED, S.ASSIGNED})
ACTIVE_GROUP = frozenset(
    {S.ACTIVATED, S.THROTTLED, S.SENT, S.STARTING, S.RUNNING, S.HOLDING, S.TRANSFERRING, S.MERGING}
)
ARCHIVED_GROUP = FINAL = frozenset({S.FINISHED, S.FAILED, S.CANCELLED, S.CLOSED})
# Dispatched to a pilot and not yet reported final.
DISPATCHED = frozenset({S.SENT, S.STARTING, S.RUNNING})
# What a job can be created in.
INITIAL = frozenset({S.PENDING, S.DEFINED, S.WAITING})

_KILLED = frozenset({S.CANCELLED, S.CLOSED})

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.DEFINED}) | _KILLED,
    S.WAITING: frozenset({S.ACTIVATED}) | _KILLED,
    S.DEFINED: frozenset({S.ASSIGNED, S.ACTIVATED}) | _KILLED,
    # assigned -> failed: the Setupper's dispatch block could not be transferred (ddmErrorCode 100).
    S.ASSIGNED: frozenset({S.ACTIVATED, S.FAILED}) | _KILLED,
    S.ACTIVATED: frozenset({S.THROTTLED, S.SENT}) | _KILLED,
    S.THROTTLED: frozenset({S.ACTIVATED}) | _KILLED,
    S.SENT: frozenset({S.STARTING, S.RUNNING, S.HOLDING, S.FAILED, S.CANCELLED}),
    S.STARTING: frozenset({S.RUNNING, S.HOLDING, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.HOLDING, S.TRANSFERRING, S.FAILED, S.CANCELLED}),
    S.HOLDING: frozenset({S.FINISHED, S.FAILED, S.TRANSFERRING, S.MERGING, S.CANCELLED}),
    # transferring -> holding only for the final report after a pilot/Harvester-set transferring.
    S.TRANSFERRING: frozenset({S.HOLDING, S.FINISHED, S.FAILED}),
    S.MERGING: frozenset({S.FINISHED, S.FAILED}),
    S.FINISHED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.CLOSED: frozenset(),
}


def group_of(status: str) -> str:
    if status in DEFINED_GROUP:
        return "defined"
    if status in ACTIVE_GROUP:
        return "active"
    return "archived"


# Diagnostic field lengths of spec/states.md §9.1.
DIAG_LENGTHS = {
    "piloterrordiag": 500,
    "exeerrordiag": 500,
    "ddmerrordiag": 500,
    "jobdispatchererrordiag": 250,
    "taskbuffererrordiag": 300,
    "superrordiag": 250,
    "brokerageerrordiag": 250,
    "jobsubstatus": 80,
}
