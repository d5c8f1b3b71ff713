"""Sending job updates: heartbeats, the final update (spooled until acknowledged), file mode (-z)."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import TYPE_CHECKING, Any

from pilot import harvester
from pilot.comm.server import PandaServer, UpdateResult
from pilot.comm.transport import TransportError
from pilot.context import PilotContext
from pilot.jobcontrol import backchannel
from pilot.jobcontrol.spool import FinalUpdateSpool
from pilot.jobcontrol.updatedata import build_update

if TYPE_CHECKING:
    from pilot.jobrunner import JobRun

logger = logging.getLogger(__name__)


class JobUpdater:
    """One per job. Every send goes through one lock so a heartbeat never overtakes the final update."""

    def __init__(self, run: JobRun) -> None:
        self.run = run
        self.ctx: PilotContext = run.ctx
        self.lock = threading.Lock()
        self.spool = FinalUpdateSpool(self.ctx.base_dir)

    def heartbeat(self, state: str, *, stop: threading.Event | None = None) -> bool:
        job = self.run.job
        with self.lock:
            if job.completed or job.updates_stopped:
                return True  # running updates after the job completed are suppressed
            job.server_state = state
            if job.debug and job.debug_command:
                job.debug_stdout = backchannel.run_debug_command(self.run)
            data = build_update(self.run, state, final=False)
            if not self.ctx.args.update_server:
                self._write_files(data, state, final=False)
                return True
            return self._send_once(data, stop=stop) is not None

    def _send_once(self, data: dict[str, Any], *, stop: threading.Event | None) -> UpdateResult | None:
        assert self.ctx.server is not None
        try:
            result = self.ctx.server.update_job(data, stop=stop)
        except TransportError as exc:
            logger.warning("update (%s) of job %s failed: %s", data["state"], data["jobId"], exc)
            return None
        self.ctx.server_contact()
        if result.status_code != 0:
            logger.warning(
                "server refused update (%s) of job %s: StatusCode=%s %s",
                data["state"],
                data["jobId"],
                result.status_code,
                result.message,
            )
            return None if not result.permanent_failure else result
        logger.info(
            "update (%s) of job %s accepted; command=%s", data["state"], data["jobId"], result.command or "NULL"
        )
        backchannel.handle_command(self.run, result.command)
        return result

    def final(self, state: str) -> bool:
        """Send (or write) the final update; True once acknowledged. Kept on disk until then."""
        job = self.run.job
        with self.lock:
            job.server_state = state
            data = build_update(self.run, state, final=True)
            os.environ["SERVER_UPDATE"] = "UPDATING_FINAL"
            if not self.ctx.args.update_server:
                self._write_files(data, state, final=True)
                job.completed = True
                os.environ["SERVER_UPDATE"] = "DONE_FINAL"
                return True
            if job.updates_stopped:
                logger.info("server said alreadydone: final update not sent")
                job.completed = True
                return True
            self.spool.save(data)
            ok = send_spooled(
                self.ctx, self.spool, data, max_wait=self.ctx.settings.final_update_max_wait, run=self.run
            )
            job.completed = ok
            os.environ["SERVER_UPDATE"] = "DONE_FINAL" if ok else "TROUBLE"
            return ok

    def _write_files(self, data: dict[str, Any], state: str, *, final: bool) -> None:
        args, home = self.ctx.args, self.ctx.pilot_home
        if not args.harvester:
            harvester.write_heartbeat_message(home, data)
            return
        harvester.publish_work_report(args, home, data, state)
        if final:
            harvester.publish_stageout_files(args, home, self.run.job.jobid, self.run.stageout_report())
            harvester.publish_job_report(args, home, self.run.job.metadata)


def send_spooled(
    ctx: PilotContext, spool: FinalUpdateSpool, data: dict[str, Any], *, max_wait: float, run: JobRun | None = None
) -> bool:
    """Resend a final update until acknowledged or ``max_wait`` passes; the spool file goes on ack."""
    server: PandaServer | None = ctx.server
    if server is None:
        return False
    deadline = time.monotonic() + max_wait
    delay = ctx.settings.http_backoff
    while True:
        try:
            result = server.update_job(data)
        except TransportError as exc:
            logger.warning("final update of job %s not delivered: %s", data["jobId"], exc)
            result = None
        if result is not None:
            ctx.server_contact()
            if result.status_code == 0:
                logger.info(
                    "final update (%s) of job %s acknowledged; command=%s",
                    data["state"],
                    data["jobId"],
                    result.command or "NULL",
                )
                if run is not None:
                    backchannel.handle_command(run, result.command)
                spool.remove(data)
                return True
            if result.permanent_failure:
                logger.error(
                    "server refused the final update of job %s for good: StatusCode=%s %s",
                    data["jobId"],
                    result.status_code,
                    result.message,
                )
                spool.remove(data)
                return False
        if time.monotonic() + delay > deadline:
            logger.error("final update of job %s still not acknowledged; it stays in %s", data["jobId"], spool.path)
            return False
        time.sleep(delay / 2 + random.uniform(0, delay / 2))
        delay = min(delay * 2, ctx.settings.update_retry_delay)


def flush_spool(ctx: PilotContext, *, max_wait: float = 0.0) -> int:
    """Resend final updates left by this or an earlier pilot in the same work dir; returns how many remain."""
    if not ctx.args.update_server or ctx.server is None:
        return 0
    spool = FinalUpdateSpool(ctx.base_dir)
    remaining = 0
    for data in spool.pending():
        if ctx.current is not None and str(data.get("jobId")) == ctx.current.job.jobid:
            continue
        logger.info("resending spooled final update of job %s", data["jobId"])
        if not send_spooled(ctx, spool, data, max_wait=max_wait):
            remaining += 1
    return remaining
