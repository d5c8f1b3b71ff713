"""A test helper that plays the pilot through the real HTTP API (v1 ``pilot/*``) of a live server.

It fetches jobs, reports them running and finishes them with a job output report (protocol.md §7)
that lists every output and the log, exactly as a pilot whose stage-out succeeded would; or fails
them with a pilot error code. No payload runs: the JEDI end-to-end tests need the server's
bookkeeping, not a payload.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
import zlib
from dataclasses import dataclass


@dataclass
class PlayedPilot:
    server_url: str
    token: str
    queue: str
    endpoint: str
    label: str = "managed"

    def _post(self, path: str, params: dict) -> dict:
        request = urllib.request.Request(
            f"{self.server_url}/api/v1/{path}",
            data=json.dumps(params).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def acquire(self, n_jobs: int = 1) -> list[dict]:
        answer = self._post(
            "pilot/acquire_jobs",
            {"site_name": self.queue, "prod_source_label": self.label, "node": "wn01", "n_jobs": n_jobs},
        )
        data = answer.get("data") or {}
        return data.get("jobs", []) if isinstance(data, dict) else []

    def update(self, job: dict, state: str, **extra) -> dict:
        params = {"job_id": int(job["PandaID"]), "job_status": state, "attempt_nr": int(job["attemptNr"]), **extra}
        return self._post("pilot/update_job", params)

    def output_report(self, job: dict) -> str:
        """Every output and the log of ``job`` as stored, with GUIDs, sizes and adler32 checksums."""
        report = {}
        for lfn in [lfn for lfn in job["outFiles"].split(",") if lfn]:
            guid = str(uuid.uuid4())
            payload = f"{lfn} produced by {job['PandaID']}".encode()
            report[lfn] = {
                "guid": guid,
                "fsize": len(payload),
                "adler32": f"{zlib.adler32(payload) & 0xFFFFFFFF:08x}",
                "surl": f"file:///se/{urllib.parse.quote(lfn)}",
                "endpoint": self.endpoint,
            }
        return json.dumps(report)

    def finish(self, job: dict) -> dict:
        self.update(job, "running")
        return self.update(
            job,
            "finished",
            job_output_report=self.output_report(job),
            trans_exit_code=0,
            n_events=10,
            max_pss=500_000,
        )

    def fail(self, job: dict, *, pilot_error_code: int = 1137, diag: str = "payload failed") -> dict:
        self.update(job, "running")
        log_only = {lfn: e for lfn, e in json.loads(self.output_report(job)).items() if lfn == job["logFile"]}
        return self.update(
            job,
            "failed",
            job_output_report=json.dumps(log_only),
            pilot_error_code=pilot_error_code,
            pilot_error_diag=diag,
            trans_exit_code=1,
        )
