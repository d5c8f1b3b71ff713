"""What the payload's exit and its ``jobReport.json`` mean for the job (pilot-harvester.md §8.1)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from pilot import errors
from pilot.jobcontrol.jobspec import Job
from pilot.payload.executor import STDERR
from pilot.util.files import tail

logger = logging.getLogger(__name__)

JOB_REPORT = "jobReport.json"


def read_job_report(jobdir: str) -> tuple[str, dict[str, Any] | None]:
    """Raw text (sent verbatim as metaData) and the parsed report, if the payload wrote one."""
    path = os.path.join(jobdir, JOB_REPORT)
    if not os.path.isfile(path):
        return "", None
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    try:
        report = json.loads(text)
    except ValueError:
        logger.warning("%s is not valid JSON; forwarding it verbatim", JOB_REPORT)
        return text, None
    return text, report if isinstance(report, dict) else None


def interpret_payload_exit(job: Job, exit_code: int) -> None:
    """Set transExitCode, exe error, nEvents, output GUIDs and the pilot error from the payload's end."""
    job.transexitcode = exit_code
    text, report = read_job_report(job.workdir)
    job.metadata = text
    if report:
        _apply_report(job, report)
    stderr = tail(os.path.join(job.workdir, STDERR), 20000)
    if exit_code == 0:
        code, detail = errors.container_stderr_error(stderr)
        if code:
            job.add_error(code, detail)
        return
    code = errors.payload_exit_error(exit_code)
    detail = _stderr_error(stderr) or f"payload exit code {exit_code}"
    job.add_error(code, detail)


def _stderr_error(stderr: str) -> str:
    for line in reversed(stderr.strip().splitlines()):
        stripped = line.strip()
        if stripped:
            return stripped[:200]
    return ""


def _apply_report(job: Job, report: dict[str, Any]) -> None:
    exe_code = report.get("exitCode")
    if isinstance(exe_code, int):
        job.exeerrorcode = exe_code
        job.exeerrordiag = str(report.get("exitMsg") or "")[:500]
    guids: dict[str, str] = {}
    events = 0
    files = report.get("files") or {}
    for entry in files.get("output") or [] if isinstance(files, dict) else []:
        for sub in entry.get("subFiles") or []:
            if sub.get("name") and sub.get("file_guid"):
                guids[sub["name"]] = str(sub["file_guid"])
            if isinstance(sub.get("nentries"), int):
                events = max(events, sub["nentries"])
    for spec in job.outdata:
        if spec.lfn in guids:
            spec.guid = guids[spec.lfn]
    if isinstance(report.get("nEvents"), int):
        events = report["nEvents"]
    job.nevents = events
