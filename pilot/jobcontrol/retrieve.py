"""Getting a job definition: from the server (getJob) or from a pre-placed file (PUSH / Harvester)."""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from pilot import errors, harvester
from pilot.comm.transport import TransportError
from pilot.context import PilotContext
from pilot.jobcontrol.updater import flush_spool
from pilot.util import workernode

logger = logging.getLogger(__name__)


@dataclass
class Retrieved:
    definition: dict[str, Any] | None
    error: int = 0  # why there is no job: NOJOBSINPANDA, COMMUNICATIONFAILURE, ...
    seconds: float = 0.0


def job_label(ctx: PilotContext) -> str:
    """The prodSourceLabel to ask for, as pilot 3.11's get_job_label decides it."""
    args, status = ctx.args, ctx.queuedata.status if ctx.queuedata else ""
    if args.version_tag == "RC" and args.job_label in ("rc_test2", "ptest"):
        return args.job_label
    if args.version_tag == "RCM" and args.job_label == "ptest":
        return "rcm_test2"
    if args.version_tag == "ALRB":
        return "rc_alrb"
    if status == "test" and args.job_label != "ptest":
        return "test"
    return args.job_label


def getjob_parameters(ctx: PilotContext, *, task_id: str = "") -> dict[str, Any]:
    """pilot 3.11's getJob fields (protocol.md §5.1)."""
    queuedata = ctx.queuedata
    assert queuedata is not None
    disk = workernode.free_space_mb(ctx.pilot_home)
    if queuedata.maxwdir:
        disk = min(disk, queuedata.maxwdir)
    params: dict[str, Any] = {
        "siteName": queuedata.resource,
        "computingElement": ctx.args.queue,
        "prodSourceLabel": job_label(ctx),
        "diskSpace": disk,
        "workingGroup": "",
        "cpu": workernode.cpu_mhz(),
        "mem": workernode.memory_mb(),
        "node": workernode.node_name(),
        "allowOtherCountry": False,
    }
    if ctx.args.job_type:
        params["jobType"] = ctx.args.job_type
    if task_id and ctx.args.allow_same_user:
        params["taskID"] = task_id
    if ctx.args.resource_type:
        params["resourceType"] = ctx.args.resource_type
    if os.environ.get("HARVESTER_ID"):
        params["harvester_id"] = os.environ["HARVESTER_ID"]
    worker_id = os.environ.get("HARVESTER_WORKER_ID", "")
    if worker_id:
        params["worker_id"] = int(worker_id) if worker_id.isdigit() else worker_id
    if os.environ.get("PANDA_JSID"):
        params["schedulerID"] = os.environ["PANDA_JSID"]
    remaining = int(ctx.remaining())
    if remaining > 0:
        params["remaining_time"] = remaining
    return params


def retrieve_job(ctx: PilotContext, *, task_id: str = "") -> Retrieved:
    started = time.monotonic()
    path = harvester.locate_job_definition(ctx.args, ctx.pilot_home)
    if path:
        logger.info("reading job definition from %s", path)
        definition = harvester.read_job_definition(path, ctx.pilot_home)
        harvester.remove_job_request(ctx.pilot_home)
        return Retrieved(definition, 0 if definition else errors.NOJOBSINPANDA, time.monotonic() - started)
    if ctx.args.push or not ctx.args.update_server:
        return _wait_for_file(ctx, started)
    return _from_server(ctx, task_id=task_id, started=started)


def _wait_for_file(ctx: PilotContext, started: float) -> Retrieved:
    """PUSH / no-network: the definition is pre-placed; wait a while for Harvester to place it."""
    deadline = time.monotonic() + ctx.settings.harvester_job_wait
    while not ctx.abort.is_set() and time.monotonic() < deadline:
        path = harvester.locate_job_definition(ctx.args, ctx.pilot_home)
        if path:
            definition = harvester.read_job_definition(path, ctx.pilot_home)
            harvester.remove_job_request(ctx.pilot_home)
            return Retrieved(definition, 0 if definition else errors.NOJOBSINPANDA, time.monotonic() - started)
        ctx.abort.wait(1.0)
    logger.info("no job definition file appeared")
    return Retrieved(None, errors.NOJOBSINPANDA, time.monotonic() - started)


def _from_server(ctx: PilotContext, *, task_id: str, started: float) -> Retrieved:
    assert ctx.server is not None
    failures = 0
    error = errors.NOJOBSINPANDA
    for attempt in range(1, ctx.args.getjob_requests + 1):
        if ctx.abort.is_set():
            break
        flush_spool(ctx)
        params = getjob_parameters(ctx, task_id=task_id)
        try:
            result = ctx.server.get_job(params, stop=ctx.abort)
        except TransportError as exc:
            failures += 1
            error = errors.COMMUNICATIONFAILURE
            logger.warning("getJob failed (%d/%d failures tolerated): %s", failures, ctx.args.getjob_failures, exc)
            if failures > ctx.args.getjob_failures:
                break
            delay = ctx.settings.getjob_empty_delay_harvester if ctx.args.harvester else ctx.settings.getjob_empty_delay
        else:
            ctx.server_contact()
            if result.status_code == 0 and result.jobs:
                logger.info("got job %s from the server", result.jobs[0].get("PandaID"))
                return Retrieved(result.jobs[0], 0, time.monotonic() - started)
            error = errors.NOJOBSINPANDA
            logger.info(
                "no job from the server (StatusCode=%s %s), attempt %d/%d",
                result.status_code,
                result.message,
                attempt,
                ctx.args.getjob_requests,
            )
            delay = random.uniform(ctx.settings.getjob_nojob_delay_min, ctx.settings.getjob_nojob_delay_max)
        if attempt < ctx.args.getjob_requests and ctx.abort.wait(delay):
            break
    return Retrieved(None, error, time.monotonic() - started)
