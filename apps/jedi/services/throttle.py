"""The JEDI throttler (jedi.md §8): should the JobGenerator make more jobs for this task now?

Unit: global share × resource type (a task without a resource type is judged on its whole share).
Counts come from the jobs table: *queued* = not yet dispatched (defined group, ``activated``,
``throttled``), *running* = dispatched (``sent``, ``starting``, ``running``). A partition is
throttled when

* ``nQueued > NQUEUECAP`` (``GlobalShare.queue_cap``) or ``nRunning > NRUNNINGCAP``
  (``GlobalShare.running_cap``), or
* ``nQueued > queue limit`` (the share's ``queue_cap``, else ``N_JOBS_IN_BUNCH × 4`` = 2000) and
  the queued walltime exceeds :data:`MIN_QUEUED_WALLTIME` (5×10^7 s) and either nothing runs
  (the ``nRunning == 0`` variant) or ``nQueued / nRunning > THROTTLE_THRESHOLD`` (2.0).

Only shares with ``throttled=True`` (upstream: work queues with a ``queue_share``) are throttled
this way; a share missing from the tree is judged with the generic thresholds. The queued
walltime is the sum of ``maxwalltime`` over queued jobs, extrapolated to all queued jobs from
those that have one; when no queued job has one the walltime condition does not hold anything
back (upstream skips it when the total is unknown).

Analysis tasks (``user``/``panda`` labels or ``taskType=anal``) are also throttled per user: the
user is throttled when their queued jobs exceed ``2 × PANDA_CAP_RUNNING_USER_JOBS`` or their
queued cores exceed ``2 × PANDA_CAP_RUNNING_USER_CORES`` (0 disables a cap).

The counts are two aggregated queries (the second only when a user cap is set), kept per process
for :data:`COUNTS_TTL` seconds, i.e. one JobGenerator cycle. The caller sets the task
``throttled`` and the WatchDog revisits it after 120 min.
"""

import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from apps.accounts.permissions import ANALYSIS_LABELS
from apps.jobs.models import Job
from apps.jobs.states import DEFINED_GROUP, DISPATCHED, JobStatus
from apps.shares.models import GlobalShare
from apps.shares.services.matching import share_for

THROTTLE_THRESHOLD = 2.0
N_JOBS_IN_BUNCH = 500
DEFAULT_QUEUE_LIMIT = N_JOBS_IN_BUNCH * 4
MIN_QUEUED_WALLTIME = 5e7  # seconds
USER_CAP_FACTOR = 2
COUNTS_TTL = 10.0  # seconds: one JobGenerator cycle

QUEUED = frozenset(s.value for s in DEFINED_GROUP | {JobStatus.ACTIVATED, JobStatus.THROTTLED})
RUNNING = frozenset(s.value for s in DISPATCHED)


@dataclass(frozen=True)
class ThrottleDecision:
    throttled: bool
    reason: str = ""


@dataclass
class PartitionCounts:
    n_queued: int = 0
    n_running: int = 0
    n_walltime_known: int = 0  # queued jobs with a maxwalltime
    walltime_known: int = 0  # their summed maxwalltime, seconds

    def add(self, other: "PartitionCounts") -> None:
        self.n_queued += other.n_queued
        self.n_running += other.n_running
        self.n_walltime_known += other.n_walltime_known
        self.walltime_known += other.walltime_known

    @property
    def queued_walltime(self) -> float | None:
        """Total queued walltime, extrapolated from the jobs that have one; None when unknown."""
        if not self.n_walltime_known:
            return None
        return self.walltime_known * self.n_queued / self.n_walltime_known


@dataclass
class UserCounts:
    queued_jobs: int = 0
    queued_cores: int = 0
    running_jobs: int = 0
    running_cores: int = 0


@dataclass
class ThrottleCounts:
    """One snapshot of what the throttler needs, shared by all tasks of a cycle."""

    partitions: dict[tuple[str | None, str | None], PartitionCounts] = field(default_factory=dict)
    users: dict[str, UserCounts] = field(default_factory=dict)
    shares: dict[str, GlobalShare] = field(default_factory=dict)

    def partition(self, gshare: str, resource_type: str | None) -> PartitionCounts:
        total = PartitionCounts()
        for (share, rtype), counts in self.partitions.items():
            if share == gshare and (resource_type is None or rtype == resource_type):
                total.add(counts)
        return total

    def user(self, username: str) -> UserCounts:
        return self.users.get(username) or UserCounts()


def _user_caps() -> tuple[int, int]:
    return settings.PANDA_CAP_RUNNING_USER_JOBS, settings.PANDA_CAP_RUNNING_USER_CORES


