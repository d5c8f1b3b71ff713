"""getJob: pick activated jobs for a pilot, claim them and describe them (protocol.md §5).

Claiming is the one place where a race would hand the same job to two pilots, so:

* On PostgreSQL ONE statement selects the candidates with ``FOR UPDATE SKIP LOCKED``, moves them
  ``activated -> sent`` (still conditional on ``jobstatus='activated'``), writes their status-log
  rows and returns them joined with their parameters. A row another request holds is skipped, a
  row another request already moved no longer matches, so every returned row is ours alone. This
  is the documented exception to "every status change goes through job_change_status": the claim
  and its log rows are written by the same statement, hence in the same transaction.
* On every other engine the candidates come from the ORM and each one goes through
  :func:`job_change_status` (conditional update + log row); a :class:`StaleStatus` means another
  request won and the next candidate is tried.

Order (jedi.md §10.5, protocol.md §5.3): with probability ``PANDA_SLOPPY_DISPATCH_RATIO``/100 by
PandaID only; otherwise by global-share rank (apps/shares/services/ranking.py: ``Test`` first, then
the leaves most under their target), then currentPriority DESC, PandaID. Jobs whose share is not a
ranked leaf (none, ``Undefined``) come after every ranked share. Without a share tree the order is
currentPriority DESC, PandaID.

The candidate queries match partial indexes on activated jobs (the status is a literal so the
planner can prove the index predicate) whose order is the dispatch order, so nothing is sorted:
``jobs_dispatch_sloppy_idx`` (computingsite, pandaid) for the sloppy order,
``jobs_dispatch_idx`` (computingsite, currentpriority DESC, pandaid) for the priority order and
``jobs_dispatch_share_idx`` (computingsite, gshare, currentpriority DESC, pandaid) for one share.

With a share tree the PostgreSQL claim runs the statement once per ranked share that has activated
jobs at the queue (:func:`shares_present`, a per-queue set refreshed every 10 s), in rank order,
until it has the jobs it wants, then once without a share filter for the rest (unranked jobs, and
shares that arrived at the queue since the set was read). A pilot usually gets its job from the
first statement, and each statement is the plain claim plus ``gshare = %s``, which costs what the
plain claim costs. (A single statement walking the shares through a LATERAL subquery was measured:
it needs no cache but costs noticeably more to plan and run than the plain claim.)
"""

import datetime as dt
import logging
import random
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, IntegerField, Q, Value, When

from apps.accounts.identity import Identity, clean_user_id
from apps.accounts.permissions import getjob_forced_owner, may_get_jobs, may_get_proxy_key
from apps.core.timeutil import utcnow
from apps.core.transitions import check_transition
from apps.jobs.models import Job, JobFile, JobParameters, JobStatusLog
from apps.jobs.selectors.dispatch_dict import job_dispatch_dict
from apps.jobs.selectors.shares import share_usage
from apps.jobs.services.transitions import StaleStatus, job_change_status
from apps.jobs.states import TRANSITIONS, JobStatus
from apps.shares.services.ranking import share_ranking
from apps.sites.models import PandaQueue, QueueActivity, QueueStatus
from apps.sites.selectors.queues import queue_get_cached
from apps.workers.services.dispatch import worker_record_dispatch

log = logging.getLogger(__name__)

ACTIVATED, SENT = JobStatus.ACTIVATED.value, JobStatus.SENT.value
# The PostgreSQL claim writes jobstatus itself; it must stay a transition the table allows.
check_transition("job", TRANSITIONS, ACTIVATED, SENT)

OUTCOME_OK = "ok"
OUTCOME_NO_JOBS = "no_jobs"
OUTCOME_ROLE_REFUSED = "role_refused"
OUTCOME_TIMEOUT = "timeout"

