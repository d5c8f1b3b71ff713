"""Job Monitor thread: samples the payload and applies the per-job checks while it runs."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from pilot.monitor import checks
from pilot.util.kill import reap_orphans

if TYPE_CHECKING:
    from pilot.jobrunner import JobRun

logger = logging.getLogger(__name__)


class JobMonitor(threading.Thread):
    def __init__(self, run: JobRun) -> None:
        super().__init__(name=f"job_monitor-{run.job.jobid}", daemon=True)
        self.run_ = run
        self.stop = threading.Event()
        self.last_beat = time.monotonic()

    def run(self) -> None:
        settings = self.run_.ctx.settings
        started = time.monotonic()
        due = {
            "memory": started,
            "looping": started + settings.looping_verification_time,
            "disk": started + settings.disk_check_time,
            "process": started + settings.process_check_time,
        }
        while not self.stop.wait(settings.monitor_poll):
            self.last_beat = time.monotonic()
            try:
                self._tick(due)
            except Exception:  # a monitoring bug must not stop the monitoring
                logger.exception("job monitor check failed")

    def _tick(self, due: dict[str, float]) -> None:
        run = self.run_
        payload = run.payload
        if payload is None or run.kill.tripped:
            return
        settings, queuedata, job = run.ctx.settings, run.ctx.queuedata, run.job
        now = time.monotonic()
        if now >= due["memory"]:
            due["memory"] = now + settings.memory_check_time
            reap_orphans()
            pids = [t.pid for t in payload.killer.targets()]
            sample = run.metrics.sample(pids) if pids else None
            if queuedata is not None and sample is not None:
                self._trip(*checks.check_memory(sample.pss, checks.memory_limit_kb(job, queuedata)))
            self._trip(*checks.check_stdout_size(job, limit_kb=settings.stdout_size_limit_kb))
        if now >= due["looping"]:
            due["looping"] = now + settings.looping_verification_time
            limit = checks.looping_limit(
                default=settings.looping_limit_default, minimum=settings.looping_limit_min_default
            )
            self._trip(
                *checks.check_looping(job, now=time.time(), payload_started=run.payload_started_wall, limit=limit)
            )
        if now >= due["disk"] and queuedata is not None:
            due["disk"] = now + settings.disk_check_time
            self._trip(*checks.check_disk(job, queuedata, min_free_mb=settings.local_space_limit_mb))
        if now >= due["process"]:
            due["process"] = now + settings.process_check_time
            logger.info("payload has %d processes (max %d)", run.metrics.nprocesses, run.metrics.max_nprocesses)

    def _trip(self, code: int, detail: str) -> None:
        if code and self.run_.kill.trip(code, detail):
            logger.warning("job monitor: %s", detail)
