"""Files shared with the pilot through the worker's access point (pilot-harvester.md §12).

Harvester writes the job (``pandaJobData.out`` for grid push, ``HPCJobs.json`` for the shared
filesystem), the PandaIDs of the worker and, for a pilot without server access, the queue and
storage documents. The pilot writes ``worker_attributes.json`` at every state change,
``jobReport.json`` and ``event_status.dump.json`` (its outputs) at the end, and ``kill_worker``
when it is done. Harvester renames the event-status file ``.read`` once it has used it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from harvester.launch import JOB_DATA_FILE, QUEUEDATA_FILE, STORAGEDATA_FILE

HPC_JOBS = "HPCJobs.json"
WORKER_PANDAIDS = "worker_pandaids.json"
WORKER_ATTRIBUTES = "worker_attributes.json"
JOB_REPORT = "jobReport.json"
EVENT_STATUS = "event_status.dump.json"
KILL_WORKER = "kill_worker"


def _write_json(path: str, value: Any) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(value, handle)
    os.replace(temporary, path)


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # being rewritten: read it next cycle


def feed_job_push(access_point: str, job: dict[str, Any]) -> None:
    """Grid push: the job dict the pilot reads instead of calling getJob."""
    os.makedirs(access_point, exist_ok=True)
    _write_json(os.path.join(access_point, JOB_DATA_FILE), job)
    _write_json(os.path.join(access_point, WORKER_PANDAIDS), [int(job["PandaID"])])


def feed_jobs_shared_fs(
    access_point: str, jobs: list[dict[str, Any]], *, queuedata: dict | None, storagedata: dict | None
) -> None:
    """Shared filesystem: the jobs and every document the pilot would otherwise ask the server for."""
    os.makedirs(access_point, exist_ok=True)
    if queuedata is not None:
        _write_json(os.path.join(access_point, QUEUEDATA_FILE), queuedata)
    if storagedata is not None:
        _write_json(os.path.join(access_point, STORAGEDATA_FILE), storagedata)
    _write_json(os.path.join(access_point, WORKER_PANDAIDS), [int(job["PandaID"]) for job in jobs])
    _write_json(os.path.join(access_point, HPC_JOBS), {str(job["PandaID"]): job for job in jobs})


def work_attributes(access_point: str) -> dict[str, Any] | None:
    value = _read_json(os.path.join(access_point, WORKER_ATTRIBUTES))
    return value if isinstance(value, dict) else None


def job_report_text(access_point: str) -> str | None:
    path = os.path.join(access_point, JOB_REPORT)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def files_to_stage_out(access_point: str) -> dict[str, list[dict[str, Any]]] | None:
    """``{"<PandaID>": [{"path", "type", "guid", "fsize", "chksum", ...}]}`` or None when not written yet
    (or already used: then it is ``event_status.dump.json.read``)."""
    value = _read_json(os.path.join(access_point, EVENT_STATUS))
    if value is None:
        value = _read_json(os.path.join(access_point, EVENT_STATUS + ".read"))
    return value if isinstance(value, dict) else None


def acknowledge_stage_out(access_point: str) -> None:
    path = os.path.join(access_point, EVENT_STATUS)
    if os.path.exists(path):
        os.replace(path, path + ".read")


def kill_requested(access_point: str) -> bool:
    """The pilot says it is done (``kill_worker``, or Harvester's name ``kill_worker.json``)."""
    return any(os.path.exists(os.path.join(access_point, name)) for name in (KILL_WORKER, KILL_WORKER + ".json"))