LOG_REASON = "getJob"
PILOT_SEEN_INTERVAL = 60.0
N_SENT_REFRESH = 30.0
N_SENT_WINDOW = 60
TEST_REWRITTEN_LABELS = frozenset({"user", "managed", "unified"})
# The candidate loop gives up this long before the caller's own timeout (protocol.md §5.1).
TIMEOUT_MARGIN = 10

_HOST_LENGTH = Job._meta.get_field("modificationhost").max_length
_CE_LENGTH = Job._meta.get_field("computingelement").max_length
_SCHEDULER_LENGTH = Job._meta.get_field("schedulerid").max_length
_LABEL_LENGTH = QueueActivity._meta.get_field("prodsourcelabel").max_length


@dataclass
class DispatchResult:
    outcome: str
    jobs: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class LabelFilter:
    """``prodsourcelabel IN labels OR processingtype IN processing_types``."""

    labels: tuple[str, ...]
    processing_types: tuple[str, ...] = ()


def label_filter(label: str | None, computing_element: str | None) -> LabelFilter:
    """The job labels a requested label matches (protocol.md §5.2, point 3)."""
    if label == "user":
        return LabelFilter(("user", "panda", "install"))
    if label in (None, "managed"):
        return LabelFilter(("managed", "test", "prod_test", "install"))
    if label == "unified":
        return LabelFilter(("managed", "test", "prod_test", "install", "user", "panda"))
    if label == "test" and computing_element:
        return LabelFilter(("prod_test", "install", "test"), ("gangarobot",))
    return LabelFilter((label,))


def dispatch_label(requested: str | None, queue: PandaQueue | None) -> str | None:
    """A queue in ``test`` status only serves test jobs, whatever the pilot asked for."""
    if queue is not None and queue.status == QueueStatus.TEST and requested in TEST_REWRITTEN_LABELS:
        return "test"
    return requested


@dataclass(frozen=True)
class DispatchCriteria:
    site_name: str
    labels: LabelFilter
    mem: int = 0
    disk_space: int = 0
    remaining_time: int = 0
    owner: str | None = None
    task_id: int | None = None
    background: bool = False
    resource_type: str | None = None
    job_label: str | None = None

    def as_q(self) -> Q:
        q = Q(jobstatus=ACTIVATED, computingsite=self.site_name)
        labels = Q(prodsourcelabel__in=self.labels.labels)
        if self.labels.processing_types:
            labels |= Q(processingtype__in=self.labels.processing_types)
        q &= labels
        if self.mem > 0:
            q &= Q(minramcount__lte=self.mem) | Q(minramcount=0)
        if self.disk_space > 0:
            q &= Q(maxdiskcount__lte=self.disk_space) | Q(maxdiskcount=0)
        if self.remaining_time > 0:
            q &= Q(maxwalltime__isnull=True) | Q(maxwalltime__lte=self.remaining_time)
        if self.owner is not None:
            q &= Q(produsername=self.owner)
        if self.task_id is not None:
            q &= Q(jeditaskid=self.task_id)
        if self.background:
            q &= Q(jobexecutionid=1)
        if self.resource_type is not None:
            q &= Q(resource_type=self.resource_type)
        if self.job_label is not None:
            q &= Q(job_label=self.job_label)
        return q

    def as_sql(self) -> tuple[str, list]:
        """The same filter as :meth:`as_q`, as SQL for the PostgreSQL claim statement."""
        # 'activated' stays a literal: a bound parameter would hide the partial-index predicate.
        where = [f"jobstatus = '{ACTIVATED}'", "computingsite = %s"]
        params: list = [self.site_name]
        label_sql = f"prodsourcelabel IN ({', '.join(['%s'] * len(self.labels.labels))})"
        params.extend(self.labels.labels)
        if self.labels.processing_types:
            label_sql += f" OR processingtype IN ({', '.join(['%s'] * len(self.labels.processing_types))})"
            params.extend(self.labels.processing_types)
        where.append(f"({label_sql})")
        if self.mem > 0:
            where.append("(minramcount <= %s OR minramcount = 0)")
            params.append(self.mem)
        if self.disk_space > 0:
            where.append("(maxdiskcount <= %s OR maxdiskcount = 0)")
            params.append(self.disk_space)
        if self.remaining_time > 0:
            where.append("(maxwalltime IS NULL OR maxwalltime <= %s)")
            params.append(self.remaining_time)
        for column, value in (
            ("produsername", self.owner),
            ("jeditaskid", self.task_id),
            ("resource_type", self.resource_type),
            ("job_label", self.job_label),
        ):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if self.background:
            where.append("jobexecutionid = 1")
        return " AND ".join(where), params


