"""The queue filters of job brokerage (jedi.md §10.1, §10.3) and the pipeline that runs them.

A filter is a function ``(queue, context) -> str | None``: ``None`` keeps the queue, a string
says why it is rejected, with the numbers it compared. The pipeline prefixes the filter's name,
so a recorded reason reads ``memory: ramCount 4000 MB x corecount 1 = 4000 MB outside [0, 2000]
(maxrss)`` and the explanation can group rejections by filter. The first failing filter decides.
"""

import datetime as dt
import fnmatch
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from apps.brokerage.services.grid import READ_ACTIVITIES, InputLocations, TaskJobs, hours_ago, queue_endpoints
from apps.brokerage.services.needs import JobNeeds
from apps.jedi.models import Task
from apps.sites.models import PandaQueue, QueueStatus, QueueType

PILOT_SEEN_HOURS = 3
# Labels whose jobs go to queues without recent pilots (test submissions wait for the pilot).
TEST_LABELS = frozenset({"test", "ptest", "rc_test", "rc_test2"})
ANALYSIS_TYPES = (QueueType.ANALYSIS, QueueType.UNIFIED)
# §10.3: data locality is not required from very high priority or low-IO analysis tasks.
ANALYSIS_PRIORITY_ANY_DATA = 2000
LOW_IO_INTENSITY = 200  # kB/s
QUEUE_FULL_MIN_RUNNING = 20
MIN_BAD_JOBS_TO_SKIP_PQ = 100
QUEUED_STATES = ("defined", "assigned", "activated", "starting")


@dataclass
class Context:
    task: Task
    needs: JobNeeds
    scout: bool
    preassigned: bool
    counts: dict[str, Counter]
    pilots: dict[str, dt.datetime]
    inputs: InputLocations
    task_jobs: TaskJobs
    now: dt.datetime
    extra: dict = field(default_factory=dict)  # per-broker data (started jobs, endpoints, ...)

    def count(self, queue: PandaQueue, *states: str) -> int:
        per_state = self.counts.get(queue.name, Counter())
        return sum(per_state[state] for state in states)


Check = Callable[[PandaQueue, Context], str | None]


@dataclass(frozen=True)
class Filter:
    name: str
    check: Check
    skip_if_preassigned: bool = False


def run_filters(
    queues: Sequence[PandaQueue], filters: Sequence[Filter], context: Context
) -> tuple[list[PandaQueue], dict[str, str]]:
    """The queues every filter keeps, and ``{queue: "<filter>: <why>"}`` for the others."""
    kept: list[PandaQueue] = []
    rejected: dict[str, str] = {}
    for queue in queues:
        for flt in filters:
            if flt.skip_if_preassigned and context.preassigned:
                continue
            why = flt.check(queue, context)
            if why is not None:
                rejected[queue.name] = f"{flt.name}: {why}"
                break
        else:
            kept.append(queue)
    return kept, rejected


def _bounds(value: float, low: int, high: int, *, low_name: str, high_name: str) -> str | None:
    """``None`` when ``value`` is within the non-zero bounds, else which bound it broke."""
    if high and value > high:
        return f"outside [{low}, {high}] ({high_name})"
    if low and value < low:
        return f"outside [{low}, {high}] ({low_name})"
    return None


def catchall_value(queue: PandaQueue, key: str) -> str | None:
    """``key=value`` in the comma-separated ``catchall`` (values may list items with ``|``)."""
    for flag in queue.catchall_flags:
        name, sep, value = flag.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return None


# --- jedi.md §10.1 ------------------------------------------------------------------------


def check_status(queue: PandaQueue, context: Context) -> str | None:
    if queue.status != QueueStatus.ONLINE:
        return f"{queue.status} (not online)"
    return None


