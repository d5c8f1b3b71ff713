"""The Watcher and the job timeout rules of spec/states.md §6.2.

Every rule that applies without JEDI or the event service is here (:data:`RULES`, in the order a
run applies them): Watcher failures of dispatched/holding/transferring jobs, and the kills of jobs
that waited too long. Jobs at queues whose ``status`` is ``paused`` or whose ``catchall`` holds
``disableReassign`` are skipped by every rule.

A Watcher failure sets the job ``failed`` with its error code and diag, its outputs and log
``failed``, and ``endTime = modificationTime`` when unset. The retry module and the Closer that
upstream runs next belong to JEDI; a kill goes through :func:`apps.jobs.services.kill.job_kill`.

Timeout values, in seconds, are looked up in this order:

1. the queue's document, key ``panda_timeouts``, e.g.
   ``"panda_timeouts": {"sent": 3600, "heartbeat": 10800}`` (the queue document is what the
   configurator stores, protocol.md §11.1; values are positive integers, others are ignored);
2. ``settings.PANDA_TIMEOUTS``, filled from the environment as ``PANDA_TIMEOUT_<NAME>=<seconds>``
   with ``<NAME>`` the upper-cased key, e.g. ``PANDA_TIMEOUT_HEARTBEAT_PUSH=7200``;
3. :data:`DEFAULTS`, the values of the spec.

Keys (default): ``sent`` (30 min), ``heartbeat`` (2 h; production ``starting``/``running``),
``heartbeat_<workflow>`` (the queue's ``workflow``, e.g. ``heartbeat_push``; falls back to
``heartbeat``), ``heartbeat_analysis`` (2 h; ``user``/``panda`` jobs), ``holding_analysis`` (3 h),
``holding_high_priority`` (3 h; ``currentPriority > 800``), ``holding`` (48 h),
``transferring_high_priority`` (2 days; priority >= 800, not analysis), ``transferring`` (6 days),
``defined`` (4 h), ``defined_group_managed`` (12 h), ``defined_group`` (7 days),
``activated_managed`` (2 days), ``activated`` (7 days), ``starting_managed`` (48 h),
``pending`` (1 h), ``waiting`` (1 h), ``throttled`` (7 days), ``running_max`` (21 days),
``analysis_untouched`` (7 days).

Each rule walks its candidates in PandaID order, ``batch_size`` rows at a time; the SQL cutoff uses
the smallest value the rule can have, and each job is then checked against its own queue's value.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from apps.accounts.permissions import ANALYSIS_LABELS, PRODUCTION_LABELS
from apps.core.timeutil import format_wire_time, utcnow
from apps.jobs.models import FileType, Job, JobFile, JobOutputReport, OutputReportStatus
from apps.jobs.services.kill import TOBEKILLED, job_kill
from apps.jobs.services.transitions import StaleStatus, job_change_status
from apps.jobs.states import ACTIVE_GROUP, DEFINED_GROUP, DISPATCHED, JobStatus
from apps.sites.models import PandaQueue, QueueStatus

log = logging.getLogger(__name__)

HOUR = 3600
DAY = 24 * HOUR
DEFAULTS: dict[str, int] = {
    "sent": 30 * 60,
    "heartbeat": 2 * HOUR,
    "heartbeat_analysis": 2 * HOUR,
    "holding_analysis": 3 * HOUR,
    "holding_high_priority": 3 * HOUR,
    "holding": 48 * HOUR,
    "transferring_high_priority": 2 * DAY,
    "transferring": 6 * DAY,
    "defined": 4 * HOUR,
    "defined_group_managed": 12 * HOUR,
    "defined_group": 7 * DAY,
    "activated_managed": 2 * DAY,
    "activated": 7 * DAY,
    "starting_managed": 48 * HOUR,
    "pending": 1 * HOUR,
    "waiting": 1 * HOUR,
    "throttled": 7 * DAY,
    "running_max": 21 * DAY,
    "analysis_untouched": 7 * DAY,
}
DEFAULT_BATCH_SIZE = 200

# jobDispatcherErrorCode / taskBufferErrorCode / supErrorCode values (states.md §9.2).
JD_LOST_HEARTBEAT = 100
JD_SENT_NO_REPLY = 102
JD_HOLDING_TIMEOUT = 103
TB_TRANSFER_TIMEOUT = 101
SUP_WORKER_ALREADY_DONE = 2
WORKER_DONE_STATES = ("finished", "failed", "cancelled", "missed")
CO_JUMBO = 5
WATCHER = "watcher"


@dataclass(frozen=True)
class QueueInfo:
    name: str
    workflow: str
    skipped: bool
    timeouts: dict[str, int]


def _queue_timeouts(queue: PandaQueue) -> dict[str, int]:
    raw = (queue.document or {}).get("panda_timeouts") or {}
    if not isinstance(raw, dict):
        log.warning("queue %s: panda_timeouts is not an object, ignored", queue.name)
        return {}
    values = {}
    for key, value in raw.items():
        if isinstance(value, int) and not isinstance(value, bool) and value > 0 and _known_key(str(key)):
            values[str(key)] = value
        else:
            log.warning("queue %s: panda_timeouts[%r]=%r ignored", queue.name, key, value)
    return values


def _known_key(key: str) -> bool:
    return key in DEFAULTS or key.startswith("heartbeat_")


def queues_load() -> dict[str, QueueInfo]:
    # Documents are large: read only those that carry per-queue timeouts.
    with_timeouts = {
        queue.name: _queue_timeouts(queue)
        for queue in PandaQueue.objects.filter(document__has_key="panda_timeouts").only("name", "document")
    }
    return {
        queue.name: QueueInfo(
            name=queue.name,
            workflow=queue.workflow or "",
            skipped=queue.status == QueueStatus.PAUSED or "disableReassign" in queue.catchall_flags,
            timeouts=with_timeouts.get(queue.name, {}),
        )
        for queue in PandaQueue.objects.only("name", "status", "catchall", "workflow")
    }


class TimeoutTable:
    """Timeout values: queue document, then settings, then the spec's defaults."""

    def __init__(self, *, overrides: dict[str, int], queues: dict[str, QueueInfo]):
        self.overrides = {key: value for key, value in overrides.items() if _known_key(key)}
        self.queues = queues

    def value(self, key: str, queue: QueueInfo | None) -> int:
        # A per-workflow heartbeat falls back to the generic one at each level, queue first.
        candidates = (key, "heartbeat") if key.startswith("heartbeat_") and key not in DEFAULTS else (key,)
        for source in (queue.timeouts if queue else {}, self.overrides, DEFAULTS):
            for candidate in candidates:
                if candidate in source:
                    return source[candidate]
        raise KeyError(key)

    def smallest(self, keys_for: Callable[[QueueInfo | None], list[str]]) -> int:
        return min(self.value(key, queue) for queue in [None, *self.queues.values()] for key in keys_for(queue))