# Within a share (or without a share tree): currentPriority DESC, PandaID ASC.
PRIORITY_ORDER = ("-currentpriority", "pandaid")
SLOPPY_ORDER = ("pandaid",)


def _order_sql(order: tuple[str, ...], table: str = "") -> str:
    prefix = f"{table}." if table else ""
    return ", ".join(f"{prefix}{name[1:]} DESC" if name.startswith("-") else f"{prefix}{name}" for name in order)


def choose_order() -> tuple[tuple[str, ...], list[str]]:
    """The order of this getJob and the ranked shares that come before it (empty: no share order)."""
    if random.randrange(100) < settings.PANDA_SLOPPY_DISPATCH_RATIO:
        return SLOPPY_ORDER, []
    return PRIORITY_ORDER, share_ranking(usage=share_usage)


@dataclass(frozen=True)
class ClaimValues:
    now: dt.datetime | None
    node: str | None
    computing_element: str | None
    scheduler_id: str | None


_JOB_FIELDS = Job._meta.concrete_fields
_JOB_ATTNAMES = [f.attname for f in _JOB_FIELDS]


def claim_statement(
    criteria: DispatchCriteria,
    *,
    order: tuple[str, ...],
    limit: int,
    values: ClaimValues,
    share: str | None = None,
):
    """The PostgreSQL claim: candidates, update, status log and parameters in one statement.

    ``share``: only jobs of this global share (``jobs_dispatch_share_idx``).
    """
    where, where_params = criteria.as_sql()
    if share is not None:
        where += " AND gshare = %s"
        where_params = [*where_params, share]
    qn = connection.ops.quote_name
    jobs, status_log, parameters = (qn(m._meta.db_table) for m in (Job, JobStatusLog, JobParameters))
    returning = ", ".join(f"{jobs}.{qn(f.column)}" for f in _JOB_FIELDS)
    sql = f"""
WITH candidates AS (
    SELECT pandaid FROM {jobs}
    WHERE {where}
    ORDER BY {_order_sql(order)}
    LIMIT %s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE {jobs} SET jobstatus = '{SENT}', modificationtime = %s, starttime = %s, statechangetime = %s,
        modificationhost = COALESCE(%s, {jobs}.modificationhost),
        computingelement = COALESCE(%s, {jobs}.computingelement),
        schedulerid = COALESCE(%s, {jobs}.schedulerid),
        jobexecutionid = 0
    FROM candidates
    WHERE {jobs}.pandaid = candidates.pandaid AND {jobs}.jobstatus = '{ACTIVATED}'
    RETURNING {returning}
), logged AS (
    INSERT INTO {status_log} (pandaid, modificationtime, oldstatus, jobstatus, computingsite, prodsourcelabel, reason)
    SELECT pandaid, %s, '{ACTIVATED}', '{SENT}', computingsite, prodsourcelabel, %s FROM claimed
)
SELECT claimed.*, {parameters}.jobparameters
FROM claimed LEFT JOIN {parameters} ON {parameters}.pandaid = claimed.pandaid
ORDER BY {_order_sql(order, "claimed")}
"""
    params = [
        *where_params,
        limit,
        values.now,
        values.now,
        values.now,
        values.node,
        values.computing_element,
        values.scheduler_id,
        values.now,
        LOG_REASON,
    ]
    return sql, params


