"""Keep the demo queues supplied with runnable activated jobs, inserted directly without a task (the quick
start submits tasks instead: ``manage.py demo_tasks``)."""

import logging
import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from apps.jobs.selectors.demo import demo_job_counts
from apps.jobs.services.demo import (
    DEMO_EVENTS,
    DEMO_QUEUES,
    DemoQueueMissing,
    DemoStorageMissing,
    demo_jobs_create,
    demo_transformation_url,
)
from apps.shares.services.tree import ensure_default_shares

logger = logging.getLogger(__name__)


def default_server_url() -> str:
    # The quick start's gunicorn: 127.0.0.1:$PANDA_PORT.
    return f"http://127.0.0.1:{os.environ.get('PANDA_PORT') or 8000}"


class Command(BaseCommand):
    help = (
        "Create a few realistic, runnable activated production jobs on the demo queues every --interval "
        "seconds (inputs placed on the queue's storage endpoint, transformation run_demo.sh served from "
        "PANDA_TRF_DIR); a queue that already holds --max-waiting activated jobs is skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=30.0, help="seconds between rounds (default 30)")
        parser.add_argument("--once", action="store_true", help="run one round and exit")
        parser.add_argument("--per-queue", type=int, default=2, help="jobs added per queue and round (default 2)")
        parser.add_argument(
            "--max-waiting", type=int, default=20, help="never let a queue hold more activated jobs (default 20)"
        )
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="NAME",
            help=f"PanDA queue to feed (repeatable; default {' and '.join(DEMO_QUEUES)})",
        )
        parser.add_argument(
            "--server-url",
            default=None,
            help="the server URL the pilots use; the transformation is downloaded from it "
            "(default http://127.0.0.1:$PANDA_PORT, port 8000 when unset)",
        )
        parser.add_argument(
            "--transformation",
            default=None,
            help=f"transformation the jobs run instead of {demo_transformation_url('<server-url>')}",
        )
        parser.add_argument(
            "--max-events",
            type=int,
            default=DEMO_EVENTS,
            help=f"events per job; the demo payload simulates 20 a second (default {DEMO_EVENTS})",
        )

    def handle(self, *args, **options):
        if options["interval"] <= 0:
            raise CommandError("--interval must be positive")
        if options["per_queue"] < 1 or options["max_waiting"] < 1:
            raise CommandError("--per-queue and --max-waiting must be at least 1")
        if options["max_events"] < 0:
            raise CommandError("--max-events must not be negative")
        server_url = options["server_url"] or default_server_url()
        if not server_url.startswith(("http://", "https://")):
            raise CommandError("--server-url must start with http:// or https://")
        queues = tuple(options["queues"] or DEMO_QUEUES)
        # Dispatch orders by global share; a fresh demo database gets the default tree.
        if ensure_default_shares():
            self.stdout.write("installed the default global-share tree")
        try:
            self.run_round(queues, options, server_url)
            while not options["once"]:
                time.sleep(options["interval"])
                try:
                    self.run_round(queues, options, server_url)
                except DatabaseError as exc:
                    # A busy SQLite file or a restarting database must not end the demo loop;
                    # a broken connection is dropped here and reopened by the next round.
                    logger.warning("demo_jobs round failed, retrying next round: %s", exc)
                    close_old_connections()
        except (DemoQueueMissing, DemoStorageMissing) as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            pass

    def run_round(self, queues: tuple[str, ...], options: dict, server_url: str) -> None:
        result = demo_jobs_create(
            queues=queues,
            per_queue=options["per_queue"],
            max_waiting=options["max_waiting"],
            server_url=server_url,
            transformation=options["transformation"],
            max_events=options["max_events"],
        )
        counts = ", ".join(f"{status} {n}" for status, n in demo_job_counts(queues=queues).items())
        self.stdout.write(f"demo_jobs: {result.summary()} | jobs on the demo queues: {counts}")
