"""The embedded transfer service: satisfy ``replicate`` and ``stage`` rules by copying local files.

A rule on (dataset, endpoint, activity) is ``ok`` when every file of the dataset (of every dataset of
a container) has an ``available`` replica on the endpoint. For each missing file the agent copies an
``available`` replica from another endpoint whose storage is a local POSIX directory
(:mod:`apps.ddm.posix`) to the destination endpoint's directory, verifies size and adler32, and adds
the replica. Sources: a ``replicate`` rule copies from disk endpoints; a ``stage`` rule recalls from
tape endpoints (``is_tape``) first and falls back to disk.

Where the copy goes: on a deterministic destination (the usual case, and the only layout a pilot can
find without a PFN) at the deterministic path of protocol.md §11.2; on a non-deterministic one at
the same path relative to the endpoint's directory as the source had.

A file with no usable source (or whose copies all failed) counts as a stuck lock; when nothing is
left to try the rule becomes ``stuck`` with an error that names the files. ``stuck_since`` records
when it got stuck (what the Activator's timeout measures); stuck rules are tried again every
``retry_stuck_after`` seconds, since a source may appear meanwhile. A pass copies at most
``files_per_rule`` files; a rule with more left stays ``replicating`` for the next pass.

Concurrency: rules are claimed with a lease (a conditional UPDATE of ``locked_by``/``lock_expires``
on rules that are unlocked or whose lease expired; on PostgreSQL the candidate SELECT adds
``FOR UPDATE SKIP LOCKED``), renewed while copying, and the final state is written only under our
own lease. Copies are written under a temporary name and renamed, and replicas are added with
``ignore_conflicts``, so two workers that both copy a file (after a lease expired) do no harm.
"""

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Q

from apps.core.timeutil import utcnow
from apps.ddm.models import DataFile, Replica, ReplicaState, Rule, RuleActivity, RuleState
from apps.ddm.names import deterministic_path
from apps.ddm.posix import CopyError, endpoint_local_root, file_copy_verified, pfn_path
from apps.ddm.selectors.catalogue import chunk_size, dataset_file_ids, datasets_expand, in_chunks
from apps.sites.models import StorageEndpoint

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 20
DEFAULT_LEASE_SECONDS = 600
DEFAULT_RETRY_STUCK_AFTER = 600
DEFAULT_FILES_PER_RULE = 1000
FLUSH_EVERY = 200
ERROR_MAX = 500
ERROR_FILES_SHOWN = 5


@dataclass
class RulesSummary:
    claimed: int = 0
    ok: int = 0
    replicating: int = 0
    stuck: int = 0
    copied: int = 0
    lost: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return (
            f"ddm rules: claimed={self.claimed} ok={self.ok} replicating={self.replicating} stuck={self.stuck} "
            f"copied={self.copied} lost={self.lost} errors={self.errors}"
        )


@dataclass
class _Pass:
    """What one pass over a rule found and did."""

    total: int = 0
    present: int = 0
    copied: int = 0
    deferred: int = 0
    stuck: list[str] = field(default_factory=list)
    fatal: str = ""


class _LostLease(Exception):
    pass


def rules_process(
    *,
    limit: int = DEFAULT_LIMIT,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    retry_stuck_after: int = DEFAULT_RETRY_STUCK_AFTER,
    files_per_rule: int = DEFAULT_FILES_PER_RULE,
    worker_name: str | None = None,
) -> RulesSummary:
    """Claim up to ``limit`` rules that need work and move each forward (copies, counters, state)."""
    name = worker_name or f"{socket.gethostname()}:{os.getpid()}"
    token = f"{name[:70]}:{uuid.uuid4().hex[:12]}"
    summary = RulesSummary()
    claimed = _claim(token=token, limit=limit, lease=lease_seconds, retry_stuck_after=retry_stuck_after)
    summary.claimed = len(claimed)
    for rule_id in claimed:
        try:
            state, copied = _process(rule_id, token=token, lease=lease_seconds, files_per_rule=files_per_rule)
        except _LostLease:
            summary.lost += 1
            continue
        except Exception:
            # The lease expires and a later pass tries again.
            log.exception("ddm rules: rule %s failed", rule_id)
            summary.errors += 1
            continue
        summary.copied += copied
        setattr(summary, state, getattr(summary, state) + 1)
    return summary


