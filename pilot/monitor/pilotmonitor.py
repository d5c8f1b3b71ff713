"""Pilot Monitor thread: lifetime, lost server contact, thread health, ``pilot_heartbeat.json``."""

from __future__ import annotations

import logging
import os
import threading
import time

from pilot import errors
from pilot.context import PilotContext
from pilot.util.files import write_json

logger = logging.getLogger(__name__)

HEARTBEAT_FILE = "pilot_heartbeat.json"


class PilotMonitor(threading.Thread):
    def __init__(self, ctx: PilotContext) -> None:
        super().__init__(name="monitor", daemon=True)
        self.ctx = ctx
        self.stop = threading.Event()

    def run(self) -> None:
        next_file = 0.0
        while not self.stop.wait(self.ctx.settings.monitor_poll):
            try:
                now = time.monotonic()
                if now >= next_file:
                    next_file = now + self.ctx.settings.pilot_heartbeat_time
                    self._write_heartbeat_file()
                self._check_lifetime()
                self._check_server_contact()
                self._check_threads()
            except Exception:
                logger.exception("pilot monitor check failed")

    def _write_heartbeat_file(self) -> None:
        path = os.path.join(self.ctx.pilot_home, HEARTBEAT_FILE)
        contact = time.time() - (time.monotonic() - self.ctx.last_server_contact)
        write_json(
            path,
            {"last_pilot_heartbeat": int(time.time()), "last_server_update": int(contact), "pilot_pid": os.getpid()},
        )

    def _check_lifetime(self) -> None:
        lifetime = self.ctx.lifetime()
        reserve = min(self.ctx.settings.stageout_reserve, lifetime * 0.1)
        if self.ctx.elapsed() < lifetime - reserve:
            return
        if not self.ctx.abort.is_set():
            logger.warning("pilot lifetime %.0f s is (nearly) used up: stopping", lifetime)
            self.ctx.abort.set()
        self.ctx.set_exit_error(errors.REACHEDMAXTIME)
        run = self.ctx.current
        if run is not None and run.kill.trip(errors.REACHEDMAXTIME, f"pilot lifetime {int(lifetime)} s reached"):
            logger.warning("killing the payload: lifetime reached")

    def _check_server_contact(self) -> None:
        if not self.ctx.args.update_server or self.ctx.current is None:
            return
        silent = time.monotonic() - self.ctx.last_server_contact
        if silent > self.ctx.settings.lost_heartbeat:
            run = self.ctx.current
            if run.kill.trip(errors.COMMUNICATIONFAILURE, f"no successful server update for {int(silent)} s"):
                logger.error("lost contact with the server for %.0f s: aborting", silent)
                self.ctx.abort.set()
                self.ctx.set_exit_error(errors.COMMUNICATIONFAILURE)

    def _check_threads(self) -> None:
        run = self.ctx.current
        if run is None:
            return
        for thread in run.supervised_threads():
            dead = not thread.is_alive() and not run.finished.is_set()
            if dead and run.kill.trip(errors.INTERNALPILOTPROBLEM, f"thread {thread.name} died"):
                logger.error("thread %s died unexpectedly: failing the job", thread.name)