def _is_analysis(job: Job) -> bool:
    return job.prodsourcelabel in ANALYSIS_LABELS


def _heartbeat_key(job: Job, queue: QueueInfo | None) -> str:
    if _is_analysis(job):
        return "heartbeat_analysis"
    return f"heartbeat_{queue.workflow}" if queue and queue.workflow else "heartbeat"


def _heartbeat_keys(queue: QueueInfo | None) -> list[str]:
    keys = ["heartbeat_analysis", "heartbeat"]
    return keys + [f"heartbeat_{queue.workflow}"] if queue and queue.workflow else keys


def _holding_key(job: Job, queue: QueueInfo | None) -> str:
    if _is_analysis(job) and not job.has_pending_report:
        return "holding_analysis"
    if job.currentpriority > 800:
        return "holding_high_priority"
    return "holding"


def _transferring_key(job: Job, queue: QueueInfo | None) -> str:
    if job.currentpriority >= 800 and not _is_analysis(job):
        return "transferring_high_priority"
    return "transferring"


# --- actions -------------------------------------------------------------------------------------


def _fail(job: Job, changes: dict, reason: str) -> bool:
    now = utcnow()
    values = {**changes, "endtime": job.endtime or job.modificationtime, "modificationtime": now}
    try:
        with transaction.atomic():
            job_change_status(job, new=JobStatus.FAILED, changes=values, reason=reason, unchanged_since=True)
            JobFile.objects.filter(job_id=job.pandaid, type__in=[FileType.OUTPUT, FileType.LOG]).update(
                status="failed", modificationtime=now
            )
    except StaleStatus:
        return False
    return True


