"""The per-job checks of pilot-harvester.md §7, as plain functions of what they look at."""

from __future__ import annotations

import fnmatch
import os

from pilot import errors
from pilot.info.queuedata import QueueData
from pilot.jobcontrol.jobspec import Job
from pilot.util.workernode import free_space_mb

# Files whose changes do not prove the payload is alive.
LOOPING_IGNORED = ("pilotlog*", "*.lib.tgz", "*.py", "pandaJob*", "pilot_heartbeat.json", "heartbeat.json")


def newest_mtime(workdir: str, *, not_before: float) -> float:
    newest = not_before
    for root, _dirs, files in os.walk(workdir):
        for name in files:
            if any(fnmatch.fnmatch(name, pattern) for pattern in LOOPING_IGNORED):
                continue
            try:
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
            except OSError:
                continue
    return newest


def looping_limit(*, default: float, minimum: float) -> float:
    return max(default, minimum)


def check_looping(job: Job, *, now: float, payload_started: float, limit: float) -> tuple[int, str]:
    if not job.looping_check:
        return 0, ""
    idle = now - newest_mtime(job.workdir, not_before=payload_started)
    if idle > limit:
        return errors.LOOPINGJOB, f"no file in the job dir was modified for {int(idle)} s (limit {int(limit)} s)"
    return 0, ""


def memory_limit_kb(job: Job, queuedata: QueueData) -> int:
    """``pilot_rss_grace x maxrss`` scaled to the job's cores (fallback ``minRamCount``), in kB; 0 = no check."""
    grace = queuedata.pilot_rss_grace or 2.0
    if queuedata.maxrss > 0:
        scale = job.corecount / queuedata.corecount if queuedata.corecount else 1.0
        limit_mb = grace * queuedata.maxrss * scale
    elif job.minramcount > 0:
        limit_mb = grace * job.minramcount
    else:
        return 0
    kill_factor = queuedata.memkillgrace / 100 if queuedata.memkillgrace > 1 else 1.0
    return int(limit_mb * 1024 * kill_factor)


def check_memory(pss_kb: int, limit_kb: int) -> tuple[int, str]:
    if limit_kb and pss_kb > limit_kb:
        return errors.PAYLOADEXCEEDMAXMEM, f"job has exceeded the memory limit {pss_kb} kB > {limit_kb} kB"
    return 0, ""


def directory_size_mb(path: str) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total / (1024 * 1024)


def check_disk(job: Job, queuedata: QueueData, *, min_free_mb: int) -> tuple[int, str]:
    if queuedata.maxwdir > 0:
        limit = queuedata.maxwdir * queuedata.pilot_maxwdir_grace
        size = directory_size_mb(job.workdir)
        if size > limit:
            return errors.USERDIRTOOLARGE, f"work dir is {size:.0f} MB > {limit:.0f} MB"
    if min_free_mb > 0:
        free = free_space_mb(job.workdir)
        if free < min_free_mb:
            return errors.NOLOCALSPACE, f"{free} MB free < {min_free_mb} MB"
    return 0, ""


def check_stdout_size(job: Job, *, limit_kb: int) -> tuple[int, str]:
    path = os.path.join(job.workdir, "payload.stdout")
    try:
        size_kb = os.path.getsize(path) // 1024
    except OSError:
        return 0, ""
    if limit_kb and size_kb > limit_kb:
        return errors.STDOUTTOOBIG, f"payload.stdout is {size_kb} kB > {limit_kb} kB"
    return 0, ""
