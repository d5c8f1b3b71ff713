"""Setupper and Activator (spec/states.md §2, §6.1): move jobs towards ``activated``.

* Setupper, for newly ``defined`` jobs: ``activated`` when every input file is ``ready`` or
  ``cached``, otherwise ``assigned`` (its inputs must first be transferred to the queue's storage).
  It runs with every Activator cycle and can be called for given PandaIDs right after insertion.
* Activator: ``assigned`` jobs that have been assigned for at least ``min_age`` seconds
  (``settings.PANDA_ACTIVATOR_MIN_AGE``, default 1 h as in the spec) and whose inputs are all
  ``ready``/``cached`` become ``activated``.

A job without input files has nothing to wait for. Both moves go through ``job_change_status``; a
job that another actor moved meanwhile is left alone.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from apps.core.timeutil import utcnow
from apps.jobs.models import FileType, Job, JobFile
from apps.jobs.services.transitions import StaleStatus, job_change_status
from apps.jobs.states import JobStatus

AVAILABLE = ("ready", "cached")
DEFAULT_BATCH_SIZE = 200


@dataclass
class ActivatorSummary:
    setup_activated: int = 0
    setup_assigned: int = 0
    activated: int = 0

    def __str__(self) -> str:
        return (
            f"activator: defined->activated={self.setup_activated} defined->assigned={self.setup_assigned} "
            f"assigned->activated={self.activated}"
        )


def _waiting_for_inputs(pandaids: list[int]) -> set[int]:
    """The jobs among ``pandaids`` with at least one input file that is not available yet."""
    return set(
        JobFile.objects.filter(job_id__in=pandaids, type=FileType.INPUT)
        .exclude(status__in=AVAILABLE)
        .values_list("job_id", flat=True)
    )


def _move(job: Job, new: str, reason: str) -> bool:
    try:
        job_change_status(job, new=new, changes={"modificationtime": utcnow()}, reason=reason)
    except StaleStatus:
        return False
    return True


def jobs_setup(*, pandaids: list[int] | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[int, int]:
    """Setupper: ``defined`` -> ``activated`` / ``assigned``; answers (activated, assigned)."""
    activated = assigned = 0
    candidates = Job.objects.filter(jobstatus=JobStatus.DEFINED)
    if pandaids is not None:
        candidates = candidates.filter(pandaid__in=pandaids)
    last = 0
    while True:
        batch = list(candidates.filter(pandaid__gt=last).order_by("pandaid")[:batch_size])
        if not batch:
            return activated, assigned
        last = batch[-1].pandaid
        waiting = _waiting_for_inputs([job.pandaid for job in batch])
        for job in batch:
            if job.pandaid in waiting:
                assigned += _move(job, JobStatus.ASSIGNED, "setupper: inputs to transfer")
            else:
                activated += _move(job, JobStatus.ACTIVATED, "setupper: inputs available")


def jobs_activate(*, min_age: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Activator: ``assigned`` for at least ``min_age`` seconds with every input available -> ``activated``."""
    age = settings.PANDA_ACTIVATOR_MIN_AGE if min_age is None else min_age
    cutoff = utcnow() - timedelta(seconds=age)
    candidates = Job.objects.filter(
        Q(statechangetime__lte=cutoff) | Q(statechangetime__isnull=True, modificationtime__lte=cutoff),
        jobstatus=JobStatus.ASSIGNED,
    )
    activated = 0
    last = 0
    while True:
        batch = list(candidates.filter(pandaid__gt=last).order_by("pandaid")[:batch_size])
        if not batch:
            return activated
        last = batch[-1].pandaid
        waiting = _waiting_for_inputs([job.pandaid for job in batch])
        for job in batch:
            if job.pandaid not in waiting:
                activated += _move(job, JobStatus.ACTIVATED, "activator: inputs available")


def activator_run(*, min_age: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> ActivatorSummary:
    setup_activated, setup_assigned = jobs_setup(batch_size=batch_size)
    activated = jobs_activate(min_age=min_age, batch_size=batch_size)
    return ActivatorSummary(setup_activated=setup_activated, setup_assigned=setup_assigned, activated=activated)
