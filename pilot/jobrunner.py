"""One job from getJob to its final update: the hand-offs between the five components."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from typing import Any

from pilot import errors
from pilot.context import PilotContext
from pilot.datacontrol.logtarball import create_log_tarball
from pilot.datacontrol.transfer import TransferAborted, Transfers
from pilot.errors import PilotError
from pilot.jobcontrol.heartbeat import Heartbeat
from pilot.jobcontrol.jobspec import Job
from pilot.jobcontrol.killswitch import KillSwitch
from pilot.jobcontrol.updatedata import final_state
from pilot.jobcontrol.updater import JobUpdater
from pilot.monitor.jobmonitor import JobMonitor
from pilot.monitor.metrics import JobMetrics
from pilot.payload.executor import Payload, payload_environment, start_payload
from pilot.payload.interpret import interpret_payload_exit
from pilot.payload.transformation import prepare_transformation
from pilot.timing import Timing
from pilot.util.kill import reap_orphans
from pilot.util.workernode import free_space_mb

logger = logging.getLogger(__name__)

MAX_LFN_LENGTH = 255


class JobRun:
    def __init__(self, ctx: PilotContext, job: Job, *, getjob_time: float, getjob_seconds: float) -> None:
        self.ctx = ctx
        self.job = job
        self.getjob_time = getjob_time
        self.kill = KillSwitch()
        self.metrics = JobMetrics()
        self.timing = Timing()
        self.timing.add("getjob", getjob_seconds)
        self.payload: Payload | None = None
        self.payload_started = 0.0
        self.payload_started_wall = 0.0
        self.payload_ended = 0.0
        self.killed_by_server = False
        self.finished = threading.Event()
        self.updater = JobUpdater(self)
        self.heartbeat = Heartbeat(self)
        self.monitor: JobMonitor | None = None

    # -- used by the monitors and the update builder --------------------------------------------------
    def supervised_threads(self) -> list[threading.Thread]:
        threads: list[threading.Thread] = []
        if self.heartbeat.is_alive() or not self.heartbeat.stop.is_set():
            threads.append(self.heartbeat)
        if self.monitor is not None and not self.monitor.stop.is_set():
            threads.append(self.monitor)
        return [t for t in threads if t.ident is not None]

    def payload_elapsed(self) -> float:
        if not self.payload_started:
            return 0.0
        return (self.payload_ended or time.monotonic()) - self.payload_started

    def stageout_report(self) -> list[dict[str, Any]]:
        """Entries of ``event_status.dump.json`` for Harvester's stager."""
        entries = []
        for spec in self.job.logdata + self.job.outdata:
            if spec.status != "transferred":
                continue
            entries.append(
                {
                    "type": spec.filetype,
                    "path": spec.path,
                    "guid": spec.guid,
                    "fsize": spec.filesize,
                    "chksum": spec.adler32,
                }
            )
        return entries

    # -- the job ---------------------------------------------------------------------------------------
    def execute(self) -> None:
        self.ctx.current = self
        job = self.job
        logger.info("processing job %s (task %s, attempt %s)", job.jobid, job.taskid, job.attemptnr)
        try:
            with self.timing.measure("setup"):
                self._setup()
            self._validate()
            with self.timing.measure("stagein"):
                self._stage_in()
            self._run_payload()
            with self.timing.measure("stageout"):
                self._stage_out_outputs()
        except PilotError as exc:
            logger.error("job %s: %s", job.jobid, exc.diag)
            job.add_error(exc.code, diag=exc.diag)
        except TransferAborted:
            logger.warning("transfers of job %s stopped: the job is being killed", job.jobid)
        except Exception as exc:  # any bug still ends in a reported job
            logger.exception("unexpected failure in job %s", job.jobid)
            job.add_error(errors.UNKNOWNEXCEPTION, str(exc))
        finally:
            self._finish()

    def _setup(self) -> None:
        job = self.job
        job.workdir = os.path.join(self.ctx.pilot_home, f"PanDA_Pilot-{job.jobid}")
        try:
            os.makedirs(job.workdir, exist_ok=True)
        except OSError as exc:
            raise PilotError(errors.MKDIR, f"{job.workdir}: {exc}") from None
        os.environ["PILOT_JOB_STATE"] = "setup"
        queuedata, server = self.ctx.queuedata, self.ctx.server
        if queuedata is not None and queuedata.catchall_flag("setdebugmode") and server is not None:
            job.debug = server.set_debug_mode(job.jobid, True) or job.debug
        self.heartbeat.start()

    def _validate(self) -> None:
        for spec in self.job.indata + self.job.outdata + self.job.logdata:
            if len(spec.lfn) > MAX_LFN_LENGTH:
                raise PilotError(errors.LFNTOOLONG, spec.lfn)
        limit = self.ctx.settings.local_space_limit_mb
        if limit and free_space_mb(self.job.workdir) < limit:
            raise PilotError(errors.NOLOCALSPACE, f"less than {limit} MB free in {self.job.workdir}")

    def _transfers(self) -> Transfers:
        assert self.ctx.queuedata is not None
        return Transfers(
            job=self.job,
            queuedata=self.ctx.queuedata,
            storage=self.ctx.storage,
            pilot_home=self.ctx.pilot_home,
            should_stop=lambda: self.kill.tripped,
            stageout_attempts=self.ctx.args.stageout_attempts,
        )

    def _stage_in(self) -> None:
        os.environ["PILOT_JOB_STATE"] = "stagein"
        if self.job.indata:
            self._transfers().stage_in()
        self.heartbeat.send_now("running")

    def _run_payload(self) -> None:
        job, ctx = self.job, self.ctx
        if self.kill.tripped:
            return
        os.environ["PILOT_JOB_STATE"] = "payload"
        base_urls = ctx.args.base_urls or ([ctx.server.base_url] if ctx.server else [])
        command = prepare_transformation(transformation=job.transformation, jobdir=job.workdir, base_urls=base_urls)
        if job.jobpars:
            command = f"{command} {job.jobpars}"
        env = payload_environment(
            {
                "PandaID": job.jobid,
                "PanDA_TaskID": job.taskid,
                "PANDA_RESOURCE": ctx.queuedata.resource if ctx.queuedata else ctx.args.queue,
                "ATHENA_CORE_NUMBER": str(job.corecount),
                "PILOT_JOB_WORKDIR": job.workdir,
            }
        )
        if self.kill.tripped:
            return
        self.metrics.start()
        self.payload = start_payload(command=command, jobdir=job.workdir, env=env, kill_grace=ctx.settings.kill_grace)
        job.pid = self.payload.pid
        self.payload_started, self.payload_started_wall = time.monotonic(), time.time()
        self.heartbeat.send_now("running")
        self.monitor = JobMonitor(self)
        self.monitor.start()
        try:
            exit_code = self._wait_payload(self.payload)
        finally:
            self.payload_ended = time.monotonic()
            self.monitor.stop.set()
            self.metrics.finish()
            self.timing.add("payload", self.payload_elapsed())
        if self.kill.tripped:
            job.add_error(self.kill.code, self.kill.detail)
        interpret_payload_exit(job, exit_code)
        logger.info("payload of job %s ended: exit code %d", job.jobid, exit_code)

    def _wait_payload(self, payload: Payload) -> int:
        poll = self.ctx.settings.monitor_poll
        while True:
            code = payload.poll()
            if code is not None:
                break
            if self.kill.wait(poll):
                logger.warning(
                    "killing payload of job %s: %s", self.job.jobid, errors.diag(self.kill.code, self.kill.detail)
                )
                payload.killer.kill()
                code = payload.process.wait()
                payload.poll()
                break
        if os.environ.get("PILOT_NOKILL") != "1" and payload.killer.alive():
            logger.info("terminating processes the payload left behind")
            payload.killer.kill()
        reap_orphans()
        return 128 - code if code < 0 else code

    def _stage_out_outputs(self) -> None:
        if self.job.piloterrorcodes or self.kill.tripped or not self.job.outdata:
            return
        os.environ["PILOT_JOB_STATE"] = "stageout"
        self._transfers().stage_out(self.job.outdata, kind="output")

    def _stage_out_log(self) -> None:
        job = self.job
        if not job.logdata or not job.workdir or not os.path.isdir(job.workdir):
            return
        with self.timing.measure("stageout"):
            try:
                create_log_tarball(job=job, queue=self.ctx.args.queue, pilot_log=self.ctx.pilot_log)
            except OSError as exc:
                job.add_error(errors.LOGFILECREATIONFAILURE, str(exc))
                return
            try:
                self._transfers().stage_out(job.logdata, kind="log")
            except (PilotError, TransferAborted) as exc:
                code, diag = (exc.code, exc.diag) if isinstance(exc, PilotError) else (errors.STAGEOUTFAILED, "")
                logger.error("log stage-out of job %s failed: %s", job.jobid, diag)
                job.add_error(code, diag=diag or None)

    def _finish(self) -> None:
        job = self.job
        if self.kill.tripped:
            job.add_error(self.kill.code, self.kill.detail)
        try:
            self._stage_out_log()
        except Exception as exc:
            logger.exception("log handling failed")
            job.add_error(errors.LOGFILECREATIONFAILURE, str(exc))
        state = final_state(self)
        job.state = state
        os.environ["PILOT_JOB_STATE"] = state
        self.heartbeat.finish()
        logger.info("job %s %s (pilot error %s: %s)", job.jobid, state, job.piloterrorcode, job.piloterrordiag)
        acknowledged = self.updater.final(state)
        if not acknowledged:
            self.ctx.set_exit_error(errors.COMMUNICATIONFAILURE)
        self.finished.set()
        if self.ctx.args.cleanup and job.workdir and os.path.isdir(job.workdir):
            shutil.rmtree(job.workdir, ignore_errors=True)
        self.ctx.current = None
