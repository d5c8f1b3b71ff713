"""The updateJob dictionary with pilot 3.11's field names (protocol.md §6.1)."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from pilot import __version__, errors
from pilot.datacontrol.transfer import output_report
from pilot.util import workernode
from pilot.util.files import tail

if TYPE_CHECKING:
    from pilot.jobrunner import JobRun

STDOUT_TAIL = 2048


def time_stamp() -> str:
    """pilot 3.11's ``timestamp`` (accepted and ignored by the server)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def pilot_id(version_tag: str) -> tuple[str, str]:
    """``<id>|[<batch type>|]<versiontag>|<version>`` and the batch ID."""
    base = os.environ.get("GTAG") or "unknown"
    kind, batch_id = workernode.batch_system_id()
    if kind and batch_id:
        return f"{base}|{kind}|{version_tag}|{__version__}", batch_id
    return f"{base}|{version_tag}|{__version__}", ""


def final_state(run: JobRun) -> str:
    return "failed" if run.job.piloterrorcodes else "finished"


def error_code_to_send(run: JobRun) -> int:
    """Analysis jobs send recoverable stage-out errors negated to ask for a retry (§8.1)."""
    code = run.job.piloterrorcode
    if code and run.job.is_analysis and code in errors.RECOVERABLE_PUT_ERRORS:
        return -code
    return code


def build_update(run: JobRun, state: str, *, final: bool) -> dict[str, Any]:
    job, ctx = run.job, run.ctx
    queuedata = ctx.queuedata
    data: dict[str, Any] = {
        "jobId": job.jobid,
        "state": state,
        "timestamp": time_stamp(),
        "siteName": queuedata.resource if queuedata else ctx.args.queue,
        "node": workernode.node_name(),
        "attemptNr": job.attemptnr,
        "schedulerID": os.environ.get("PANDA_JSID", "unknown"),
    }
    data["pilotID"], batch_id = pilot_id(ctx.args.version_tag)
    if batch_id:
        data["batchID"] = batch_id
    if run.getjob_time:
        data["startTime"] = run.getjob_time
    data["xml"] = json.dumps(output_report(job)) if final else ""
    data["metaData"] = job.metadata if final else ""
    data["coreCount"] = job.corecount
    data["cpuConsumptionUnit"] = workernode.cpu_consumption_unit()
    data["cpuConversionFactor"] = 1.0
    level = workernode.cpu_architecture_level()
    if level:
        data["cpu_architecture_level"] = level
    cpu = run.metrics.cpu_time()
    if cpu:
        data["cpuConsumptionTime"] = cpu
    data.update(run.metrics.update_fields(run.payload_elapsed()))
    data["jobMetrics"] = f"coreCount={job.corecount}" + (f" nEvents={job.nevents}" if job.nevents else "")
    if job.nevents:
        data["nEvents"] = job.nevents
    if job.debug and run.payload is not None:
        data["stdout"] = job.debug_stdout or tail(os.path.join(job.workdir, "payload.stdout"), STDOUT_TAIL)
    if final:
        data["endTime"] = time.time()
        data["pilotTiming"] = run.timing.report()
        data["pilotLog"] = tail(ctx.pilot_log, ctx.settings.pilot_log_tail)
        data["transExitCode"] = job.transexitcode
        data["pilotErrorCode"] = error_code_to_send(run)
        data["pilotErrorDiag"] = job.piloterrordiag
        data["exeErrorCode"] = job.exeerrorcode
        data["exeErrorDiag"] = job.exeerrordiag
        data["nInputFiles"] = len(job.indata)
    return data
