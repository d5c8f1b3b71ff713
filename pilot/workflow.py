"""The ``generic`` workflow: take jobs while time remains (timefloor), one at a time."""

from __future__ import annotations

import logging
import time

from pilot import errors, harvester
from pilot.context import PilotContext
from pilot.errors import PilotError
from pilot.jobcontrol.jobspec import Job
from pilot.jobcontrol.retrieve import retrieve_job
from pilot.jobrunner import JobRun

logger = logging.getLogger(__name__)


def may_take_another(ctx: PilotContext) -> bool:
    if ctx.abort.is_set():
        return False
    if ctx.jobs_done == 0:
        return True
    timefloor = ctx.queuedata.timefloor if ctx.queuedata else 0
    if timefloor <= 0:
        logger.info("timefloor is 0: one job per pilot")
        return False
    if ctx.elapsed() > timefloor:
        logger.info("timefloor of %d s has passed: no more jobs", timefloor)
        return False
    return True


def run_generic(ctx: PilotContext) -> None:
    task_id = ""
    while may_take_another(ctx):
        if ctx.jobs_done and ctx.args.harvester and ctx.args.push:
            harvester.request_new_job(ctx.pilot_home)
        retrieved = retrieve_job(ctx, task_id=task_id)
        if retrieved.definition is None:
            if ctx.jobs_done == 0:
                ctx.set_exit_error(retrieved.error or errors.NOJOBSINPANDA)
            break
        getjob_time = time.time()
        job: Job | None
        try:
            job = Job.from_definition(retrieved.definition)
        except PilotError as exc:
            logger.error("bad job definition: %s", exc.diag)
            job = _unparsable_job(retrieved.definition, exc)
            if job is None:
                ctx.set_exit_error(exc.code)
                break
        run = JobRun(ctx, job, getjob_time=getjob_time, getjob_seconds=retrieved.seconds)
        run.execute()
        ctx.jobs_done += 1
        task_id = job.taskid
        if run.killed_by_server:
            logger.info("job was killed by the server: no more jobs for this pilot")
            break


def _unparsable_job(definition: dict[str, object], exc: PilotError) -> Job | None:
    """A definition whose file lists do not line up is still reported as failed, if it has an ID."""
    panda_id = str(definition.get("PandaID") or "")
    if not panda_id or panda_id == "NULL":
        return None
    job = Job(jobid=panda_id, definition=dict(definition))
    try:
        job.attemptnr = int(str(definition.get("attemptNr") or 0))
    except ValueError:
        job.attemptnr = 0
    job.add_error(exc.code, diag=exc.diag)
    return job