# Which ranked shares have activated jobs at a queue: per process, refreshed this often (seconds).
PRESENT_SHARES_SECONDS = 10.0
_present_shares: dict[str, tuple[float, frozenset[str], frozenset[str]]] = {}
_PRESENT_SQL = f"""
SELECT s.name FROM unnest(%s::text[]) AS s(name)
WHERE EXISTS (
    SELECT 1 FROM {Job._meta.db_table}
    WHERE jobstatus = '{ACTIVATED}' AND computingsite = %s AND gshare = s.name
)"""


def shares_present(site_name: str, shares: list[str]) -> list[str]:
    """``shares`` (in their order) that had activated jobs at ``site_name`` up to 10 s ago.

    One index probe per share (``jobs_dispatch_share_idx``), at most every
    :data:`PRESENT_SHARES_SECONDS` per queue and process, so getJob does not spend a statement on
    each share a queue has no jobs of.
    """
    now = time.monotonic()
    wanted = frozenset(shares)
    cached = _present_shares.get(site_name)
    if cached is None or cached[0] <= now or not wanted <= cached[1]:
        with connection.cursor() as cursor:
            cursor.execute(_PRESENT_SQL, [shares, site_name])
            present = frozenset(row[0] for row in cursor.fetchall())
        cached = (now + PRESENT_SHARES_SECONDS, wanted, present)
        with _cache_lock:
            _present_shares[site_name] = cached
    return [share for share in shares if share in cached[2]]


