"""Running our Harvester as a subprocess against the live server (tests/e2e/test_harvester_*.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import OperationalError

from apps.jobs.models import Job
from apps.jobs.services.adder import adder_run
from harvester.config import config_load
from harvester.database import is_postgres_url
from harvester.plugins.local import LocalPlugin
from harvester.states import LIVE
from harvester.store import Store
from tests.e2e.pilot_support import PilotSite
from tests.pilot.support import REPO_ROOT

HARVESTER_ID = "e2e-harvester"


def write_config(tmp_path: Path, site: PilotSite, *, harvester: dict | None = None, **queue: object) -> Path:
    """A Harvester configuration serving ``site.queue`` with our pilot; ``queue`` overrides the knobs."""
    queue_config = {
        "plugin": "local",
        "mode": "PULL",
        "maxWorkers": 3,
        "nQueueLimitWorker": 3,
        "maxNewWorkersPerCycle": 3,
        "prodSourceLabel": "managed",
        "jobType": "managed",
        **queue,
    }
    config = {
        "harvester": {
            "harvester_id": HARVESTER_ID,
            "server_url": site.server_url,
            "token_file": str(site.token_file),
            "origin": site.origin,
            "database": str(tmp_path / "harvester" / "harvester.sqlite3"),
            "workdir": str(tmp_path / "harvester" / "workers"),
            "cycle_seconds": 0.5,
            "heartbeat_seconds": 5,
            "update_interval": 5,
            "stats_interval": 2,
            "keep_finished_hours": 1,
            "kill_grace_seconds": 3,
            **(harvester or {}),
        },
        "pilot": {
            "python": sys.executable,
            "pythonpath": str(REPO_ROOT),
            "extra_args": ["-b", "--config", str(site.config), "--use-rucio-traces", "false"],
            "env": {"PILOT_NOKILL": "1"},
        },
        "queues": {site.queue: queue_config},
    }
    path = tmp_path / "harvester.json"
    path.write_text(json.dumps(config, indent=2))
    return path


@dataclass
class HarvesterProcess:
    config_path: Path
    log_path: Path
    process: subprocess.Popen | None = None
    outputs: list[str] = field(default_factory=list)

    def start(self) -> HarvesterProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVESTER_", "OIDC_", "PANDA_", "PILOT_"))}
        env["PYTHONPATH"] = str(REPO_ROOT)
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harvester", "run", "-c", str(self.config_path)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def _store_exists(database: str) -> bool:
    """An SQLite store exists once its file does; a PostgreSQL one is created by whoever opens it first."""
    return is_postgres_url(database) or os.path.exists(database)


def store_of(config_path: Path) -> Store:
    return Store(config_load(str(config_path)).database)


def live_workers(config_path: Path) -> int:
    if not _store_exists(config_load(str(config_path)).database):
        return 0
    store = store_of(config_path)
    try:
        return sum(1 for _ in store.workers(statuses=LIVE))
    finally:
        store.close()


def kill_leftover_workers(config_path: Path) -> None:
    """Stop every pilot a test's Harvester started (by the PID and start time it recorded)."""
    config = config_load(str(config_path))
    if not _store_exists(config.database):
        return
    store = Store(config.database)
    plugin = LocalPlugin(config)
    try:
        for worker in store.workers():
            if not worker.plugin_data.get("pid"):
                plugin.find_worker(worker)
            plugin.kill_worker(worker)
    finally:
        store.close()


def run_until_jobs_final(pandaids: list[int], *, timeout: float, on_poll=None, what: str = "jobs", log=None) -> None:
    """Run the Adder (the server's own agent) until every job is final; ``on_poll`` runs at each poll."""
    deadline = time.monotonic() + timeout
    final = {"finished", "failed", "cancelled", "closed"}
    while time.monotonic() < deadline:
        try:
            adder_run()
            if on_poll is not None:
                on_poll()
            statuses = set(Job.objects.filter(pandaid__in=pandaids).values_list("jobstatus", flat=True))
        except OperationalError:
            statuses = None  # SQLite's shared test database is busy with the live server: next poll
        if statuses is not None and statuses <= final:
            return
        time.sleep(0.5)
    counts = {}
    for status in Job.objects.filter(pandaid__in=pandaids).values_list("jobstatus", flat=True):
        counts[status] = counts.get(status, 0) + 1
    raise AssertionError(f"timed out waiting for {what}: {counts}" + (f"\n{log()}" if log else ""))
