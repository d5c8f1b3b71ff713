"""Setupper and Activator (spec/states.md §2, §6.1): move jobs towards ``activated``.

* Setupper, for newly ``defined`` jobs: each input file the catalogue has on one of the queue's read
  endpoints becomes ``ready`` (:mod:`apps.jobs.services.data_placement` says where files are). When
  every input is ``ready``/``cached`` the job is ``activated``. Otherwise it is ``assigned``: the
  files the catalogue can ship go, as ``pending``, into the job's dispatch block
  (``panda.<pandaid>.dis``, also recorded in the job's and the files' ``dispatchdblock``) with a
  ``replicate`` (or ``stage``) rule to the queue's read endpoint; files the catalogue does not know
  keep their status and wait as before. It runs with every Activator cycle and can be called for
  given PandaIDs right after insertion.
* Activator, for ``assigned`` jobs. A job with a dispatch-block rule: when the rule is ``ok`` its
  pending files become ``ready`` and, all inputs available, the job is ``activated`` at once; when the
  rule has been ``stuck`` for ``settings.PANDA_DISPATCH_STUCK_TIMEOUT`` seconds the job ``failed``
  with ``ddmErrorCode=100`` (Setupper failure) and the rule's error in the diag. A job without a
  rule is activated as before: assigned for at least ``min_age`` seconds
  (``settings.PANDA_ACTIVATOR_MIN_AGE``, default 1 h as in the spec) with every input
  ``ready``/``cached``.

A job without input files has nothing to wait for. Work is done in batches of jobs with one query
for all their files and one bulk catalogue call; each job's move (files, dispatch block, status) is
one transaction through ``job_change_status``, and a job that another actor moved meanwhile is left
alone (everything done for it is rolled back).
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from apps.core.timeutil import utcnow
from apps.ddm.interface import DDMError, RuleInfo
from apps.jobs.models import FileType, Job, JobFile
from apps.jobs.services.data_placement import (
    DISPATCH,
    READY,
    Placement,
    dispatch_block_create,
    dispatch_rules,
    inputs_locate,
)
from apps.jobs.services.transitions import StaleStatus, job_change_status
from apps.jobs.states import JobStatus

log = logging.getLogger(__name__)

AVAILABLE = ("ready", "cached")
DEFAULT_BATCH_SIZE = 200
SETUPPER_ERROR = 100
STUCK_DIAG = "Setupper: transfer of dispatch block {block} to {endpoint} stuck since {since:%Y-%m-%d %H:%M:%S}: {error}"
FILE_FIELDS = ["status", "dispatchdblock", "modificationtime"]


@dataclass
class ActivatorSummary:
    setup_activated: int = 0
    setup_assigned: int = 0
    activated: int = 0
    failed: int = 0

    def __str__(self) -> str:
        text = (
            f"activator: defined->activated={self.setup_activated} defined->assigned={self.setup_assigned} "
            f"assigned->activated={self.activated}"
        )
        return text + (f" assigned->failed={self.failed}" if self.failed else "")


def _inputs_of(pandaids: list[int]) -> dict[int, list[JobFile]]:
    files: dict[int, list[JobFile]] = defaultdict(list)
    rows = JobFile.objects.filter(job_id__in=pandaids, type=FileType.INPUT).only(
        "row_id", "job_id", "scope", "lfn", "status", "dispatchdblock"
    )
    for f in rows.order_by("row_id"):
        files[f.job_id].append(f)
    return files


def _move(job: Job, new: str, reason: str, *, files: Sequence[JobFile] = (), changes: dict | None = None) -> bool:
    """Save ``files`` and move the job in one transaction; False (and nothing saved) if it moved meanwhile."""
    now = utcnow()
    try:
        with transaction.atomic():
            for f in files:
                f.modificationtime = now
            if files:
                JobFile.objects.bulk_update(files, FILE_FIELDS)
            job_change_status(job, new=new, changes={"modificationtime": now, **(changes or {})}, reason=reason)
    except StaleStatus:
        return False
    return True


def _setup_one(job: Job, files: list[JobFile], placement: Placement) -> str | None:
    """Move one defined job; answers its new status (None if it was left alone)."""
    changed = []
    missing = []
    for f in files:
        outcome = placement.outcome[f.row_id]
        if outcome == READY and f.status != "ready":
            f.status = "ready"
            changed.append(f)
        elif outcome == DISPATCH:
            missing.append(f)
    if not missing and all(f.status in AVAILABLE for f in files):
        ok = _move(job, JobStatus.ACTIVATED, "setupper: inputs available", files=changed)
        return JobStatus.ACTIVATED if ok else None
    if not missing:
        ok = _move(job, JobStatus.ASSIGNED, "setupper: inputs to transfer", files=changed)
        return JobStatus.ASSIGNED if ok else None
    endpoint = placement.read_endpoints[job.computingsite][0]
    try:
        with transaction.atomic():
            block, _ = dispatch_block_create(
                pandaid=job.pandaid, files=missing, endpoint=endpoint, replicas=placement.replicas
            )
            for f in missing:
                f.status, f.dispatchdblock = "pending", block
            if not _move(
                job,
                JobStatus.ASSIGNED,
                f"setupper: {len(missing)} input(s) to transfer to {endpoint}",
                files=changed + missing,
                changes={"dispatchdblock": block},
            ):
                raise StaleStatus("job", job.pandaid, [JobStatus.DEFINED])
    except StaleStatus:
        return None
    except DDMError as exc:
        # Left defined: the next cycle tries again (the Watcher's defined timeout bounds the wait).
        log.warning("setupper: job %s: no dispatch block: %s", job.pandaid, exc)
        return None
    return JobStatus.ASSIGNED


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
        inputs = _inputs_of([job.pandaid for job in batch])
        placement = inputs_locate(
            [f for files in inputs.values() for f in files], {job.pandaid: job.computingsite for job in batch}
        )
        for job in batch:
            outcome = _setup_one(job, inputs.get(job.pandaid, []), placement)
            activated += outcome == JobStatus.ACTIVATED
            assigned += outcome == JobStatus.ASSIGNED


def _assigned_since(job: Job):
    return job.statechangetime or job.modificationtime


def _activate_one(job: Job, files: list[JobFile], rule: RuleInfo | None, *, cutoff, stuck_cutoff) -> str | None:
    if rule is None:
        if _assigned_since(job) <= cutoff and all(f.status in AVAILABLE for f in files):
            return JobStatus.ACTIVATED if _move(job, JobStatus.ACTIVATED, "activator: inputs available") else None
        return None
    if rule.state == "ok":
        arrived = [f for f in files if f.dispatchdblock == job.dispatchdblock and f.status == "pending"]
        for f in arrived:
            f.status = "ready"
        if all(f.status in AVAILABLE for f in files):
            reason = f"activator: dispatch block {job.dispatchdblock} arrived"
            return JobStatus.ACTIVATED if _move(job, JobStatus.ACTIVATED, reason, files=arrived) else None
        if arrived:
            JobFile.objects.bulk_update(arrived, ["status"])
        return None
    if rule.state == "stuck" and rule.stuck_since is not None and rule.stuck_since <= stuck_cutoff:
        diag = STUCK_DIAG.format(
            block=job.dispatchdblock, endpoint=rule.endpoint, since=rule.stuck_since, error=rule.error or "stuck"
        )
        changes = {"ddmerrorcode": SETUPPER_ERROR, "ddmerrordiag": diag, "endtime": job.endtime or utcnow()}
        ok = _move(job, JobStatus.FAILED, "activator: dispatch block stuck", changes=changes)
        return JobStatus.FAILED if ok else None
    return None


def _activate(*, min_age: int | None, batch_size: int, stuck_timeout: int | None) -> tuple[int, int]:
    age = settings.PANDA_ACTIVATOR_MIN_AGE if min_age is None else min_age
    stuck = settings.PANDA_DISPATCH_STUCK_TIMEOUT if stuck_timeout is None else stuck_timeout
    now = utcnow()
    cutoff = now - timedelta(seconds=age)
    stuck_cutoff = now - timedelta(seconds=stuck)
    candidates = Job.objects.filter(jobstatus=JobStatus.ASSIGNED)
    activated = failed = 0
    last = 0
    while True:
        batch = list(candidates.filter(pandaid__gt=last).order_by("pandaid")[:batch_size])
        if not batch:
            return activated, failed
        last = batch[-1].pandaid
        inputs = _inputs_of([job.pandaid for job in batch])
        rules = dispatch_rules(job.dispatchdblock for job in batch if job.dispatchdblock)
        for job in batch:
            rule = rules.get(job.dispatchdblock) if job.dispatchdblock else None
            outcome = _activate_one(job, inputs.get(job.pandaid, []), rule, cutoff=cutoff, stuck_cutoff=stuck_cutoff)
            activated += outcome == JobStatus.ACTIVATED
            failed += outcome == JobStatus.FAILED


def jobs_activate(
    *, min_age: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, stuck_timeout: int | None = None
) -> int:
    """Activator: ``assigned`` jobs whose inputs arrived -> ``activated`` (or ``failed`` when their
    dispatch block is stuck); answers how many were activated."""
    return _activate(min_age=min_age, batch_size=batch_size, stuck_timeout=stuck_timeout)[0]


def activator_run(*, min_age: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> ActivatorSummary:
    setup_activated, setup_assigned = jobs_setup(batch_size=batch_size)
    activated, failed = _activate(min_age=min_age, batch_size=batch_size, stuck_timeout=None)
    return ActivatorSummary(
        setup_activated=setup_activated, setup_assigned=setup_assigned, activated=activated, failed=failed
    )
