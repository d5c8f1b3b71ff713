"""Helpers for Harvester's own tests: configurations, a store, and a stand-in pilot executable.

The stand-in replaces ``python`` in ``<python> -m pilot <arguments>``: it records its arguments and
environment in the access point, sleeps ``STAND_IN_SLEEP`` seconds (with a child process in its
group when ``STAND_IN_CHILD`` is set) and exits with ``STAND_IN_EXIT``; on SIGTERM it runs
``STAND_IN_ON_TERM`` when set (a pilot that takes time to stop), or ignores the signal with
``STAND_IN_IGNORE_TERM`` (a pilot stuck reporting to a server that is gone), so the plugins can be
exercised against real processes and a real batch system without a server.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harvester.config import Config, config_from_dict
from harvester.store import Store

STAND_IN = """#!/bin/sh
echo $$ > stand_in.pid
echo "$@" > args.txt
env > env.txt
if [ -n "$STAND_IN_ON_TERM" ]; then trap "$STAND_IN_ON_TERM" TERM; fi
if [ -n "$STAND_IN_IGNORE_TERM" ]; then trap '' TERM; fi
if [ -n "$STAND_IN_CHILD" ]; then sleep 600 & echo $! > child.pid; fi
sleep "${STAND_IN_SLEEP:-0}"
exit "${STAND_IN_EXIT:-0}"
"""


def harvester_config(
    tmp_path: Path, *, pilot_env: dict | None = None, harvester: dict | None = None, queues: dict | None = None, **queue
) -> Config:
    stand_in = tmp_path / "stand_in_python"
    if not stand_in.exists():
        stand_in.write_text(STAND_IN)
        stand_in.chmod(0o755)
    data = {
        "harvester": {
            "harvester_id": "unit-harvester",
            "server_url": "http://127.0.0.1:9",
            "database": str(tmp_path / "h.sqlite3"),
            "workdir": str(tmp_path / "workers"),
            "kill_grace_seconds": 2,
            **(harvester or {}),
        },
        "pilot": {"python": str(stand_in), "env": pilot_env or {}},
        "queues": queues or {"Q1": {"plugin": "local", **queue}},
    }
    os.makedirs(tmp_path / "workers", exist_ok=True)
    return config_from_dict(data, base_dir=str(tmp_path))


@pytest.fixture
def store(tmp_path):
    db = Store(str(tmp_path / "store.sqlite3"))
    yield db
    db.close()


def wait_for(predicate, *, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
