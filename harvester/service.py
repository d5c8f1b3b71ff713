"""The service: every agent, one after the other, every ``cycle_seconds``.

Agents run sequentially in one process: each cycle is short (a few HTTP calls and local process or
batch-system queries) and sequential agents never race on the store. A failing agent is logged and
the cycle goes on; the next cycle retries. Stopping the service (SIGTERM, SIGINT) leaves the workers
running: the next start resumes them from the store; with ``kill_workers_on_stop`` it kills them
first and tells the server (once, best effort: what the server does not get now is sent by the next
start).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harvester.agents.commands import commands_run
from harvester.agents.credmanager import credmanager_run
from harvester.agents.fetcher import fetcher_run
from harvester.agents.monitor import monitor_run
from harvester.agents.propagator import propagator_run
from harvester.agents.submitter import submitter_run
from harvester.agents.sweeper import sweeper_kill_all, sweeper_run
from harvester.config import Config
from harvester.context import Harvester
from harvester.database import LockHeld, advisory_lock, database_label, is_postgres_url
from harvester.store import utcnow

log = logging.getLogger(__name__)


class AlreadyRunning(RuntimeError):
    pass


@contextmanager
def service_lock(database: str, harvester_id: str) -> Iterator[None]:
    """One service per store: a second Harvester on the same database would submit twice.

    SQLite: an exclusive ``flock`` on ``<database>.lock``. PostgreSQL: a session advisory lock
    keyed by the Harvester ID in that database (``pg_try_advisory_lock``), held by a connection of
    its own until the service ends; it also stops a second process with the same ID on another host.
    """
    if is_postgres_url(database):
        name = f"harvester {harvester_id} pid {os.getpid()} on {socket.gethostname()}"
        try:
            with advisory_lock(database, harvester_id, application_name=name):
                yield
        except LockHeld as exc:
            raise AlreadyRunning(
                f"another Harvester {harvester_id!r} is running on {database_label(database)} ({exc})"
            ) from None
        return
    path = f"{database}.lock"
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the life of the service
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"another Harvester is running on {database}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


class Service:
    def __init__(self, config: Config):
        self.config = config
        self.harvester = Harvester.from_config(config)
        self.started = utcnow()
        self.stop = threading.Event()
        self.cycles = 0

    def agents(self) -> list[tuple[str, Callable[[], object]]]:
        h = self.harvester
        return [
            ("credmanager", lambda: credmanager_run(h)),
            ("commands", lambda: commands_run(h, started=self.started)),
            ("fetcher", lambda: fetcher_run(h)),
            ("submitter", lambda: submitter_run(h)),
            ("monitor", lambda: monitor_run(h)),
            ("sweeper", lambda: sweeper_run(h)),
            ("propagator", lambda: propagator_run(h)),
        ]

    def cycle(self) -> None:
        for name, agent in self.agents():
            if self.stop.is_set():
                return
            try:
                agent()
            except Exception:
                log.exception("agent %s failed", name)
        self.cycles += 1

    def run(self, *, max_cycles: int | None = None) -> None:
        log.info(
            "Harvester %s serving %s against %s",
            self.config.harvester_id,
            ", ".join(self.config.queues),
            self.config.server_url,
        )
        while not self.stop.is_set():
            self.cycle()
            if max_cycles is not None and self.cycles >= max_cycles:
                break
            self.stop.wait(self.config.cycle_seconds)
        if self.stop.is_set() and self.config.kill_workers_on_stop:
            self.kill_workers()
        log.info("Harvester %s stopped after %s cycles", self.config.harvester_id, self.cycles)

    def kill_workers(self) -> None:
        h = self.harvester
        try:
            killed = sweeper_kill_all(h, reason="killed by Harvester: the service stopped")
            log.info("stopping: killed %s worker(s)", killed)
            if killed:
                propagator_run(h)
        except Exception:
            log.exception("stopping: killing the workers failed")

    def close(self) -> None:
        self.harvester.close()