def _claimable(now, retry_stuck_after: int):
    retry_before = now - timedelta(seconds=retry_stuck_after)
    return Rule.objects.filter(
        Q(state=RuleState.REPLICATING) | Q(state=RuleState.STUCK, modificationtime__lte=retry_before)
    ).filter(Q(locked_by="") | Q(lock_expires__isnull=True) | Q(lock_expires__lt=now))


def _claim(*, token: str, limit: int, lease: int, retry_stuck_after: int) -> list[int]:
    now = utcnow()
    with transaction.atomic():
        candidates = _claimable(now, retry_stuck_after).order_by("modificationtime", "pk")
        if connection.vendor == "postgresql":
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        # The WHERE clause is evaluated again on each row: whoever updates first owns the rule.
        _claimable(now, retry_stuck_after).filter(pk__in=ids).update(
            locked_by=token, lock_expires=now + timedelta(seconds=lease)
        )
    return list(
        Rule.objects.filter(pk__in=ids, locked_by=token).order_by("modificationtime", "pk").values_list("pk", flat=True)
    )


class _Lease:
    def __init__(self, rule_id: int, token: str, seconds: int):
        self.rule_id, self.token, self.seconds = rule_id, token, seconds
        self.renewed = time.monotonic()

    def keep(self) -> None:
        """Renew the lease once a third of it has passed; raises :class:`_LostLease` if it is gone."""
        if time.monotonic() - self.renewed < self.seconds / 3:
            return
        rows = Rule.objects.filter(pk=self.rule_id, locked_by=self.token).update(
            lock_expires=utcnow() + timedelta(seconds=self.seconds)
        )
        if rows != 1:
            raise _LostLease
        self.renewed = time.monotonic()


def _process(rule_id: int, *, token: str, lease: int, files_per_rule: int) -> tuple[str, int]:
    rule = Rule.objects.select_related("dataset").filter(pk=rule_id, locked_by=token).first()
    if rule is None:
        raise _LostLease
    result = _Pass()
    missing = _missing(rule, result)
    if missing:
        destination = StorageEndpoint.objects.filter(name=rule.endpoint).first()
        root = endpoint_local_root(destination) if destination else None
        if destination is None:
            result.fatal = f"destination endpoint {rule.endpoint} does not exist"
        elif root is None:
            result.fatal = (
                f"destination endpoint {rule.endpoint} has no local file:// path; "
                "the embedded rule agent copies only between local POSIX endpoints"
            )
        else:
            todo = missing[:files_per_rule]
            result.deferred = len(missing) - len(todo)
            _replicate(rule, todo, destination, root, result, _Lease(rule_id, token, lease))
    return _finish(rule, token, result), result.copied


def _missing(rule: Rule, result: _Pass) -> list[int]:
    """Ids of the rule's files without an available replica on its endpoint (counts go to ``result``)."""
    file_ids = dataset_file_ids(datasets_expand(rule.dataset))
    result.total = len(file_ids)
    present: set[int] = set()
    for chunk in in_chunks(file_ids):
        present.update(
            Replica.objects.filter(endpoint=rule.endpoint, state=ReplicaState.AVAILABLE, file_id__in=chunk).values_list(
                "file_id", flat=True
            )
        )
    result.present = len(present)
    return [pk for pk in file_ids if pk not in present]


def _replicate(
    rule: Rule, todo: list[int], destination: StorageEndpoint, root: Path, result: _Pass, lease: _Lease
) -> None:
    files = {}
    sources: dict[int, list[tuple[str, str]]] = {pk: [] for pk in todo}
    for chunk in in_chunks(todo):
        files.update(DataFile.objects.in_bulk(chunk))
        rows = (
            Replica.objects.filter(file_id__in=chunk, state=ReplicaState.AVAILABLE)
            .exclude(endpoint=rule.endpoint)
            .order_by("endpoint")
            .values_list("file_id", "endpoint", "pfn")
        )
        for pk, endpoint, pfn in rows:
            sources[pk].append((endpoint, pfn))
    names = {endpoint for found in sources.values() for endpoint, _ in found}
    endpoints = {se.name: se for se in StorageEndpoint.objects.filter(name__in=names)}
    done: list[tuple[int, str]] = []
    for pk in todo:
        lease.keep()
        f = files[pk]
        copied_to, reason = _copy_one(f, sources[pk], endpoints, rule.activity, destination, root)
        if copied_to is None:
            result.stuck.append(f"{f.scope}:{f.lfn} ({reason})")
        else:
            done.append((pk, str(copied_to)))
        if len(done) >= FLUSH_EVERY:
            result.copied += _replicas_register(done, rule.endpoint)
            done = []
    result.copied += _replicas_register(done, rule.endpoint)


