"""HTTP client for the server's v1 API (pilot-harvester.md §11), standard library only.

POSTs send a JSON body, GETs query parameters (lists as repeated keys); every call sends
``Accept: application/json`` and, with a token, ``Authorization: Bearer`` (+ ``Origin``). The token
file is read at every call, so a renewed token is used without a restart (the credential manager of
this Harvester is whatever rewrites that file).
"""

from __future__ import annotations

import json
import logging
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from harvester import __version__
from harvester.http import exchange

log = logging.getLogger(__name__)


class CommunicationError(Exception):
    """The server could not be reached or did not answer with the v1 envelope."""


@dataclass
class Answer:
    success: bool
    message: str
    data: Any


class Communicator:
    def __init__(
        self,
        *,
        server_url: str,
        harvester_id: str,
        token_file: str = "",
        origin: str = "",
        ca_file: str = "",
        timeout: float = 60.0,
    ):
        self.base = server_url.rstrip("/") + "/api/v1"
        self.harvester_id = harvester_id
        self.token_file = token_file
        self.origin = origin
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=ca_file or None) if server_url.startswith("https") else None
        self.user_agent = f"harvester/{__version__}"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self.token_file:
            try:
                with open(self.token_file, encoding="utf-8") as handle:
                    token = handle.read().strip()
            except OSError as exc:
                raise CommunicationError(f"cannot read the token file {self.token_file}: {exc.strerror}") from None
            headers["Authorization"] = f"Bearer {token}"
            if self.origin:
                headers["Origin"] = self.origin
        return headers

    def call(self, module_method: str, params: dict[str, Any] | None = None, *, method: str = "POST") -> Answer:
        url = f"{self.base}/{module_method}"
        headers = self._headers()
        params = {key: value for key, value in (params or {}).items() if value is not None}
        if method == "GET":
            query = urllib.parse.urlencode(params, doseq=True)
            request = urllib.request.Request(f"{url}?{query}" if query else url, headers=headers, method="GET")
        else:
            headers["Content-Type"] = "application/json"
            body = json.dumps(params).encode()
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        text = exchange(
            request, timeout=self.timeout, context=self._context, what=module_method, error=CommunicationError
        )
        try:
            answer = json.loads(text)
            return Answer(success=bool(answer["success"]), message=answer.get("message") or "", data=answer.get("data"))
        except (ValueError, TypeError, KeyError):
            raise CommunicationError(f"{module_method}: not a v1 envelope: {text[:200]!r}") from None

    def document(self, path: str) -> Any:
        """A static document of the server (``cache/schedconfig/<queue>.all.json``, ...), no envelope."""
        url = f"{self.base.rsplit('/api/v1', 1)[0]}/{path.lstrip('/')}"
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": self.user_agent})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise CommunicationError(f"{path}: {exc}") from None

    def download(self, url: str) -> bytes:
        """A file the pilot would download itself (a transformation), for a pilot that cannot."""
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:
                return response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise CommunicationError(f"{url}: {exc}") from None

    # --- the calls Harvester makes -----------------------------------------------------------------

    def is_alive(self) -> bool:
        return self.call("system/is_alive", method="GET").success

    def heartbeat(self, data: dict[str, Any]) -> Answer:
        return self.call("harvester/heartbeat", {"harvester_id": self.harvester_id, "data": data})

    def acquire_commands(self, n_commands: int) -> list[dict[str, Any]]:
        answer = self.call("harvester/acquire_commands", {"harvester_id": self.harvester_id, "n_commands": n_commands})
        if not answer.success:
            raise CommunicationError(f"acquire_commands: {answer.message}")
        return list(answer.data or [])

    def acknowledge_commands(self, command_ids: list[int]) -> bool:
        return self.call("harvester/acknowledge_commands", {"command_ids": command_ids}).success

    def current_worker_id(self) -> int:
        answer = self.call("harvester/get_current_worker_id", {"harvester_id": self.harvester_id}, method="GET")
        if not answer.success:
            raise CommunicationError(f"get_current_worker_id: {answer.message}")
        return int(answer.data or 0)

    def update_workers(self, workers: list[dict[str, Any]]) -> list[bool]:
        answer = self.call("harvester/update_workers", {"harvester_id": self.harvester_id, "workers": workers})
        if not answer.success:
            raise CommunicationError(f"update_workers: {answer.message}")
        return list(answer.data)

    def report_worker_statistics(self, queue: str, statistics: dict[str, Any]) -> bool:
        params = {"harvester_id": self.harvester_id, "panda_queue": queue, "statistics": json.dumps(statistics)}
        return self.call("harvester/report_worker_statistics", params).success

    def active_job_stats(self) -> dict[str, dict[str, int]]:
        answer = self.call("statistics/active_job_stats_by_site", method="GET")
        if not answer.success:
            raise CommunicationError(f"active_job_stats_by_site: {answer.message}")
        return dict(answer.data or {})

    def acquire_jobs(self, *, queue: str, n_jobs: int, prod_source_label: str, node: str, **extra: Any) -> list[dict]:
        params = {
            "site_name": queue,
            "computing_element": queue,
            "prod_source_label": prod_source_label,
            "node": node,
            "n_jobs": n_jobs,
            "scheduler_id": f"harvester-{self.harvester_id}",
            "harvester_id": self.harvester_id,
            **extra,
        }
        answer = self.call("pilot/acquire_jobs", params)
        if not answer.success:
            return []  # "No jobs in PanDA" and friends: nothing to hold
        return list((answer.data or {}).get("jobs") or [])

    def update_jobs_bulk(self, job_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = self.call("pilot/update_jobs_bulk", {"job_list": job_list, "harvester_id": self.harvester_id})
        if not answer.success:
            raise CommunicationError(f"update_jobs_bulk: {answer.message}")
        return list(answer.data)