def _run_claim(sql: str, params: list) -> list[tuple[Job, str | None]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    width = len(_JOB_ATTNAMES)
    return [(Job.from_db(connection.alias, _JOB_ATTNAMES, row[:width]), row[width]) for row in rows]


def _claim_postgresql(
    criteria: DispatchCriteria, *, order: tuple[str, ...], shares: list[str], n_jobs: int, values: ClaimValues
) -> list[tuple[Job, str | None]]:
    # Every row a statement returns is locked by us and was still activated, so there is no stale
    # candidate to retry. Ranked shares present at the queue are tried one statement each, in rank
    # order, until n_jobs are claimed (usually the first one does); then one statement without a
    # share filter takes what is left in priority order: jobs of unranked shares, and of shares
    # that arrived at the queue after the present-share cache was filled. A statement may return
    # fewer rows than are activated while other requests hold some of them locked; the next call
    # gets those.
    claimed: list[tuple[Job, str | None]] = []
    for share in [*shares_present(criteria.site_name, shares), None] if shares else [None]:
        sql, params = claim_statement(criteria, order=order, limit=n_jobs - len(claimed), values=values, share=share)
        claimed.extend(_run_claim(sql, params))
        if len(claimed) >= n_jobs:
            break
    return claimed


def _ordered_candidates(criteria: DispatchCriteria, *, order: tuple[str, ...], shares: list[str]):
    candidates = Job.objects.filter(criteria.as_q()).select_related("params")
    if not shares:
        return candidates.order_by(*order)
    share_rank = Case(
        *(When(gshare=name, then=Value(rank)) for rank, name in enumerate(shares)),
        default=Value(len(shares)),
        output_field=IntegerField(),
    )
    return candidates.annotate(share_rank=share_rank).order_by("share_rank", *order)


def _claim_with_transitions(
    criteria: DispatchCriteria,
    *,
    order: tuple[str, ...],
    shares: list[str],
    n_jobs: int,
    values: ClaimValues,
    deadline: float,
) -> list[tuple[Job, str | None]]:
    claimed: list[tuple[Job, str | None]] = []
    per_pass = max(1, settings.PANDA_N_JOBS_IN_GETJOB)
    changes = {
        "modificationtime": values.now,
        "starttime": values.now,
        "statechangetime": values.now,
        "jobexecutionid": 0,
        **{
            name: value
            for name, value in (
                ("modificationhost", values.node),
                ("computingelement", values.computing_element),
                ("schedulerid", values.scheduler_id),
            )
            if value is not None
        },
    }
    while len(claimed) < n_jobs and time.monotonic() < deadline:
        candidates = list(_ordered_candidates(criteria, order=order, shares=shares)[:per_pass])
        for job in candidates:
            try:
                job_change_status(job, new=SENT, changes=changes, reason=LOG_REASON)
            except StaleStatus:
                continue
            parameters = job.params.jobparameters if _has_params(job) else None
            claimed.append((job, parameters))
            if len(claimed) == n_jobs:
                break
        if len(candidates) < per_pass:
            break
    return claimed


def _has_params(job: Job) -> bool:
    try:
        job.params  # noqa: B018
    except JobParameters.DoesNotExist:
        return False
    return True


_FILE_ATTNAMES = [f.attname for f in JobFile._meta.concrete_fields]
# A fixed statement (the ORM would compile it anew on every call, which costs more than running it).
_FILES_SQL = "SELECT {columns} FROM {table} WHERE pandaid IN ({{ids}}) ORDER BY row_id".format(
    columns=", ".join(connection.ops.quote_name(f.column) for f in JobFile._meta.concrete_fields),
    table=JobFile._meta.db_table,
)


def _files_by_job(pandaids: list[int]) -> dict[int, list[JobFile]]:
    files: dict[int, list[JobFile]] = {pandaid: [] for pandaid in pandaids}
    if not pandaids:
        return files
    with connection.cursor() as cursor:
        cursor.execute(_FILES_SQL.format(ids=", ".join(["%s"] * len(pandaids))), pandaids)
        rows = cursor.fetchall()
    for row in rows:
        file = JobFile.from_db(connection.alias, _FILE_ATTNAMES, row)
        files[file.job_id].append(file)
    return files


_pilot_seen: dict[tuple[str, str], float] = {}
_n_sent: dict[str, tuple[float, int]] = {}
_cache_lock = threading.Lock()


def _record_pilot_seen(queue: PandaQueue | None, label: str | None) -> None:
    """Brokerage's "pilot seen" timestamp; one write per queue/label per process per minute."""
    if queue is None:
        return
    key = (queue.name, (label or "managed")[:_LABEL_LENGTH])
    now = time.monotonic()
    with _cache_lock:
        if _pilot_seen.get(key, 0.0) > now:
            return
        _pilot_seen[key] = now + PILOT_SEEN_INTERVAL
    QueueActivity.objects.bulk_create(
        [QueueActivity(queue=key[0], prodsourcelabel=key[1], last_getjob=utcnow())],
        update_conflicts=True,
        unique_fields=["queue", "prodsourcelabel"],
        update_fields=["last_getjob"],
    )


def _jobs_sent_recently(site_name: str) -> int:
    """nSent is informational, so a per-process value up to 30 s old is good enough."""
    now = time.monotonic()
    cached = _n_sent.get(site_name)
    if cached and cached[0] > now:
        return cached[1]
    since = utcnow() - dt.timedelta(seconds=N_SENT_WINDOW)
    count = Job.objects.filter(computingsite=site_name, jobstatus=SENT, modificationtime__gte=since).count()
    with _cache_lock:
        _n_sent[site_name] = (now + N_SENT_REFRESH, count)
    return count


def forget_dispatch_caches() -> None:
    """For tests: the pilot-seen throttle, the nSent and present-share caches are per process."""
    with _cache_lock:
        _pilot_seen.clear()
        _n_sent.clear()
        _present_shares.clear()


def _cut(value: str | None, length: int) -> str | None:
    return value[:length] if value else None


def jobs_acquire(
    *,
    identity: Identity,
    site_name: str,
    prod_source_label: str | None = None,
    computing_element: str | None = None,
    node: str | None = None,
    mem: int = 0,
    disk_space: int = 0,
    remaining_time: int = 0,
    prod_user_id: str | None = None,
    task_id: int | None = None,
    n_jobs: int = 1,
    background: bool = False,
    resource_type: str | None = None,
    harvester_id: str | None = None,
    worker_id: int | None = None,
    scheduler_id: str | None = None,
    job_type: str | None = None,
    get_proxy_key: bool = False,
    timeout: int = 60,
    legacy: bool = False,
) -> DispatchResult:
    """Claim up to ``n_jobs`` activated jobs of ``site_name`` for the caller and build their dicts.

    ``legacy`` marks the legacy getJob, which also accepts the pilot role.
    """
    if not may_get_jobs(identity, prod_source_label, legacy=legacy):
        return DispatchResult(OUTCOME_ROLE_REFUSED)
    forced_owner = getjob_forced_owner(identity, legacy=legacy)
    owner = forced_owner
    if owner is None and prod_user_id:
        owner = clean_user_id(prod_user_id) or prod_user_id
    queue = queue_get_cached(site_name)
    label = dispatch_label(prod_source_label, queue)
    # On grandly-unified queues test jobs of both kinds share one label; the pilot's jobType
    # (Harvester's "user"/"managed") picks production or analysis ones through job_label.
    job_label = None
    if label == "test" and queue is not None and "grandly_unified" in queue.catchall_flags:
        job_label = job_type if job_type in ("user", "managed") else None
    criteria = DispatchCriteria(
        site_name=site_name,
        labels=label_filter(label, computing_element),
        mem=max(mem, 0),
        disk_space=max(disk_space, 0),
        remaining_time=max(remaining_time, 0),
        owner=owner,
        task_id=task_id,
        background=background,
        resource_type=resource_type,
        job_label=job_label,
    )
    values = ClaimValues(
        now=utcnow(),
        node=_cut(node, _HOST_LENGTH),
        computing_element=_cut(computing_element, _CE_LENGTH),
        scheduler_id=_cut(scheduler_id, _SCHEDULER_LENGTH),
    )
    n_jobs = max(n_jobs, 1)
    order, shares = choose_order()
    deadline = time.monotonic() + max(timeout - TIMEOUT_MARGIN, 1)
    relate_worker = bool(harvester_id) and worker_id is not None

    on_postgresql = connection.vendor == "postgresql"
    # The PostgreSQL claim is one statement and needs no transaction of its own unless the worker
    # relation must commit with it; elsewhere one transaction keeps the candidate loop consistent.
    with transaction.atomic() if relate_worker or not on_postgresql else nullcontext():
        if on_postgresql:
            claimed = _claim_postgresql(criteria, order=order, shares=shares, n_jobs=n_jobs, values=values)
        else:
            claimed = _claim_with_transitions(
                criteria, order=order, shares=shares, n_jobs=n_jobs, values=values, deadline=deadline
            )
        if relate_worker and claimed:
            worker_record_dispatch(
                harvester_id=harvester_id,
                worker_id=worker_id,
                pandaids=[job.pandaid for job, _ in claimed],
                computingsite=site_name,
            )
    _record_pilot_seen(queue, label)
    if not claimed:
        timed_out = time.monotonic() >= deadline
        return DispatchResult(OUTCOME_TIMEOUT if timed_out else OUTCOME_NO_JOBS)

    log.info("getJob site=%s node=%s label=%s sent=%s", site_name, node, label, [job.pandaid for job, _ in claimed])
    files = _files_by_job([job.pandaid for job, _ in claimed])
    n_sent = _jobs_sent_recently(site_name) if forced_owner is None else 0
    dicts = []
    for job, parameters in claimed:
        data = job_dispatch_dict(job=job, files=files[job.pandaid], job_parameters=parameters, queue=queue)
        data["nSent"] = n_sent
        if get_proxy_key and may_get_proxy_key(identity):
            # No credential store yet: the keys are present and empty, as upstream sends them
            # when no proxy key is registered.
            data["credname"] = ""
            data["myproxy"] = ""
        dicts.append(data)
    return DispatchResult(OUTCOME_OK, dicts)