def check_scratch(queue: PandaQueue, context: Context) -> str | None:
    if not queue.maxwdir:
        return None
    needs = context.needs
    direct_io = bool((queue.document or {}).get("direct_access_lan"))
    input_mb = 0.0 if direct_io else needs.input_mb
    total = needs.out_disk_mb + needs.work_disk_mb + input_mb
    if total <= queue.maxwdir:
        return None
    input_text = "input 0 MB (direct I/O)" if direct_io else f"largest input {needs.input_mb:.0f} MB"
    return (
        f"outDisk {needs.out_disk_mb:.0f} MB + workDisk {needs.work_disk_mb:.0f} MB + {input_text} "
        f"= {total:.0f} MB > maxwdir {queue.maxwdir} MB"
    )


def check_walltime(queue: PandaQueue, context: Context) -> str | None:
    walltime = context.needs.walltime_s
    if not walltime:
        return None
    broken = _bounds(walltime, queue.mintime, queue.maxtime, low_name="mintime", high_name="maxtime")
    return f"task walltime {walltime} s {broken}" if broken else None


def check_cores(queue: PandaQueue, context: Context) -> str | None:
    wanted = context.needs.cores
    slot = queue.corecount
    if wanted == 0:  # the task takes whatever the queue's slot has
        return None
    if wanted == 1:
        if slot in (None, 0, 1, -1):
            return None
        return f"task coreCount 1 needs queue corecount 0, 1 or -1, queue has {slot}"
    if slot in (None, 0, -1) or slot >= wanted:
        return None
    return f"task coreCount {wanted} needs queue corecount 0, -1 or >= {wanted}, queue has {slot}"


def check_memory(queue: PandaQueue, context: Context) -> str | None:
    needs = context.needs
    if not needs.ram_mb:
        return None
    cores = needs.cores_on(queue.corecount)
    total = needs.ram_total_mb(cores)
    broken = _bounds(total, queue.minrss, queue.maxrss, low_name="minrss", high_name="maxrss")
    return f"{needs.ram_formula(cores)} = {total} MB {broken}" if broken else None


def check_processing(queue: PandaQueue, context: Context) -> str | None:
    processing = context.task.processingtype or ""
    allowed = catchall_value(queue, "allowed_processing")
    if allowed:
        items = [item for item in allowed.split("|") if item]
        if processing not in items:
            return f"processingType {processing or '(none)'} not in allowed_processing [{', '.join(items)}]"
    excluded = catchall_value(queue, "excluded_processing")
    if excluded:
        items = [item for item in excluded.split("|") if item]
        if processing in items:
            return f"processingType {processing} in excluded_processing [{', '.join(items)}]"
    return None


def check_pilot(queue: PandaQueue, context: Context) -> str | None:
    if context.task.prodsourcelabel in TEST_LABELS or "allow_no_pilot" in queue.catchall_flags:
        return None
    last = context.pilots.get(queue.name)
    if last is None:
        return "no pilot getJob ever recorded"
    age = hours_ago(last, context.now)
    if age > PILOT_SEEN_HOURS:
        return f"last pilot getJob {last:%Y-%m-%d %H:%M} UTC, {age:.1f} h ago > {PILOT_SEEN_HOURS} h"
    return None


def _missing_inputs(queue: PandaQueue, context: Context) -> tuple[int, int, list[str]]:
    endpoints = queue_endpoints(queue, READ_ACTIVITIES)
    n_here, _ = context.inputs.available_on(endpoints)
    return n_here, context.inputs.n_files, endpoints


def check_data(queue: PandaQueue, context: Context) -> str | None:
    """Files are dispatched to the queue's storage when needed, except where the queue says
    ``disable_file_dispatch``: those queues must already hold every input."""
    if not context.inputs.n_files or "disable_file_dispatch" not in queue.catchall_flags:
        return None
    n_here, n_files, endpoints = _missing_inputs(queue, context)
    if n_here < n_files:
        return (
            f"{n_here} of {n_files} input files on read endpoints [{', '.join(endpoints)}] "
            "(disable_file_dispatch needs all)"
        )
    return None


