"""Helpers shared by the pilot's tests: queue/storage documents, storage layout, job definitions, pilot runs."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from pilot.info.storage import deterministic_path


def adler32_of(data: bytes) -> str:
    return f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"


def queue_doc(name: str = "TEST_QUEUE", *, copytool: str = "posix", endpoint: str = "TEST_DISK", **overrides):
    doc = {
        "nickname": name,
        "panda_resource": name,
        "atlas_site": "TEST_SITE",
        "state": "ACTIVE",
        "status": "online",
        "copytools": {copytool: {"setup": ""}},
        "acopytools": {"pr": [copytool], "pw": [copytool], "pl": [copytool], "default": [copytool]},
        "astorages": {"pr": [endpoint], "pw": [endpoint], "pl": [endpoint]},
        "maxwdir": 10000,
        "maxrss": 4000,
        "maxtime": 86400,
        "timefloor": 0,
        "corecount": 1,
        "catchall": "",
    }
    doc.update(overrides)
    return doc


def storage_doc(root: Path, name: str = "TEST_DISK") -> dict:
    return {
        name: {
            "name": name,
            "site": "TEST_SITE",
            "type": "DATADISK",
            "state": "ACTIVE",
            "is_deterministic": True,
            "rprotocols": {
                "1": {
                    "endpoint": "file://localhost",
                    "path": str(root),
                    "flavour": "POSIX",
                    "id": 1,
                    "activities": [["read_lan", 1], ["write_lan", 1], ["read_wan", 1], ["write_wan", 1]],
                }
            },
        }
    }


def place_in_storage(root: Path, scope: str, lfn: str, data: bytes) -> Path:
    path = root / deterministic_path(scope, lfn)
    os.makedirs(path.parent, exist_ok=True)
    path.write_bytes(data)
    return path


def job_definition(
    panda_id: int = 1001,
    *,
    inputs: dict[str, bytes] | None = None,
    outputs: tuple[str, ...] = (),
    transformation: str = "/bin/bash",
    job_pars: str = "-c true",
    **overrides,
) -> dict:
    inputs = inputs or {}
    lfns = list(inputs)
    log = f"log.{panda_id}.job.log.tgz.1"
    out_lfns = list(outputs) + [log]
    d = {
        "StatusCode": 0,
        "PandaID": panda_id,
        "jobsetID": 1,
        "jobDefinitionID": 1,
        "jobName": f"job.{panda_id}",
        "attemptNr": 1,
        "taskID": 100,
        "prodSourceLabel": "managed",
        "transformation": transformation,
        "jobPars": job_pars,
        "homepackage": "AtlasOffline/22.0",
        "swRelease": "Atlas-22.0",
        "cmtConfig": "",
        "coreCount": 1,
        "minRamCount": 0,
        "maxDiskCount": 0,
        "maxWalltime": 0,
        "maxCpuCount": 0,
        "inFiles": ",".join(lfns),
        "GUID": ",".join(f"GUID-{i}" for i in range(len(lfns))),
        "fsize": ",".join(str(len(inputs[f])) for f in lfns),
        "checksum": ",".join(f"ad:{adler32_of(inputs[f])}" for f in lfns),
        "scopeIn": ",".join("mc23" for _ in lfns),
        "realDatasetsIn": ",".join("mc23:ds" for _ in lfns),
        "prodDBlockToken": ",".join("NULL" for _ in lfns),
        "ddmEndPointIn": ",".join("" for _ in lfns),
        "outFiles": ",".join(out_lfns),
        "realDatasets": ",".join("mc23:out" for _ in out_lfns),
        "destinationDblock": ",".join("sub" for _ in out_lfns),
        "destinationDBlockToken": ",".join("NULL" for _ in out_lfns),
        "ddmEndPointOut": ",".join("" for _ in out_lfns),
        "scopeOut": ",".join("mc23" for _ in outputs),
        "scopeLog": "mc23",
        "logFile": log,
        "logGUID": "LOG-GUID",
        "processingType": "test",
        "transferType": "NULL",
    }
    d.update(overrides)
    return d


REPO_ROOT = Path(__file__).resolve().parents[2]

# Timers short enough for tests; everything else keeps pilot 3.11's defaults.
FAST_CONFIG = """[Pilot]
heartbeat = 2
debug_heartbeat = 1
looping_verification_time = 0.5
looping_limit_default = 3
looping_limit_min_default = 3
memory_check_time = 0.3
disk_check_time = 5
process_check_time = 5
pilot_heartbeat_time = 1
getjob_nojob_delay_min = 0.2
getjob_nojob_delay_max = 0.5
getjob_empty_delay = 0.2
getjob_empty_delay_harvester = 0.2
harvester_job_wait = 2
monitor_poll = 0.2
kill_grace = 2
http_timeout = 10
http_attempts = 2
http_backoff = 0.2
http_backoff_max = 0.5
update_retry_delay = 0.5
final_update_max_wait = 4
local_space_limit_mb = 0
"""


def write_config(directory: Path, extra: str = "") -> Path:
    path = directory / "pilot-test.cfg"
    path.write_text(FAST_CONFIG + extra)
    return path


def pilot_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVESTER_", "OIDC_", "PANDA_", "PILOT_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PILOT_NOKILL"] = "1"  # pilot-harvester.md §9: tests that run a pilot set it
    env.update(extra)
    return env


def run_pilot(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "pilot", *args],
        cwd=cwd,
        env=env or pilot_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
