"""The two databases Harvester's store runs on: an SQLite file (the default) or PostgreSQL (a URL).

The store writes its SQL once, with ``?`` placeholders and syntax both databases accept
(``INSERT ... ON CONFLICT``, ``COALESCE``, ``LIKE ... ESCAPE``); a connection here adapts the
placeholders, returns rows as dicts and begins, commits and rolls back the way its database wants.
psycopg is imported only when a PostgreSQL URL is configured, so a Harvester on SQLite needs
nothing beyond the standard library (``pip install psycopg[binary]``, or this package's
``postgres`` extra, on a host that uses PostgreSQL).

On PostgreSQL the one-service-per-instance rule is a session advisory lock keyed by the Harvester
ID (:func:`advisory_lock`): it lives as long as the service's lock connection, so a killed process
frees it at once, and it works across hosts, which a lock file cannot.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
STORE_APPLICATION_NAME = "panda-harvester store"  # how the store's connection shows in pg_stat_activity


class DatabaseError(RuntimeError):
    """The configured database cannot be used (missing driver, unreachable server)."""


class LockHeld(RuntimeError):
    """Another session holds the advisory lock; the message says who, when PostgreSQL tells."""


def is_postgres_url(database: str) -> bool:
    return database.startswith(POSTGRES_SCHEMES)


def database_label(database: str) -> str:
    """The database as logs and errors may show it: a URL without its password."""
    if not is_postgres_url(database):
        return database
    parts = urlsplit(database)
    parts = parts._replace(query=re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query))
    if parts.password is not None:
        user, host = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}")
    return urlunsplit(parts)


def first_line(exc: BaseException) -> str:
    """PostgreSQL's messages run over several lines (position, hint); an error message wants the first."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise DatabaseError(
            "a PostgreSQL database needs psycopg 3: pip install 'psycopg[binary]' (or this package's postgres extra)"
        ) from None
    return psycopg


def _dict_rows(cursor: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteConnection:
    """A file in WAL mode, in autocommit mode outside ``BEGIN IMMEDIATE ... COMMIT``."""

    postgres = False

    def __init__(self, path: str):
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.row_factory = _dict_rows
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, tuple(params))

    def ensure_open(self) -> None:
        """Nothing to do: a file does not go away."""

    def begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def end_read(self) -> None:
        """Reads outside a transaction commit themselves in autocommit mode."""

    def close(self) -> None:
        self._conn.close()


class PostgresConnection:
    """One psycopg connection, autocommit off: every statement joins the open transaction until a commit.

    A read outside a transaction is committed at once, so the connection never idles in an open
    transaction. A connection lost with the server (restart, network) is replaced at the start of
    the next transaction or read; the statement that found it lost fails, and its agent retries it
    at the next cycle.
    """

    postgres = True

    def __init__(self, url: str):
        self._url = url
        self._closed = False
        self._conn = self._connect()

    def _connect(self) -> Any:
        psycopg = _psycopg()
        from psycopg.rows import dict_row

        named = {} if "application_name=" in self._url else {"application_name": STORE_APPLICATION_NAME}
        try:
            return psycopg.connect(self._url, autocommit=False, row_factory=dict_row, **named)
        except psycopg.OperationalError as exc:
            raise DatabaseError(f"cannot connect to {database_label(self._url)}: {first_line(exc)}") from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))

    def ensure_open(self) -> None:
        if self._conn.closed and not self._closed:
            self._conn = self._connect()

    def begin(self) -> None:
        """The transaction starts with its first statement (autocommit off)."""

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        if not self._conn.closed:
            self._conn.rollback()

    def end_read(self) -> None:
        self._conn.commit()

    def close(self) -> None:
        self._closed = True
        self._conn.close()


def connect(database: str) -> SqliteConnection | PostgresConnection:
    """A PostgreSQL URL (``postgresql://`` or ``postgres://``) or else the path of an SQLite file."""
    return PostgresConnection(database) if is_postgres_url(database) else SqliteConnection(database)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name`` (the same on every host and Python)."""
    digest = hashlib.blake2b(f"panda-harvester:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_holder(conn: Any, key: int) -> str:
    row = conn.execute(
        "SELECT a.pid, a.application_name, host(a.client_addr) AS client FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1",
        [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
    ).fetchone()
    if row is None:
        return "its holder is not visible to this user"
    name = row[1] or "no application name"
    return f"held by PostgreSQL session {row[0]} ({name}, from {row[2] or 'a local socket'})"


@contextmanager
def advisory_lock(url: str, name: str, *, application_name: str) -> Iterator[None]:
    """Hold ``pg_try_advisory_lock`` on ``name`` in this database for the life of the block.

    The lock has its own connection (like a lock file has its own handle); closing it, or the
    process dying, releases it. Raises :class:`LockHeld` when another session holds it.
    """
    psycopg = _psycopg()
    key = lock_key(name)
    try:
        conn = psycopg.connect(url, autocommit=True, application_name=application_name[:63])
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to {database_label(url)}: {first_line(exc)}") from None
    try:
        if not conn.execute("SELECT pg_try_advisory_lock(%s::bigint)", [key]).fetchone()[0]:
            raise LockHeld(_lock_holder(conn, key))
        yield
    finally:
        conn.close()