def throttle_counts_load() -> ThrottleCounts:
    """Read the counts from the jobs table now (two aggregated queries at most, plus the shares)."""
    counts = ThrottleCounts(shares={share.name: share for share in GlobalShare.objects.all()})
    has_walltime = Q(maxwalltime__gt=0)
    rows = (
        Job.objects.filter(jobstatus__in=QUEUED | RUNNING)
        .values_list("gshare", "resource_type", "jobstatus")
        .annotate(
            n=Count("pandaid"),
            n_wall=Count("pandaid", filter=has_walltime),
            wall=Sum("maxwalltime", filter=has_walltime),
        )
        .order_by()
    )
    for gshare, resource_type, status, n, n_wall, wall in rows:
        part = counts.partitions.setdefault((gshare, resource_type), PartitionCounts())
        if status in RUNNING:
            part.n_running += n
        else:
            part.n_queued += n
            part.n_walltime_known += n_wall
            part.walltime_known += wall or 0
    if any(cap > 0 for cap in _user_caps()):
        user_rows = (
            Job.objects.filter(jobstatus__in=QUEUED | RUNNING, prodsourcelabel__in=ANALYSIS_LABELS)
            .values_list("produsername", "jobstatus")
            .annotate(n=Count("pandaid"), cores=Sum(Coalesce("corecount", 1)))
            .order_by()
        )
        for username, status, n, cores in user_rows:
            user = counts.users.setdefault(username or "", UserCounts())
            if status in RUNNING:
                user.running_jobs += n
                user.running_cores += cores or 0
            else:
                user.queued_jobs += n
                user.queued_cores += cores or 0
    return counts


_cache: dict[str, tuple[float, ThrottleCounts]] = {}
_cache_lock = threading.Lock()


def throttle_counts() -> ThrottleCounts:
    """The per-process snapshot, reloaded when older than :data:`COUNTS_TTL`."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get("counts")
        if cached and cached[0] > now:
            return cached[1]
    counts = throttle_counts_load()
    with _cache_lock:
        _cache["counts"] = (now + COUNTS_TTL, counts)
    return counts


def forget_throttle_counts() -> None:
    """For tests and for a caller that wants fresh counts at the start of its cycle."""
    with _cache_lock:
        _cache.clear()


def _is_analysis(task) -> bool:
    return task.prodsourcelabel in ANALYSIS_LABELS or task.tasktype == "anal"


def user_decision(username: str, counts: ThrottleCounts) -> ThrottleDecision:
    cap_jobs, cap_cores = _user_caps()
    user = counts.user(username)
    if cap_jobs > 0 and user.queued_jobs > USER_CAP_FACTOR * cap_jobs:
        limit = f"{USER_CAP_FACTOR} x CAP_RUNNING_USER_JOBS={cap_jobs}"
        return ThrottleDecision(True, f"user {username}: {user.queued_jobs} queued jobs > {limit}")
    if cap_cores > 0 and user.queued_cores > USER_CAP_FACTOR * cap_cores:
        limit = f"{USER_CAP_FACTOR} x CAP_RUNNING_USER_CORES={cap_cores}"
        return ThrottleDecision(True, f"user {username}: {user.queued_cores} queued cores > {limit}")
    return ThrottleDecision(False)


def partition_decision(gshare: str, resource_type: str | None, counts: ThrottleCounts) -> ThrottleDecision:
    share = counts.shares.get(gshare)
    if share is not None and not share.throttled:
        return ThrottleDecision(False)
    part = counts.partition(gshare, resource_type)
    n_queued, n_running = part.n_queued, part.n_running
    where = f"share={gshare} resource_type={resource_type or '*'} nQueued={n_queued} nRunning={n_running}"
    queue_cap = share.queue_cap if share is not None else None
    running_cap = share.running_cap if share is not None else None
    if queue_cap is not None and n_queued > queue_cap:
        return ThrottleDecision(True, f"{where}: nQueued > NQUEUECAP={queue_cap}")
    if running_cap is not None and n_running > running_cap:
        return ThrottleDecision(True, f"{where}: nRunning > NRUNNINGCAP={running_cap}")
    queue_limit = queue_cap if queue_cap is not None else DEFAULT_QUEUE_LIMIT
    if n_queued <= queue_limit:
        return ThrottleDecision(False)
    walltime = part.queued_walltime
    if walltime is not None and walltime <= MIN_QUEUED_WALLTIME:
        return ThrottleDecision(False)
    wall_text = "unknown" if walltime is None else f"{walltime:.3g}s > {MIN_QUEUED_WALLTIME:.0e}s"
    if n_running == 0:
        return ThrottleDecision(True, f"{where}: nothing runs, nQueued > {queue_limit}, queued walltime {wall_text}")
    ratio = n_queued / n_running
    if ratio > THROTTLE_THRESHOLD:
        return ThrottleDecision(
            True,
            f"{where}: nQueued/nRunning={ratio:.2f} > {THROTTLE_THRESHOLD}, nQueued > {queue_limit}, "
            f"queued walltime {wall_text}",
        )
    return ThrottleDecision(False)


def throttle_check(task, *, counts: ThrottleCounts | None = None) -> ThrottleDecision:
    """Whether job generation for ``task`` (a :class:`~apps.jedi.models.Task`) should pause now."""
    if counts is None:
        counts = throttle_counts()
    if _is_analysis(task):
        decision = user_decision(task.username, counts)
        if decision.throttled:
            return decision
    gshare = task.gshare or share_for(
        prodsourcelabel=task.prodsourcelabel,
        workinggroup=task.workinggroup,
        campaign=task.campaign,
        processingtype=task.processingtype,
        vo=task.vo,
    )
    return partition_decision(gshare, task.resource_type, counts)