def _fail_sent(job: Job, timeout: int) -> bool:
    diag = f"Sent job didn't receive reply from pilot within {timeout // 60} min"
    return _fail(job, {"jobdispatchererrorcode": JD_SENT_NO_REPLY, "jobdispatchererrordiag": diag}, "sent timeout")


def _worker_done_status(job: Job) -> str | None:
    from apps.workers.models import JobWorker, Worker

    workers = JobWorker.objects.filter(
        pandaid=job.pandaid, harvesterid=OuterRef("harvesterid"), workerid=OuterRef("workerid")
    )
    return (
        Worker.objects.filter(Exists(workers), status__in=WORKER_DONE_STATES)
        .order_by("-lastupdate")
        .values_list("status", flat=True)
        .first()
    )


def _fail_heartbeat(job: Job, timeout: int) -> bool:
    changes = {
        "jobdispatchererrorcode": JD_LOST_HEARTBEAT,
        "jobdispatchererrordiag": f"lost heartbeat : {format_wire_time(job.modificationtime)}",
    }
    worker_status = _worker_done_status(job)
    if worker_status:
        changes.update(superrorcode=SUP_WORKER_ALREADY_DONE, superrordiag=f"worker already {worker_status}")
    return _fail(job, changes, "lost heartbeat")


def _fail_holding(job: Job, timeout: int) -> bool:
    changes = {"jobdispatchererrorcode": JD_HOLDING_TIMEOUT, "jobdispatchererrordiag": "timeout in holding"}
    return _fail(job, changes, "holding timeout")


def _fail_transfer(job: Job, timeout: int) -> bool:
    changes = {"taskbuffererrorcode": TB_TRANSFER_TIMEOUT, "taskbuffererrordiag": "transfer timeout"}
    return _fail(job, changes, "transfer timeout")


def _killer(code: int) -> Callable[[Job, int], bool]:
    def kill(job: Job, timeout: int) -> bool:
        return job_kill(job, code=code, killer=WATCHER)

    return kill


# --- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeoutRule:
    name: str
    query: Q
    reference: str
    key: Callable[[Job, QueueInfo | None], str]
    keys: Callable[[QueueInfo | None], list[str]]
    act: Callable[[Job, int], bool]
    pending_report: bool = False


def _fixed(key: str) -> tuple[Callable, Callable]:
    return (lambda job, queue: key), (lambda queue: [key])


_ANALYSIS = Q(prodsourcelabel__in=ANALYSIS_LABELS)
_NOT_KILLED = Q(commandtopilot__isnull=True) | ~Q(commandtopilot=TOBEKILLED)
MANAGED = Q(prodsourcelabel="managed")

