"""The pilot's server calls: getJob / updateJob / updateWorkerPilotStatus, v1 by default or legacy."""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from pilot.comm import transport
from pilot.comm.apinames import GETJOB_V1, UPDATEJOB_V1, WORKER_STATUS_V1, to_v1
from pilot.comm.credentials import Credentials
from pilot.comm.transport import TransportError
from pilot.settings import Settings

logger = logging.getLogger(__name__)


def server_base_url(url: str, port: int) -> str:
    """``--url``/``-p`` as pilot 3.11 combines them: no scheme means https; a port in the URL wins."""
    if not url:
        return ""
    if "://" not in url:
        url = f"https://{url}"
    parsed = urllib.parse.urlsplit(url)
    netloc = parsed.netloc if parsed.port else f"{parsed.hostname}:{port}"
    return f"{parsed.scheme}://{netloc}{parsed.path.rstrip('/')}"


def parse_legacy_body(text: str) -> dict[str, Any]:
    """A body starting with ``{`` and ending with ``}`` is JSON, anything else a query string."""
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        decoded: dict[str, Any] = json.loads(stripped)
        return decoded
    return dict(urllib.parse.parse_qsl(stripped, keep_blank_values=True))


@dataclass
class GetJobResult:
    status_code: int  # 0 = job(s); 20 = no job; other = failure
    jobs: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


@dataclass
class UpdateResult:
    status_code: int
    command: str = ""  # comma list; "" when NULL/None
    pilot_secrets: Any = None
    message: str = ""

    @property
    def permanent_failure(self) -> bool:
        """The server will never accept this update (invalid job/state), so resending is pointless."""
        return self.status_code in (50, 60, 70)


class PandaServer:
    def __init__(self, *, base_url: str, api: str, creds: Credentials, settings: Settings) -> None:
        self.base_url = base_url
        self.api = api
        self.creds = creds
        self.settings = settings
        self.legacy_style = "legacy"  # "form" = pilot 3.11's curl path (queue catchall ``curlgetjob``)

    # -- low level -----------------------------------------------------------------------------------
    def _call(
        self, *, legacy: str, v1: str, params: dict[str, Any], stop: threading.Event | None, attempts: int | None = None
    ) -> dict[str, Any]:
        if self.api == "v1":
            url, style = f"{self.base_url}/api/v1/{v1}", "v1"
        else:
            url, style = f"{self.base_url}/server/panda/{legacy}", self.legacy_style

        def once() -> dict[str, Any]:
            reply = transport.post(url, params, style=style, creds=self.creds, timeout=self.settings.http_timeout)
            try:
                decoded = json.loads(reply.body) if style == "v1" else parse_legacy_body(reply.body)
            except ValueError:
                raise TransportError(f"undecodable answer from {url}: {reply.body[:200]!r}") from None
            if not isinstance(decoded, dict):
                raise TransportError(f"unexpected answer from {url}: {reply.body[:200]!r}")
            return decoded

        return transport.with_retries(
            once,
            attempts=attempts or self.settings.http_attempts,
            base=self.settings.http_backoff,
            cap=self.settings.http_backoff_max,
            stop=stop,
            what=f"{legacy if self.api == 'legacy' else v1}",
        )

    # -- getJob --------------------------------------------------------------------------------------
    def get_job(self, params: dict[str, Any], *, stop: threading.Event | None = None) -> GetJobResult:
        """``params`` use pilot 3.11's getJob names. Raises TransportError when the server is unreachable."""
        if self.api == "v1":
            answer = self._call(legacy="getJob", v1="pilot/acquire_jobs", params=to_v1(params, GETJOB_V1), stop=stop)
            return _getjob_from_v1(answer)
        answer = self._call(legacy="getJob", v1="pilot/acquire_jobs", params=params, stop=stop)
        return _getjob_from_legacy(answer)

    # -- updateJob -----------------------------------------------------------------------------------
    def update_job(
        self, data: dict[str, Any], *, stop: threading.Event | None = None, attempts: int | None = None
    ) -> UpdateResult:
        if self.api == "v1":
            answer = self._call(
                legacy="updateJob",
                v1="pilot/update_job",
                params=to_v1(data, UPDATEJOB_V1),
                stop=stop,
                attempts=attempts,
            )
            return _update_from_v1(answer)
        answer = self._call(legacy="updateJob", v1="pilot/update_job", params=data, stop=stop, attempts=attempts)
        return _update_from_legacy(answer)

    # -- setDebugMode ---------------------------------------------------------------------------------
    def set_debug_mode(self, job_id: str, on: bool) -> bool:
        """What pilot 3.11 does for every job on a queue whose catchall has ``setdebugmode``."""
        try:
            if self.api == "v1":
                answer = self._call(
                    legacy="setDebugMode",
                    v1="job/set_debug_mode",
                    params={"job_id": int(job_id), "mode": on},
                    stop=None,
                )
                return bool(answer.get("success"))
            url = f"{self.base_url}/server/panda/setDebugMode"
            params = {"pandaID": job_id, "modeOn": on}
            reply = transport.post(
                url, params, style=self.legacy_style, creds=self.creds, timeout=self.settings.http_timeout
            )
            return "Succeeded" in reply.body
        except (TransportError, ValueError) as exc:
            logger.warning("setDebugMode(%s) failed: %s", job_id, exc)
            return False

    # -- updateWorkerPilotStatus --------------------------------------------------------------------
    def update_worker_status(self, *, worker_id: str, harvester_id: str, status: str, site: str, node: str) -> bool:
        params = {"workerID": worker_id, "harvesterID": harvester_id, "status": status, "site": site, "node_id": node}
        try:
            if self.api == "v1":
                answer = self._call(
                    legacy="updateWorkerPilotStatus",
                    v1="pilot/update_worker_status",
                    params=to_v1(params, WORKER_STATUS_V1),
                    stop=None,
                )
                return bool(answer.get("success"))
            answer = self._call(
                legacy="updateWorkerPilotStatus", v1="pilot/update_worker_status", params=params, stop=None
            )
            return str(answer.get("StatusCode")) == "0"
        except TransportError as exc:
            logger.warning("updateWorkerPilotStatus(%s) failed: %s", status, exc)
            return False


