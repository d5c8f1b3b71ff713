"""Production job brokerage (jedi.md §10.2): the ``job_broker`` plugin for ``managed``/``test`` tasks.

The rules our queue model can express, in order: status online; for scouts, merges and tasks of
priority >= 800, no inactive queues (no job started in 2 h) and no opportunistic ones
(``pledgedcpu = -1``); cores; memory ``(baseRamCount + ramCount x coreCount) x 0.9``; scratch disk
``input + max(1.5 GB, outDisk x nEvents) + max(300 MB, workDisk) <= maxwdir`` (divided by the
queue's corecount for a single-core task on a multi-core queue, as upstream scales it); an
ACTIVE output endpoint; scouts need ``maxtime >= 24 h``; estimated walltime within
[``mintime``, ``maxtime``]; transferring jobs <= max(``transferringlimit`` or 2000, 2 x running);
``allowed_processing``/``excluded_processing``; a pilot seen in the last 3 h. A pre-assigned queue
skips the status, priority, core and memory rules.

Not applied, for want of data: network links to the nucleus, storage free space, fair-share
policies, IO intensity, software release availability, ``wnconnectivity`` and ``t1Weight``.

Weight ``(running + 1) / ((activated + assigned + starting + defined + 10) x manyAssigned)`` times
the data-locality factor ``(availableSize + totalSize) / (totalSize x (nMissingFiles / 100 + 1))``
(the network factor is 1). Post-filters drop queues with ``activated + starting > 2 x running`` or
``defined + activated + assigned + starting > 2 x running`` (except queues the task already uses);
the best 10 are kept.
"""

import datetime as dt
import random
from collections.abc import Sequence

from apps.brokerage.services.filters import (
    Context,
    Filter,
    check_cores,
    check_pilot,
    check_processing,
    check_status,
    run_filters,
)
from apps.brokerage.services.grid import (
    READ_ACTIVITIES,
    WRITE_ACTIVITIES,
    endpoints_by_name,
    jobs_started_since,
    queue_endpoints,
    queues_all,
)
from apps.brokerage.services.selection import build_context, candidate_queues, rank, record_result
from apps.core.timeutil import utcnow
from apps.jedi.models import INPUT_TYPES, DatasetContent, Task
from apps.jedi.plugins import BrokerageResult
from apps.sites.models import PandaQueue

PRODUCTION_TOP = 10
HIGH_PRIORITY = 800
INACTIVE_HOURS = 2
SCOUT_MIN_MAXTIME = 24 * 3600
MEMORY_FACTOR = 0.9
MIN_OUT_DISK_MB = 1536
MIN_WORK_DISK_MB = 300
DEFAULT_TRANSFERRING_LIMIT = 2000
DEFAULT_COREPOWER = 10.0  # HS06 per core when the queue document has no ``corepower``
DEFAULT_CPU_EFFICIENCY = 90  # percent


def _strict(context: Context) -> bool:
    """Scouts, merges and high-priority tasks must go where jobs start now (§10.2)."""
    return context.extra["strict"]


def check_inactive(queue: PandaQueue, context: Context) -> str | None:
    if _strict(context) and not context.extra["started"].get(queue.name):
        return (
            f"no job started in the last {INACTIVE_HOURS} h (needed for scouts, merges and priority >= {HIGH_PRIORITY})"
        )
    return None


def check_opportunistic(queue: PandaQueue, context: Context) -> str | None:
    if _strict(context) and (queue.document or {}).get("pledgedcpu") == -1:
        return f"pledgedcpu -1 is opportunistic (not for scouts, merges and priority >= {HIGH_PRIORITY})"
    return None


def check_memory(queue: PandaQueue, context: Context) -> str | None:
    needs = context.needs
    if not needs.ram_mb:
        return None
    cores = needs.cores_on(queue.corecount)
    ram = needs.ram_mb * cores if needs.ram_per_core else needs.ram_mb
    total = int((needs.base_ram_mb + ram) * MEMORY_FACTOR)
    if (queue.maxrss and total > queue.maxrss) or (queue.minrss and total < queue.minrss):
        bound = "maxrss" if queue.maxrss and total > queue.maxrss else "minrss"
        ram_text = f"ramCount {needs.ram_mb} MB x corecount {cores}" if needs.ram_per_core else f"ramCount {ram} MB"
        return (
            f"(baseRamCount {needs.base_ram_mb} MB + {ram_text}) x {MEMORY_FACTOR} = {total} MB "
            f"outside [{queue.minrss}, {queue.maxrss}] ({bound})"
        )
    return None


