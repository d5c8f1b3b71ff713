"""What every agent works with: configuration, store, server client, plugins and a little shared state."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field

from harvester.communicator import CommunicationError, Communicator
from harvester.config import Config, QueueConfig
from harvester.database import is_postgres_url
from harvester.plugins import plugin_for
from harvester.plugins.base import Plugin
from harvester.store import Store, WorkSpec

log = logging.getLogger(__name__)


@dataclass
class Harvester:
    config: Config
    store: Store
    comm: Communicator
    plugins: dict[str, Plugin] = field(default_factory=dict)
    hostname: str = field(default_factory=socket.gethostname)
    server_worker_id: int | None = None  # the server's largest worker ID, once known
    report_stats_now: bool = False
    # The client-credentials token is renewed once at every start: a token left by an earlier run may be
    # of another issuer (the quick start on another port) or signed with a retired key.
    token_renewed_since_start: bool = False

    @classmethod
    def from_config(cls, config: Config) -> Harvester:
        if not is_postgres_url(config.database):
            os.makedirs(os.path.dirname(os.path.abspath(config.database)) or ".", exist_ok=True)
        os.makedirs(config.workdir, exist_ok=True)
        comm = Communicator(
            server_url=config.server_url,
            harvester_id=config.harvester_id,
            token_file=config.token_file,
            origin=config.origin,
            ca_file=config.ca_file,
            timeout=config.http_timeout,
        )
        store = Store(config.database)
        try:
            store.claim(config.harvester_id)
        except BaseException:
            store.close()
            raise
        harvester = cls(config=config, store=store, comm=comm)
        for queue in config.queues.values():
            harvester.plugins[queue.name] = plugin_for(queue.plugin, config, queue.plugin_args)
        return harvester

    def close(self) -> None:
        self.store.close()

    def queue(self, name: str) -> QueueConfig:
        return self.config.queues[name]

    def plugin(self, worker: WorkSpec) -> Plugin:
        return self.plugins[worker.queue]

    def access_point(self, worker_id: int) -> str:
        return os.path.join(self.config.workdir, str(worker_id))

    def first_worker_id(self) -> int | None:
        """The lowest ID a new worker may take, or None while the server's largest is unknown.

        IDs are per instance on the server: a Harvester that lost its database must not reuse one.
        """
        if self.server_worker_id is None:
            try:
                self.server_worker_id = self.comm.current_worker_id()
            except CommunicationError as exc:
                log.warning("cannot learn the server's worker IDs yet: %s", exc)
                return None
        return self.server_worker_id + 1