def _ordered_sources(
    found: list[tuple[str, str]], endpoints: dict[str, StorageEndpoint], activity: str
) -> list[tuple[StorageEndpoint, str]]:
    candidates = [(endpoints[name], pfn) for name, pfn in found if name in endpoints]
    disk = [(se, pfn) for se, pfn in candidates if not se.is_tape]
    if activity == RuleActivity.STAGE:
        return [(se, pfn) for se, pfn in candidates if se.is_tape] + disk
    return disk


def _copy_one(
    f: DataFile,
    found: list[tuple[str, str]],
    endpoints: dict[str, StorageEndpoint],
    activity: str,
    destination: StorageEndpoint,
    root: Path,
) -> tuple[Path | None, str]:
    """Copy ``f`` from the first source that works; answers (destination path, "") or (None, why not)."""
    ordered = _ordered_sources(found, endpoints, activity)
    if not ordered:
        kind = "tape or disk" if activity == RuleActivity.STAGE else "disk"
        return None, f"no available replica on another {kind} endpoint"
    reasons = []
    for source, pfn in ordered:
        source_root = endpoint_local_root(source)
        if source_root is None:
            reasons.append(f"{source.name} is not a local POSIX endpoint")
            continue
        path = pfn_path(pfn) if pfn else None
        if path is None:
            path = source_root / deterministic_path(f.scope, f.lfn)
        relative = _relative(path, source_root) if not destination.is_deterministic else None
        target = root / (relative or deterministic_path(f.scope, f.lfn))
        try:
            file_copy_verified(path, target, fsize=f.fsize, adler32=f.adler32)
        except CopyError as exc:
            reasons.append(f"{source.name}: {exc}")
            continue
        return target, ""
    return None, "; ".join(reasons)


def _relative(path: Path, root: Path) -> str | None:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return None


def _replicas_register(done: list[tuple[int, str]], endpoint: str) -> int:
    if not done:
        return 0
    now = utcnow()
    with transaction.atomic():
        pks = [pk for pk, _ in done]
        # A replica row that exists in another state (copying, unavailable) becomes available here.
        Replica.objects.filter(endpoint=endpoint, file_id__in=pks).delete()
        Replica.objects.bulk_create(
            [
                Replica(file_id=pk, endpoint=endpoint, pfn=pfn, state=ReplicaState.AVAILABLE, modificationtime=now)
                for pk, pfn in done
            ],
            ignore_conflicts=True,
            batch_size=chunk_size(),
        )
    return len(done)


def _finish(rule: Rule, token: str, result: _Pass) -> str:
    now = utcnow()
    ok = result.present + result.copied
    if result.fatal:
        state, error = RuleState.STUCK, result.fatal
    elif result.deferred:
        state, error = RuleState.REPLICATING, ""
    elif result.stuck:
        shown = "; ".join(result.stuck[:ERROR_FILES_SHOWN])
        more = f"; and {len(result.stuck) - ERROR_FILES_SHOWN} more" if len(result.stuck) > ERROR_FILES_SHOWN else ""
        state, error = RuleState.STUCK, f"{len(result.stuck)} file(s) could not be copied: {shown}{more}"
    else:
        state, error = RuleState.OK, ""
    stuck_since = (rule.stuck_since or now) if state == RuleState.STUCK else None
    stuck_locks = result.total - ok if result.fatal else len(result.stuck)
    rows = Rule.objects.filter(pk=rule.pk, locked_by=token).update(
        state=state,
        locks_ok=ok,
        locks_replicating=result.deferred,
        locks_stuck=stuck_locks,
        error=error[:ERROR_MAX],
        stuck_since=stuck_since,
        modificationtime=now,
        locked_by="",
        lock_expires=None,
    )
    if rows != 1:
        raise _LostLease
    return state
