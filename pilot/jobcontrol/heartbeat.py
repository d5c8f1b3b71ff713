"""Heartbeat thread: ``running`` updates every 1800 s (60 s in debug mode), or now when asked."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pilot.jobrunner import JobRun

logger = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    def __init__(self, run: JobRun) -> None:
        super().__init__(name=f"heartbeat-{run.job.jobid}", daemon=True)
        self.run_ = run
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.state = "starting"
        self.last_beat = time.monotonic()

    def send_now(self, state: str) -> None:
        self.state = state
        self.wake.set()

    def period(self) -> float:
        settings = self.run_.ctx.settings
        if self.run_.ctx.args.heartbeat is not None:
            base = float(self.run_.ctx.args.heartbeat)
            return min(base, settings.debug_heartbeat) if self.run_.job.debug else base
        return settings.heartbeat_period(self.run_.job.debug)

    def run(self) -> None:
        updater = self.run_.updater
        next_due = 0.0  # the first update (starting) goes out at once
        while not self.stop.is_set():
            self.last_beat = time.monotonic()
            timeout = max(0.0, next_due - time.monotonic())
            woken = self.wake.wait(timeout)
            if self.stop.is_set():
                break
            self.wake.clear()
            if not woken and time.monotonic() < next_due:
                continue
            try:
                ok = updater.heartbeat(self.state, stop=self.stop)
            except Exception:  # keep beating whatever happens in one attempt
                logger.exception("heartbeat failed")
                ok = False
            period = self.period()
            retry = min(period, self.run_.ctx.settings.update_retry_delay)
            next_due = time.monotonic() + (period if ok else retry)

    def finish(self) -> None:
        self.stop.set()
        self.wake.set()