GENERIC_FILTERS = (
    Filter("status", check_status, skip_if_preassigned=True),
    Filter("scratch", check_scratch),
    Filter("walltime", check_walltime),
    Filter("cores", check_cores, skip_if_preassigned=True),
    Filter("memory", check_memory, skip_if_preassigned=True),
    Filter("processing", check_processing),
    Filter("pilot", check_pilot),
    Filter("data", check_data),
)


# --- jedi.md §10.3 (analysis) -------------------------------------------------------------


def _patterns(value) -> list[str]:
    """``includedSite``/``excludedSite``: a list or a comma-separated string of names (``*`` allowed)."""
    if not value:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _matches(queue: PandaQueue, patterns: list[str]) -> str | None:
    for pattern in patterns:
        if fnmatch.fnmatchcase(queue.name, pattern) or fnmatch.fnmatchcase(queue.site.name, pattern):
            return pattern
    return None


def check_queue_type(queue: PandaQueue, context: Context) -> str | None:
    if queue.type in ANALYSIS_TYPES:
        return None
    return f"{queue.type} queue (analysis needs analysis or unified)"


def check_included_site(queue: PandaQueue, context: Context) -> str | None:
    included = _patterns(context.extra.get("params", {}).get("includedSite"))
    if included and _matches(queue, included) is None:
        return f"not in includedSite [{', '.join(included)}]"
    return None


def check_excluded_site(queue: PandaQueue, context: Context) -> str | None:
    pattern = _matches(queue, _patterns(context.extra.get("params", {}).get("excludedSite")))
    return f"matches excludedSite {pattern!r}" if pattern is not None else None


def check_data_locality(queue: PandaQueue, context: Context) -> str | None:
    """Analysis jobs run where their data is (at least part of the chunk on a read endpoint)."""
    task = context.task
    if not context.inputs.n_files or task.currentpriority >= ANALYSIS_PRIORITY_ANY_DATA:
        return None
    if task.iointensity is not None and task.iointensity < LOW_IO_INTENSITY:
        return None
    n_here, n_files, endpoints = _missing_inputs(queue, context)
    if n_here == 0:
        return f"0 of {n_files} input files on read endpoints [{', '.join(endpoints) or 'none'}]"
    return check_data(queue, context)


def check_queue_full(queue: PandaQueue, context: Context) -> str | None:
    queued = context.count(queue, *QUEUED_STATES)
    running = context.count(queue, "running")
    limit = 2 * max(QUEUE_FULL_MIN_RUNNING, running)
    if queued > limit:
        return f"queued {queued} > 2 x max({QUEUE_FULL_MIN_RUNNING}, running {running}) = {limit}"
    return None


def check_task_failures(queue: PandaQueue, context: Context) -> str | None:
    recent = context.task_jobs.recent.get(queue.name, Counter())
    bad = recent["failed"] + recent["closed"]
    finished = recent["finished"]
    minimum = context.extra.get("min_bad_jobs", MIN_BAD_JOBS_TO_SKIP_PQ)
    if bad and bad >= max(2 * finished, minimum):
        return f"failed+closed {bad} >= max(2 x finished {finished}, {minimum}) for this task recently"
    return None


ANALYSIS_FILTERS = (
    Filter("type", check_queue_type),
    Filter("includedSite", check_included_site),
    Filter("excludedSite", check_excluded_site),
    Filter("status", check_status, skip_if_preassigned=True),
    Filter("scratch", check_scratch),
    Filter("walltime", check_walltime),
    Filter("cores", check_cores, skip_if_preassigned=True),
    Filter("memory", check_memory, skip_if_preassigned=True),
    Filter("processing", check_processing),
    Filter("pilot", check_pilot),
    Filter("data", check_data_locality),
    Filter("queue full", check_queue_full),
    Filter("task failures", check_task_failures),
)