def scaled_maxwdir(queue: PandaQueue, context: Context) -> tuple[float, str]:
    """A queue's scratch for one job: a single-core job on an N-core slot gets ``maxwdir / N``."""
    site_cores = queue.corecount if queue.corecount and queue.corecount > 1 else 1
    task_cores = 1 if (context.needs.cores or 0) <= 1 else site_cores
    if task_cores == site_cores:
        return float(queue.maxwdir), f"maxwdir {queue.maxwdir} MB"
    limit = queue.maxwdir * task_cores / site_cores
    return limit, f"maxwdir {queue.maxwdir} MB / corecount {site_cores} = {limit:.0f} MB"


def check_disk(queue: PandaQueue, context: Context) -> str | None:
    if not queue.maxwdir:
        return None
    needs = context.needs
    direct_io = bool((queue.document or {}).get("direct_access_lan"))
    input_mb = 0.0 if direct_io else needs.input_mb
    total = input_mb + max(MIN_OUT_DISK_MB, needs.out_disk_mb) + max(MIN_WORK_DISK_MB, needs.work_disk_mb)
    limit, limit_text = scaled_maxwdir(queue, context)
    if total <= limit:
        return None
    return (
        f"input {input_mb:.0f} MB{' (direct I/O)' if direct_io else ''} + max({MIN_OUT_DISK_MB}, outDisk "
        f"{needs.out_disk_mb:.0f} MB) + max({MIN_WORK_DISK_MB}, workDisk {needs.work_disk_mb:.0f} MB) = {total:.0f} MB "
        f"> {limit_text}"
    )


def check_output_storage(queue: PandaQueue, context: Context) -> str | None:
    names = queue_endpoints(queue, WRITE_ACTIVITIES)
    if not names:
        return "no output endpoint in astorages (pw / write_lan)"
    known = context.extra["endpoints"]
    if any(name in known and known[name].state == "ACTIVE" for name in names):
        return None
    states = [f"{name} {known[name].state}" if name in known else f"{name} unknown" for name in names]
    return f"no ACTIVE output endpoint ({', '.join(states)})"


def check_scout_maxtime(queue: PandaQueue, context: Context) -> str | None:
    if context.scout and queue.maxtime and queue.maxtime < SCOUT_MIN_MAXTIME:
        return f"scouts need maxtime >= {SCOUT_MIN_MAXTIME} s, queue has {queue.maxtime} s"
    return None


def estimated_walltime(queue: PandaQueue, context: Context) -> tuple[int, str]:
    """Seconds one job takes here, and how that was worked out."""
    task, needs = context.task, context.needs
    if task.cputime and needs.nevents:
        cputime = task.cputime / 1000 if (task.cputimeunit or "").startswith("mHS06") else task.cputime
        cores = needs.cores_on(queue.corecount)
        corepower = float((queue.document or {}).get("corepower") or DEFAULT_COREPOWER)
        efficiency = (task.cpuefficiency or DEFAULT_CPU_EFFICIENCY) / 100
        base = task.basewalltime or 0
        seconds = int(cputime * needs.nevents / (cores * corepower * efficiency) + base)
        how = (
            f"cpuTime {cputime:g} x {needs.nevents} events / ({cores} cores x corepower {corepower:g} x "
            f"cpuEfficiency {efficiency:g}) + baseWalltime {base} s"
        )
        return seconds, how
    return needs.walltime_s, "task walltime"


def check_walltime(queue: PandaQueue, context: Context) -> str | None:
    seconds, how = estimated_walltime(queue, context)
    if not seconds:
        return None
    if queue.maxtime and seconds > queue.maxtime:
        return f"{how} = {seconds} s outside [{queue.mintime}, {queue.maxtime}] (maxtime)"
    if queue.mintime and seconds < queue.mintime:
        return f"{how} = {seconds} s outside [{queue.mintime}, {queue.maxtime}] (mintime)"
    return None


