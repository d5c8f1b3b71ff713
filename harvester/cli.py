"""``python -m harvester <command> -c <config>``.

* ``run``: the service, until SIGTERM/SIGINT (workers keep running; the next ``run`` resumes them);
* ``cycle [-n N]``: N cycles of every agent, then exit (cron-style operation, debugging);
* ``workers``: the workers in the store, one per line;
* ``check``: load the configuration and say what it serves.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from harvester import __version__
from harvester.config import ConfigError, config_load
from harvester.database import DatabaseError
from harvester.service import AlreadyRunning, Service, service_lock
from harvester.store import Store, StoreOwnerError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harvester", description="PanDA Harvester: provisions pilots")
    parser.add_argument("--version", action="version", version=f"harvester {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "run the service until stopped"),
        ("cycle", "run every agent N times and exit"),
        ("workers", "list the workers in the store"),
        ("check", "validate the configuration"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("-c", "--config", required=True, help="configuration file (.toml or .json)")
        command.add_argument("--log-file", default="", help="log here instead of stderr")
        command.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        if name == "cycle":
            command.add_argument("-n", "--cycles", type=int, default=1)
    return parser


def _logging(args: argparse.Namespace) -> None:
    handler: logging.Handler = logging.FileHandler(args.log_file) if args.log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if args.verbose else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _logging(args)
    try:
        config = config_load(args.config)
    except ConfigError as exc:
        print(f"harvester: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        for queue in config.queues.values():
            print(f"{queue.name}: {queue.mode} via {queue.plugin}, at most {queue.max_workers} workers")
        return 0
    if args.command == "workers":
        try:
            store = Store(config.database)
        except DatabaseError as exc:
            print(f"harvester: {exc}", file=sys.stderr)
            return 1
        for worker in store.workers(with_jobs=True):
            jobs = ",".join(map(str, worker.pandaids)) or "-"
            print(f"{worker.worker_id}\t{worker.queue}\t{worker.status}\t{worker.batch_id or '-'}\t{jobs}")
        store.close()
        return 0
    try:
        with service_lock(config.database, config.harvester_id):
            service = Service(config)
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: service.stop.set())
            try:
                service.run(max_cycles=args.cycles if args.command == "cycle" else None)
            finally:
                service.close()
    except (AlreadyRunning, StoreOwnerError, DatabaseError) as exc:
        print(f"harvester: {exc}", file=sys.stderr)
        return 1
    return 0
