"""Helpers for Harvester's own tests: configurations, a store, and a stand-in pilot executable.

Stores: ``store_database`` is parametrised over both back-ends, an SQLite file and a fresh
PostgreSQL schema in a scratch database on the server the run uses. Like the server's own
PostgreSQL tests, the PostgreSQL variant is marked ``postgres``: it runs when ``DATABASE_URL``
points at PostgreSQL (CI's PostgreSQL pass, ``make test-postgres``) and is skipped, saying so,
on an SQLite-only run. The tests that drive agents against a live server take
``service_store_database`` instead, which follows the run's database (PostgreSQL with
``DATABASE_URL``, else SQLite), so CI's two passes cover both without running them twice in one.

The stand-in replaces ``python`` in ``<python> -m pilot <arguments>``: it records its arguments and
environment in the access point, sleeps ``STAND_IN_SLEEP`` seconds (with a child process in its
group when ``STAND_IN_CHILD`` is set) and exits with ``STAND_IN_EXIT``; on SIGTERM it runs
``STAND_IN_ON_TERM`` when set (a pilot that takes time to stop), or ignores the signal with
``STAND_IN_IGNORE_TERM`` (a pilot stuck reporting to a server that is gone), so the plugins can be
exercised against real processes and a real batch system without a server. It sets its traps
before it writes its PID, so a test that waits for the PID signals a stand-in ready for it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from harvester.config import Config, config_from_dict
from harvester.store import Store

STAND_IN = """#!/bin/sh
if [ -n "$STAND_IN_ON_TERM" ]; then trap "$STAND_IN_ON_TERM" TERM; fi
if [ -n "$STAND_IN_IGNORE_TERM" ]; then trap '' TERM; fi
echo $$ > stand_in.pid
echo "$@" > args.txt
env > env.txt
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


def postgres_url(dbname: str, **query: str) -> str:
    """A URL for ``dbname`` on the PostgreSQL server of this run (the one DATABASE_URL names)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    assert db["ENGINE"].endswith("postgresql"), "the postgres mark keeps this test off SQLite runs"
    auth = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    url = f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}"
    return url + ("?" + "&".join(f"{key}={quote(value, safe='')}" for key, value in query.items()) if query else "")


@pytest.fixture(scope="session")
def postgres_scratch_database() -> Iterator[str]:
    """A database of its own for the Harvester stores of this run, dropped at the end."""
    name = f"harvester_store_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_store_url(postgres_scratch_database) -> Iterator[str]:
    """A fresh, empty schema for one test: the URL's search_path puts the store's tables there."""
    schema = f"store_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url(postgres_scratch_database), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    yield postgres_url(postgres_scratch_database, options=f"-csearch_path={schema}")
    with psycopg.connect(postgres_url(postgres_scratch_database), autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_database(request, tmp_path) -> str:
    """The store's ``database`` setting: an SQLite path, or a PostgreSQL URL with a schema of its own."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite3")
    return request.getfixturevalue("postgres_store_url")


@pytest.fixture
def service_store_database(request, tmp_path) -> str:
    """The store of an agent or service test: on PostgreSQL when the run is (DATABASE_URL), else SQLite."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return request.getfixturevalue("postgres_store_url")
    return str(tmp_path / "store.sqlite3")


@pytest.fixture
def store(store_database):
    db = Store(store_database)
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
