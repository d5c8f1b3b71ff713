"""Scouts and the avalanche (jedi.md §7): measure the first jobs of a task, then generate the rest.

A task generates its first chunks as scout jobs (``specialHandling`` ``sj``) and waits in
``scouting``; only once: a task whose scouting is over (:func:`scouted_before`) does not scout
again when a retry brings it back to ``ready``. Each JobGenerator cycle calls
:func:`scouting_check`: once at least half of the scouts finished, the task's resource figures
are measured from the successful scouts and stored on the task (``scoutmetricstime``), and the
task goes ``running`` (the avalanche). Scouts that
mostly failed, or that show a problem no retry fixes (very low CPU efficiency or very short jobs
for production), send the task to ``exhausted`` with the reason.

Only scouts that ran count: a scout killed before it ended (``closed`` by a reassign with code 51,
``cancelled`` by a kill) says nothing about the task, so "half" is of the scouts that ended by
running (``finished`` or ``failed``) or may still do so (not final). When every scout was killed
there is nothing to measure and the task goes ``running`` with its own figures.

Metrics (successful scouts only):

* ``cputime`` (HS06 s per event): 95th percentile of ``(walltime - baseWalltime) x corepower x
  coreCount x cpuEfficiency x 1.5 / nEvents``;
* ``ramcount`` (MB per core): 75th percentile of ``(maxPSS - baseRamCount) / coreCount`` x
  :data:`RAM_MARGIN`;
* ``outdiskcount`` (kB per event): 75th percentile of output bytes per event;
* ``walltime``: the longest scout (seconds).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from apps.core.timeutil import utcnow
from apps.jedi.models import Task, TaskStatusLog
from apps.jedi.services.transitions import task_change_status
from apps.jedi.states import TaskStatus
from apps.jobs.models import Job
from apps.jobs.states import FINAL, JobStatus
from apps.sites.models import PandaQueue

SCOUT_TAG = "sj"
AVALANCHE_FRACTION = 0.5
CPU_SAFETY = 1.5
RAM_MARGIN = 1.1
MIN_CPU_EFFICIENCY = 0.1  # production scouts using less than 10 % of their cores' time
MIN_SCOUT_WALLTIME = 60  # production scouts finishing within a minute do nothing useful
DEFAULT_COREPOWER = 10.0
RAN = frozenset({JobStatus.FINISHED, JobStatus.FAILED})  # scouts that ended by running


@dataclass
class ScoutMetrics:
    n_scouts: int
    cputime: float | None = None
    ramcount: int | None = None
    outdiskcount: float | None = None
    walltime: int | None = None
    cpu_efficiency: float | None = None
    median_walltime: float | None = None


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def scout_jobs(task: Task) -> list[Job]:
    candidates = Job.objects.filter(jeditaskid=task.jeditaskid, specialhandling__contains=SCOUT_TAG).only(
        "pandaid",
        "jobstatus",
        "specialhandling",
        "starttime",
        "endtime",
        "nevents",
        "corecount",
        "actualcorecount",
        "maxpss",
        "outputfilebytes",
        "cpuconsumptiontime",
        "computingsite",
    )
    return [job for job in candidates if SCOUT_TAG in job.special_handling_flags]


def measure(task: Task, jobs: Sequence[Job]) -> ScoutMetrics:
    """The metrics of the module docstring from successful scout jobs."""
    done = [job for job in jobs if job.jobstatus == JobStatus.FINISHED]
    metrics = ScoutMetrics(n_scouts=len(done))
    if not done:
        return metrics
    sites = {job.computingsite for job in done}
    corepower = {
        q.name: float((q.document or {}).get("corepower") or DEFAULT_COREPOWER)
        for q in PandaQueue.objects.filter(name__in=sites)
    }
    efficiency = (task.cpuefficiency or 100) / 100
    base_wall = task.basewalltime or 0
    base_ram = task.baseramcount or 0
    cpu, ram, out, walls, effs = [], [], [], [], []
    for job in done:
        cores = job.actualcorecount or job.corecount or 1
        wall = (job.endtime - job.starttime).total_seconds() if job.starttime and job.endtime else None
        if wall is not None:
            walls.append(wall)
            if wall > 0 and job.cpuconsumptiontime:
                effs.append(job.cpuconsumptiontime / (wall * cores))
        if wall is not None and job.nevents:
            power = corepower.get(job.computingsite, DEFAULT_COREPOWER)
            cpu.append(max(wall - base_wall, 0) * power * cores * efficiency * CPU_SAFETY / job.nevents)
        if job.maxpss:
            ram.append(max(job.maxpss / 1024 - base_ram, 0) / cores)
        if job.nevents and job.outputfilebytes:
            out.append(job.outputfilebytes / 1024 / job.nevents)
    if cpu:
        metrics.cputime = round(percentile(cpu, 95), 3)
    if ram:
        metrics.ramcount = math.ceil(percentile(ram, 75) * RAM_MARGIN)
    if out:
        metrics.outdiskcount = round(percentile(out, 75), 3)
    if walls:
        metrics.walltime = int(max(walls))
        metrics.median_walltime = percentile(walls, 50)
    if effs:
        metrics.cpu_efficiency = percentile(effs, 50)
    return metrics


def bad_scouts(task: Task, metrics: ScoutMetrics) -> str | None:
    """Why the scouts show a problem more jobs would only repeat (production tasks), or None."""
    if task.prodsourcelabel not in ("managed", "test"):
        return None
    if metrics.cpu_efficiency is not None and metrics.cpu_efficiency < MIN_CPU_EFFICIENCY:
        return f"scout jobs used only {metrics.cpu_efficiency:.0%} of their CPU time"
    if metrics.median_walltime is not None and metrics.median_walltime < MIN_SCOUT_WALLTIME:
        return f"scout jobs ran only {metrics.median_walltime:.0f} s: too short, increase the input per job"
    return None


def scouted_before(task: Task) -> bool:
    """Whether the task's scouting is over: it once left ``scouting``/``scouted`` for ``running`` or
    ``prepared``. A task back in ``ready`` after that (a retry, a reassign) generates no scouts again
    (upstream marks such a task post-scout in its split rule)."""
    return TaskStatusLog.objects.filter(
        jeditaskid=task.jeditaskid,
        oldstatus__in=(TaskStatus.SCOUTING, TaskStatus.SCOUTED),
        status__in=(TaskStatus.RUNNING, TaskStatus.PREPARED),
    ).exists()


def scouting_check(task: Task, *, rules: dict | None = None) -> str:
    """The avalanche decision for a ``scouting`` task; answers the task's status afterwards."""
    # Scouts killed before they ended (closed, cancelled) are left out: see the module docstring.
    scouts = scout_jobs(task)
    jobs = [job for job in scouts if job.jobstatus not in FINAL or job.jobstatus in RAN]
    total = len(jobs)
    finished = sum(1 for job in jobs if job.jobstatus == JobStatus.FINISHED)
    ran = sum(1 for job in jobs if job.jobstatus in RAN)
    if total and finished < AVALANCHE_FRACTION * total:
        if ran < total:
            return TaskStatus.SCOUTING
        that_ran = "that ran " if len(jobs) < len(scouts) else ""
        reason = f"only {finished} of {total} scout jobs {that_ran}succeeded"
        task_change_status(task, new=TaskStatus.EXHAUSTED, reason=reason)
        return TaskStatus.EXHAUSTED
    metrics = measure(task, jobs)
    problem = bad_scouts(task, metrics)
    if problem:
        task_change_status(task, new=TaskStatus.EXHAUSTED, reason=problem)
        return TaskStatus.EXHAUSTED
    changes = {"scoutmetricstime": utcnow()}
    if metrics.cputime is not None:
        changes.update(cputime=metrics.cputime, cputimeunit="HS06sPerEvent")
    if metrics.ramcount is not None:
        changes.update(ramcount=metrics.ramcount, ramunit="MBPerCore")
    if metrics.outdiskcount is not None:
        changes.update(outdiskcount=metrics.outdiskcount, outdiskunit="kB")
    if metrics.walltime is not None:
        changes.update(walltime=metrics.walltime, walltimeunit="s")
    reason = f"avalanche: {finished} of {total} scout jobs finished"
    task_change_status(task, new=TaskStatus.RUNNING, changes=changes, reason=reason)
    return TaskStatus.RUNNING
