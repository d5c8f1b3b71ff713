"""Harvester's own persistent state: workers, the jobs it holds, commands, counters.

Everything an agent decides is written here before it acts on the outside world (a worker row
exists, ``pending``, before its batch job is submitted; a fetched job is stored before it is bound
to a worker), so a Harvester killed at any point resumes from this database: live workers are
checked again, pending ones are looked up or submitted, held jobs are bound or reported.

The database is an SQLite file or, for a ``postgresql://`` URL, a PostgreSQL database (see
:mod:`harvester.database`); both run the same statements and store the same values (times as
text, flags as 0/1, documents as JSON text). One service process owns a store (see
:func:`harvester.service.service_lock`, and :meth:`Store.claim` for the Harvester ID it belongs
to); the connection is shared by the agents of that process behind a lock.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from harvester.database import (
    DatabaseError,
    PostgresConnection,
    SqliteConnection,
    connect,
    database_label,
    first_line,
    lock_key,
)

# IDs are BIGINT (PanDA IDs outgrow 32 bits); on SQLite every INTEGER type is 64-bit anyway.
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS workers (
    worker_id BIGINT PRIMARY KEY,
    queue TEXT NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    plugin TEXT NOT NULL,
    batch_id TEXT,
    access_point TEXT NOT NULL DEFAULT '',
    job_type TEXT NOT NULL DEFAULT '',
    resource_type TEXT NOT NULL DEFAULT '',
    n_core INTEGER NOT NULL DEFAULT 1,
    submit_time TEXT,
    start_time TEXT,
    end_time TEXT,
    native_status TEXT,
    native_exit_code INTEGER,
    diag TEXT NOT NULL DEFAULT '',
    error_code INTEGER NOT NULL DEFAULT 0,
    submission_attempts INTEGER NOT NULL DEFAULT 0,
    kill_requested INTEGER NOT NULL DEFAULT 0,
    to_propagate INTEGER NOT NULL DEFAULT 1,
    swept INTEGER NOT NULL DEFAULT 0,
    plugin_data TEXT NOT NULL DEFAULT '{}',
    modification_time TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS workers_queue_status ON workers (queue, status)",
    """CREATE TABLE IF NOT EXISTS jobs (
    pandaid BIGINT PRIMARY KEY,
    queue TEXT NOT NULL,
    status TEXT NOT NULL,
    worker_id BIGINT,
    attempt_nr INTEGER NOT NULL DEFAULT 0,
    job_data TEXT NOT NULL,
    server_status TEXT NOT NULL DEFAULT 'sent',
    pending_update TEXT,
    final_update INTEGER NOT NULL DEFAULT 0,
    modification_time TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS jobs_queue_status ON jobs (queue, status)",
    "CREATE INDEX IF NOT EXISTS jobs_worker ON jobs (worker_id)",
    """CREATE TABLE IF NOT EXISTS commands (
    command_id BIGINT PRIMARY KEY,
    command TEXT NOT NULL,
    params TEXT,
    ack_requested INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    received_time TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
]

TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _time_out(value: dt.datetime | None) -> str | None:
    return value.strftime(TIME_FORMAT) if value else None


def _time_in(value: str | None) -> dt.datetime | None:
    return dt.datetime.strptime(value, TIME_FORMAT) if value else None


@dataclass
class WorkSpec:
    worker_id: int
    queue: str
    status: str
    mode: str
    plugin: str
    batch_id: str | None = None
    access_point: str = ""
    job_type: str = ""
    resource_type: str = ""
    n_core: int = 1
    submit_time: dt.datetime | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    native_status: str | None = None
    native_exit_code: int | None = None
    diag: str = ""
    error_code: int = 0
    submission_attempts: int = 0
    kill_requested: bool = False
    to_propagate: bool = True
    swept: bool = False
    plugin_data: dict[str, Any] = field(default_factory=dict)
    modification_time: dt.datetime = field(default_factory=utcnow)
    pandaids: list[int] = field(default_factory=list)  # not a column: filled from the jobs table


@dataclass
class JobSpec:
    pandaid: int
    queue: str
    status: str
    job_data: dict[str, Any]
    worker_id: int | None = None
    attempt_nr: int = 0
    server_status: str = "sent"
    pending_update: dict[str, Any] | None = None
    final_update: bool = False
    modification_time: dt.datetime = field(default_factory=utcnow)


_WORKER_COLUMNS = [f.name for f in fields(WorkSpec) if f.name != "pandaids"]
_JOB_COLUMNS = [f.name for f in fields(JobSpec)]
_TIMES = {"submit_time", "start_time", "end_time", "modification_time"}
_BOOLS = {"kill_requested", "to_propagate", "swept", "final_update"}
_JSONS = {"plugin_data", "job_data", "pending_update"}


def _to_db(column: str, value: Any) -> Any:
    if column in _TIMES:
        return _time_out(value)
    if column in _BOOLS:
        return int(bool(value))
    if column in _JSONS:
        return None if value is None else json.dumps(value)
    return value


def _from_db(column: str, value: Any) -> Any:
    if column in _TIMES:
        return _time_in(value)
    if column in _BOOLS:
        return bool(value)
    if column in _JSONS:
        return None if value is None else json.loads(value)
    return value


class StoreOwnerError(RuntimeError):
    """The store holds the state of another Harvester instance."""


class Store:
    def __init__(self, database: str):
        self.database = database
        self._lock = threading.RLock()
        self._depth = 0
        self._db: SqliteConnection | PostgresConnection = connect(database)
        try:
            with self.transaction() as db:
                if db.postgres:  # two processes creating the tables at once would collide in the catalogue
                    db.execute("SELECT pg_advisory_xact_lock(CAST(? AS BIGINT))", [lock_key("schema")])
                for statement in SCHEMA:
                    db.execute(statement)
        except BaseException as exc:
            self._db.close()
            if self._db.postgres and isinstance(exc, Exception) and not isinstance(exc, DatabaseError):
                where = database_label(database)
                raise DatabaseError(f"cannot set up the store in {where}: {first_line(exc)}") from exc
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[SqliteConnection | PostgresConnection]:
        """One write transaction; nested uses join the outermost one (same thread, re-entrant lock)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._db.ensure_open()
            self._db.begin()
            self._depth = 1
            try:
                yield self._db
            except BaseException:
                self._db.rollback()
                raise
            else:
                try:
                    self._db.commit()
                except BaseException:
                    self._db.rollback()
                    raise
            finally:
                self._depth = 0

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            if self._depth:  # inside a transaction: its reads are part of it
                return self._db.execute(sql, tuple(params)).fetchall()
            self._db.ensure_open()
            try:
                rows = self._db.execute(sql, tuple(params)).fetchall()
            except BaseException:
                self._db.rollback()
                raise
            self._db.end_read()
            return rows

    def claim(self, harvester_id: str) -> None:
        """Record the Harvester this store belongs to; refuse another one.

        Two instances sharing one set of tables would count, check and report each other's workers
        as their own: each needs its own SQLite file, PostgreSQL database or schema.
        """
        with self.transaction() as db:
            rows = db.execute("SELECT value FROM state WHERE key='harvester_id'").fetchall()
            if not rows:
                db.execute("INSERT INTO state (key, value) VALUES ('harvester_id', ?)", [harvester_id])
            elif rows[0]["value"] != harvester_id:
                raise StoreOwnerError(
                    f"{database_label(self.database)} holds the state of Harvester {rows[0]['value']!r}, "
                    f"not {harvester_id!r}: give each Harvester its own database"
                )

    # --- state -----------------------------------------------------------------------------------

    def state_get(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM state WHERE key=?", [key])
        return rows[0]["value"] if rows else default

    def state_set(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                [key, value],
            )

    def state_delete(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM state WHERE key=?", [key])

    def state_items(self, prefix: str) -> dict[str, str]:
        pattern = prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        rows = self._query("SELECT key, value FROM state WHERE key LIKE ? ESCAPE '\\'", [pattern])
        return {row["key"]: row["value"] for row in rows}

    # --- workers ---------------------------------------------------------------------------------

    def worker_ids_allocate(self, n: int, *, at_least: int = 1) -> list[int]:
        """``n`` new worker IDs, above every ID this store or the server (``at_least``) has used."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM state WHERE key='next_worker_id'").fetchone()
            top = db.execute("SELECT COALESCE(MAX(worker_id), 0) AS top FROM workers").fetchone()["top"]
            first = max(int(row["value"]) if row else 1, top + 1, at_least)
            db.execute(
                "INSERT INTO state (key, value) VALUES ('next_worker_id', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                [str(first + n)],
            )
        return list(range(first, first + n))

    def worker_insert(self, spec: WorkSpec) -> None:
        columns = ", ".join(_WORKER_COLUMNS)
        marks = ", ".join("?" for _ in _WORKER_COLUMNS)
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO workers ({columns}) VALUES ({marks})",
                [_to_db(c, getattr(spec, c)) for c in _WORKER_COLUMNS],
            )

    def worker_update(self, worker_id: int, **changes: Any) -> None:
        if not changes:
            return
        changes.setdefault("modification_time", utcnow())
        assignments = ", ".join(f"{column}=?" for column in changes)
        values = [_to_db(column, value) for column, value in changes.items()]
        with self.transaction() as db:
            db.execute(f"UPDATE workers SET {assignments} WHERE worker_id=?", [*values, worker_id])

    def _worker(self, row: dict[str, Any]) -> WorkSpec:
        return WorkSpec(**{column: _from_db(column, row[column]) for column in _WORKER_COLUMNS})

    def workers(
        self,
        *,
        queue: str | None = None,
        statuses: Iterable[str] | None = None,
        to_propagate: bool | None = None,
        kill_requested: bool | None = None,
        swept: bool | None = None,
        worker_ids: Iterable[int] | None = None,
        with_jobs: bool = False,
    ) -> list[WorkSpec]:
        where, params = [], []
        if queue is not None:
            where.append("queue=?")
            params.append(queue)
        if statuses is not None:
            statuses = list(statuses)
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        for column, value in (("to_propagate", to_propagate), ("kill_requested", kill_requested), ("swept", swept)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(int(value))
        if worker_ids is not None:
            ids = list(worker_ids)
            where.append(f"worker_id IN ({', '.join('?' for _ in ids)})")
            params.extend(ids)
        sql = "SELECT * FROM workers" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY worker_id"
        specs = [self._worker(row) for row in self._query(sql, params)]
        if with_jobs and specs:
            by_id = {spec.worker_id: spec for spec in specs}
            marks = ", ".join("?" for _ in by_id)
            for row in self._query(f"SELECT worker_id, pandaid FROM jobs WHERE worker_id IN ({marks})", list(by_id)):
                by_id[row["worker_id"]].pandaids.append(row["pandaid"])
        return specs

    def worker(self, worker_id: int) -> WorkSpec | None:
        found = self.workers(worker_ids=[worker_id], with_jobs=True)
        return found[0] if found else None

    def worker_counts(self, queue: str) -> dict[str, int]:
        rows = self._query("SELECT status, COUNT(*) AS n FROM workers WHERE queue=? GROUP BY status", [queue])
        return {row["status"]: row["n"] for row in rows}

    def worker_stats(self, queue: str, statuses: Iterable[str]) -> dict[str, dict[str, dict[str, int]]]:
        """``{jobType: {resourceType: {status: n}}}`` as report_worker_statistics wants it."""
        statuses = list(statuses)
        rows = self._query(
            "SELECT job_type, resource_type, status, COUNT(*) AS n FROM workers "
            f"WHERE queue=? AND status IN ({', '.join('?' for _ in statuses)}) "
            "GROUP BY job_type, resource_type, status",
            [queue, *statuses],
        )
        stats: dict[str, dict[str, dict[str, int]]] = {}
        for row in rows:
            stats.setdefault(row["job_type"], {}).setdefault(row["resource_type"], {})[row["status"]] = row["n"]
        return stats

    # --- jobs ------------------------------------------------------------------------------------

    def job_insert(self, spec: JobSpec) -> bool:
        """False when the job is already held (a fetch answered twice)."""
        columns = ", ".join(_JOB_COLUMNS)
        marks = ", ".join("?" for _ in _JOB_COLUMNS)
        with self.transaction() as db:
            cursor = db.execute(
                f"INSERT INTO jobs ({columns}) VALUES ({marks}) ON CONFLICT (pandaid) DO NOTHING",
                [_to_db(c, getattr(spec, c)) for c in _JOB_COLUMNS],
            )
            return cursor.rowcount == 1

    def job_update(self, pandaid: int, **changes: Any) -> None:
        changes.setdefault("modification_time", utcnow())
        assignments = ", ".join(f"{column}=?" for column in changes)
        values = [_to_db(column, value) for column, value in changes.items()]
        with self.transaction() as db:
            db.execute(f"UPDATE jobs SET {assignments} WHERE pandaid=?", [*values, pandaid])

    def jobs(
        self,
        *,
        queue: str | None = None,
        statuses: Iterable[str] | None = None,
        worker_id: int | None = None,
        unbound: bool = False,
        with_pending_update: bool = False,
    ) -> list[JobSpec]:
        where, params = [], []
        if queue is not None:
            where.append("queue=?")
            params.append(queue)
        if statuses is not None:
            statuses = list(statuses)
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        if worker_id is not None:
            where.append("worker_id=?")
            params.append(worker_id)
        if unbound:
            where.append("worker_id IS NULL")
        if with_pending_update:
            where.append("pending_update IS NOT NULL")
        sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY pandaid"
        return [
            JobSpec(**{column: _from_db(column, row[column]) for column in _JOB_COLUMNS})
            for row in self._query(sql, params)
        ]

    def job(self, pandaid: int) -> JobSpec | None:
        rows = self._query("SELECT * FROM jobs WHERE pandaid=?", [pandaid])
        return JobSpec(**{c: _from_db(c, rows[0][c]) for c in _JOB_COLUMNS}) if rows else None

    def job_delete(self, pandaid: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE pandaid=?", [pandaid])

    # --- commands --------------------------------------------------------------------------------

    def command_insert(self, *, command_id: int, command: str, params: Any, ack_requested: bool) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO commands (command_id, command, params, ack_requested, status, received_time) "
                "VALUES (?, ?, ?, ?, 'new', ?) ON CONFLICT (command_id) DO NOTHING",
                [command_id, command, json.dumps(params), int(ack_requested), _time_out(utcnow())],
            )

    def commands(self, status: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM commands WHERE status=? ORDER BY command_id", [status])
        return [{**dict(row), "params": json.loads(row["params"]) if row["params"] else None} for row in rows]

    def command_set_status(self, command_ids: Iterable[int], status: str) -> None:
        ids = list(command_ids)
        if not ids:
            return
        with self.transaction() as db:
            db.execute(
                f"UPDATE commands SET status=? WHERE command_id IN ({', '.join('?' for _ in ids)})", [status, *ids]
            )

    def commands_delete(self, status: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM commands WHERE status=?", [status])