def check_transferring(queue: PandaQueue, context: Context) -> str | None:
    transferring = context.count(queue, "transferring")
    running = context.count(queue, "running")
    limit = (queue.document or {}).get("transferringlimit") or DEFAULT_TRANSFERRING_LIMIT
    if transferring > max(limit, 2 * running):
        return f"transferring {transferring} > max(transferringlimit {limit}, 2 x running {running})"
    return None


PRODUCTION_FILTERS = (
    Filter("status", check_status, skip_if_preassigned=True),
    Filter("inactive", check_inactive, skip_if_preassigned=True),
    Filter("opportunistic", check_opportunistic, skip_if_preassigned=True),
    Filter("cores", check_cores, skip_if_preassigned=True),
    Filter("memory", check_memory, skip_if_preassigned=True),
    Filter("disk", check_disk),
    Filter("storage", check_output_storage),
    Filter("scout", check_scout_maxtime),
    Filter("walltime", check_walltime),
    Filter("transferring", check_transferring),
    Filter("processing", check_processing),
    Filter("pilot", check_pilot),
)


def check_queued(queue: PandaQueue, context: Context) -> str | None:
    """The post-filters: the queue already has more waiting than twice what it runs."""
    running = context.count(queue, "running")
    activated, starting = context.count(queue, "activated"), context.count(queue, "starting")
    defined, assigned = context.count(queue, "defined"), context.count(queue, "assigned")
    if activated + starting > 2 * running:
        return f"activated {activated} + starting {starting} > 2 x running {running}"
    waiting = defined + activated + assigned + starting
    if waiting > 2 * running:
        return (
            f"defined {defined} + activated {activated} + assigned {assigned} + starting {starting} "
            f"= {waiting} > 2 x running {running}"
        )
    return None


def production_weight(queue: PandaQueue, context: Context) -> float:
    running = context.count(queue, "running")
    activated, assigned = context.count(queue, "activated"), context.count(queue, "assigned")
    waiting = activated + assigned + context.count(queue, "starting", "defined")
    many_assigned = max(1.0, min(2.0, assigned / max(activated, 1)))
    weight = (running + 1) / ((waiting + 10) * many_assigned)
    inputs = context.inputs
    total = inputs.total_bytes
    if total:
        n_here, bytes_here = inputs.available_on(queue_endpoints(queue, READ_ACTIVITIES))
        missing = inputs.n_files - n_here
        weight *= (bytes_here + total) / (total * (missing / 100 + 1))
    return weight


def production_job_brokerage(
    task: Task, *, files: Sequence[DatasetContent], scout: bool, rng: random.Random | None = None
) -> BrokerageResult:
    """The queues a chunk of a production task may run on (best 10), with every rejection's reason."""
    files = list(files)
    label = "production brokerage"
    candidates = candidate_queues(task, queues_all())
    if not candidates.queues:
        return record_result(task, candidates, [], {}, label=label)
    merging = any(f.type not in INPUT_TYPES for f in files)
    strict = scout or merging or task.currentpriority >= HIGH_PRIORITY
    names = [q.name for q in candidates.queues]
    context = build_context(
        task,
        files,
        scout=scout,
        candidates=candidates,
        needs_data=True,
        strict=strict,
        started=jobs_started_since(names, utcnow() - dt.timedelta(hours=INACTIVE_HOURS)) if strict else {},
        endpoints=endpoints_by_name(),
    )
    kept, rejected = run_filters(candidates.queues, PRODUCTION_FILTERS, context)
    used = context.task_jobs.used
    if not candidates.preassigned:
        not_full, rejected_queued = run_filters(
            [q for q in kept if q.name not in used], [Filter("queued", check_queued)], context
        )
        kept = [q for q in kept if q.name in used or q.name not in rejected_queued]
        rejected.update(rejected_queued)
    chosen, dropped = rank(
        [q.name for q in kept],
        {q.name: production_weight(q, context) for q in kept},
        used=used,
        top=PRODUCTION_TOP,
        rng=rng,
    )
    rejected.update(dropped)
    return record_result(task, candidates, chosen, rejected, label=label)