RULES: tuple[TimeoutRule, ...] = (
    TimeoutRule("sent", Q(jobstatus=JobStatus.SENT), "modificationtime", *_fixed("sent"), _fail_sent),
    TimeoutRule(
        "heartbeat",
        Q(jobstatus__in=[JobStatus.STARTING, JobStatus.RUNNING]),
        "modificationtime",
        _heartbeat_key,
        _heartbeat_keys,
        _fail_heartbeat,
    ),
    TimeoutRule(
        "transferring_heartbeat",
        Q(jobstatus=JobStatus.TRANSFERRING) & (_ANALYSIS | (Q(jobsubstatus__isnull=False) & ~Q(jobsubstatus=""))),
        "modificationtime",
        _heartbeat_key,
        _heartbeat_keys,
        _fail_heartbeat,
    ),
    TimeoutRule(
        "holding",
        Q(jobstatus=JobStatus.HOLDING),
        "modificationtime",
        _holding_key,
        lambda queue: ["holding_analysis", "holding_high_priority", "holding"],
        _fail_holding,
        pending_report=True,
    ),
    TimeoutRule(
        "transferring",
        Q(jobstatus=JobStatus.TRANSFERRING),
        "modificationtime",
        _transferring_key,
        lambda queue: ["transferring_high_priority", "transferring"],
        _fail_transfer,
    ),
    TimeoutRule(
        "running_max", Q(jobstatus__in=DISPATCHED) & _NOT_KILLED, "creationtime", *_fixed("running_max"), _killer(2)
    ),
    TimeoutRule(
        "analysis_untouched",
        Q(jobstatus__in=ACTIVE_GROUP) & _ANALYSIS & _NOT_KILLED,
        "modificationtime",
        *_fixed("analysis_untouched"),
        _killer(2),
    ),
    TimeoutRule(
        "starting_managed",
        Q(jobstatus=JobStatus.STARTING) & MANAGED & _NOT_KILLED,
        "statechangetime",
        *_fixed("starting_managed"),
        _killer(51),
    ),
    TimeoutRule("pending", Q(jobstatus=JobStatus.PENDING), "modificationtime", *_fixed("pending"), _killer(4)),
    TimeoutRule(
        "waiting",
        Q(jobstatus=JobStatus.WAITING) & (Q(eventservice__isnull=True) | ~Q(eventservice=CO_JUMBO)),
        "modificationtime",
        *_fixed("waiting"),
        _killer(4),
    ),
    TimeoutRule(
        "defined",
        Q(jobstatus=JobStatus.DEFINED, prodsourcelabel__in=PRODUCTION_LABELS),
        "modificationtime",
        *_fixed("defined"),
        _killer(51),
    ),
    TimeoutRule(
        "defined_group_managed",
        Q(jobstatus__in=DEFINED_GROUP) & MANAGED,
        "modificationtime",
        *_fixed("defined_group_managed"),
        _killer(51),
    ),
    TimeoutRule(
        "defined_group", Q(jobstatus__in=DEFINED_GROUP), "modificationtime", *_fixed("defined_group"), _killer(2)
    ),
    TimeoutRule(
        "activated_managed",
        Q(jobstatus=JobStatus.ACTIVATED) & MANAGED,
        "modificationtime",
        *_fixed("activated_managed"),
        _killer(51),
    ),
    TimeoutRule("activated", Q(jobstatus=JobStatus.ACTIVATED), "modificationtime", *_fixed("activated"), _killer(2)),
    TimeoutRule("throttled", Q(jobstatus=JobStatus.THROTTLED), "creationtime", *_fixed("throttled"), _killer(2)),
)


def _apply_rule(rule: TimeoutRule, *, table: TimeoutTable, skipped: list[str], batch_size: int, now) -> int:
    cutoff = now - timedelta(seconds=table.smallest(rule.keys))
    candidates = Job.objects.filter(rule.query, **{f"{rule.reference}__lt": cutoff}).exclude(computingsite__in=skipped)
    if rule.pending_report:
        pending = JobOutputReport.objects.filter(job_id=OuterRef("pandaid"), status=OutputReportStatus.PENDING)
        candidates = candidates.annotate(has_pending_report=Exists(pending))
    done = 0
    last = 0
    while True:
        batch = list(candidates.filter(pandaid__gt=last).order_by("pandaid")[:batch_size])
        if not batch:
            return done
        last = batch[-1].pandaid
        for job in batch:
            queue = table.queues.get(job.computingsite)
            timeout = table.value(rule.key(job, queue), queue)
            reference = getattr(job, rule.reference)
            if reference is None or reference >= now - timedelta(seconds=timeout):
                continue
            if rule.act(job, timeout):
                done += 1


def watcher_run(*, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, int]:
    """Apply every rule once; answers how many jobs each rule failed or killed."""
    queues = queues_load()
    table = TimeoutTable(overrides=getattr(settings, "PANDA_TIMEOUTS", {}), queues=queues)
    skipped = sorted(name for name, info in queues.items() if info.skipped)
    now = utcnow()
    return {
        rule.name: _apply_rule(rule, table=table, skipped=skipped, batch_size=batch_size, now=now) for rule in RULES
    }


def watcher_summary(counts: dict[str, int]) -> str:
    acted = {name: count for name, count in counts.items() if count}
    details = " ".join(f"{name}={count}" for name, count in acted.items()) or "nothing to do"
    return f"watcher: {sum(acted.values())} jobs; {details}"
