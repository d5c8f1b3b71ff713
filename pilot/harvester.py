"""Files shared with Harvester (pilot-harvester.md §12): job definitions in, attributes and reports out."""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from typing import Any

from pilot.cli import Args
from pilot.util.files import touch, write_json

logger = logging.getLogger(__name__)

PANDA_JOB_DATA = "pandaJobData.out"
HPC_JOBS = "HPCJobs.json"
JOB_DEFINITION_COPY = "job_definition.json"
WORKER_ATTRIBUTES = "worker_attributes.json"
EVENT_STATUS = "event_status.dump.json"
JOB_REQUEST = "worker_requestjob.json"
KILL_WORKER = "kill_worker"
HEARTBEAT_MESSAGE = "heartbeat.json"


def access_point(args: Args, pilot_home: str) -> str:
    return args.harvester_workdir or os.environ.get("HARVESTER_WORKDIR") or pilot_home


def job_definition_paths(args: Args, pilot_home: str) -> list[str]:
    if args.harvester_datadir:
        paths = [os.path.join(args.harvester_datadir, PANDA_JOB_DATA)]
    else:
        source = os.environ.get("PILOT_SOURCE_DIR", "")
        paths = [os.path.join(d, PANDA_JOB_DATA) for d in (os.path.dirname(source), source, pilot_home) if d]
    if args.harvester_workdir:
        paths.append(os.path.join(args.harvester_workdir, HPC_JOBS))
    if os.environ.get("HARVESTER_WORKDIR"):
        paths.append(os.path.join(os.environ["HARVESTER_WORKDIR"], HPC_JOBS))
    return paths


def locate_job_definition(args: Args, pilot_home: str) -> str:
    for path in job_definition_paths(args, pilot_home):
        if os.path.isfile(path):
            return path
    return ""


def read_job_definition(path: str, pilot_home: str) -> dict[str, Any] | None:
    """Consume a pre-placed definition: ``{"<PandaID>": {...}}`` JSON or a URL-encoded job dict.

    The file is deleted and a copy kept as ``PILOT_HOME/job_definition.json``; only the first job is
    taken, as pilot 3.11 does.
    """
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        os.replace(path, os.path.join(pilot_home, JOB_DEFINITION_COPY))
    except OSError:
        write_json(os.path.join(pilot_home, JOB_DEFINITION_COPY), text)
        os.remove(path)
    if not text.strip():
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        return dict(urllib.parse.parse_qsl(text.strip(), keep_blank_values=True))
    if isinstance(decoded, dict) and "PandaID" in decoded:
        return decoded
    if isinstance(decoded, dict):
        for panda_id, job in decoded.items():
            if isinstance(job, dict):
                return {"PandaID": panda_id, **job}
    return None


def request_new_job(pilot_home: str, n_jobs: int = 1) -> None:
    write_json(os.path.join(pilot_home, JOB_REQUEST), {"nJobs": n_jobs})


def remove_job_request(pilot_home: str) -> None:
    try:
        os.remove(os.path.join(pilot_home, JOB_REQUEST))
    except FileNotFoundError:
        pass


def worker_attributes_path(args: Args, pilot_home: str) -> str:
    return args.harvester_workerattributes or os.path.join(access_point(args, pilot_home), WORKER_ATTRIBUTES)


def event_status_path(args: Args, pilot_home: str) -> str:
    return args.harvester_eventstatusdump or os.path.join(access_point(args, pilot_home), EVENT_STATUS)


def publish_work_report(args: Args, pilot_home: str, data: dict[str, Any], state: str) -> None:
    report = {k: v for k, v in data.items() if k not in ("xml",)}
    report["jobStatus"] = state
    write_json(worker_attributes_path(args, pilot_home), report)


def publish_stageout_files(args: Args, pilot_home: str, jobid: str, files: list[dict[str, Any]]) -> None:
    write_json(event_status_path(args, pilot_home), {jobid: files})


def publish_job_report(args: Args, pilot_home: str, report_text: str) -> None:
    """The payload's job report, shrunk (executor logfileReports emptied) as pilot 3.11 does."""
    if not report_text:
        return
    try:
        report = json.loads(report_text)
    except ValueError:
        return
    for executor in report.get("executor") or [] if isinstance(report, dict) else []:
        if isinstance(executor, dict) and "logfileReport" in executor:
            executor["logfileReport"] = {}
    write_json(os.path.join(access_point(args, pilot_home), "jobReport.json"), report)


def write_heartbeat_message(pilot_home: str, data: dict[str, Any]) -> None:
    write_json(os.path.join(pilot_home, HEARTBEAT_MESSAGE), data)


def kill_worker(pilot_home: str) -> None:
    touch(os.path.join(pilot_home, KILL_WORKER))