def _command(value: Any) -> str:
    if value in (None, "", "NULL", "None"):
        return ""
    return str(value)


def _status_code(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _getjob_from_v1(answer: dict[str, Any]) -> GetJobResult:
    if "success" not in answer:  # a legacy-shaped answer: accept both shapes
        return _getjob_from_legacy(answer)
    if not answer.get("success"):
        message = str(answer.get("message") or "")
        code = 20 if "No jobs" in message else 30
        return GetJobResult(status_code=code, message=message)
    data = answer.get("data") or {}
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if isinstance(data, dict) and jobs is None and "PandaID" in data:
        jobs = [data]
    code = _status_code(data.get("StatusCode", 0) if isinstance(data, dict) else 0, 0)
    if code == 0 and not jobs:
        code = 20
    return GetJobResult(status_code=code, jobs=list(jobs or []), message=str(answer.get("message") or ""))


def _getjob_from_legacy(answer: dict[str, Any]) -> GetJobResult:
    if "success" in answer and "StatusCode" not in answer:
        return _getjob_from_v1(answer)
    code = _status_code(answer.get("StatusCode"), 30)
    if code != 0:
        return GetJobResult(status_code=code, message=str(answer.get("errorDialog") or ""))
    jobs = answer.get("jobs")
    if isinstance(jobs, str):
        jobs = json.loads(jobs)
    if jobs is None:
        jobs = [answer] if "PandaID" in answer else []
    return GetJobResult(status_code=0 if jobs else 20, jobs=list(jobs))


def _update_from_v1(answer: dict[str, Any]) -> UpdateResult:
    if "success" not in answer:
        return _update_from_legacy(answer)
    data = answer.get("data")
    message = str(answer.get("message") or "")
    if not isinstance(data, dict):
        return UpdateResult(status_code=0 if answer.get("success") else 60, message=message)
    code = _status_code(data.get("StatusCode"), 0 if answer.get("success") else 30)
    if not answer.get("success") and code == 0:
        code = 60
    return UpdateResult(
        status_code=code, command=_command(data.get("command")), pilot_secrets=data.get("pilotSecrets"), message=message
    )


def _update_from_legacy(answer: dict[str, Any]) -> UpdateResult:
    if "success" in answer and "StatusCode" not in answer:
        return _update_from_v1(answer)
    return UpdateResult(
        status_code=_status_code(answer.get("StatusCode"), 30),
        command=_command(answer.get("command")),
        pilot_secrets=answer.get("pilotSecrets"),
        message=str(answer.get("errorDialog") or ""),
    )
