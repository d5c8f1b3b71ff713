"""Keep the demo queues supplied with activated jobs (quick start, until Harvester lands)."""

import logging
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from apps.jobs.services.demo import DEMO_QUEUES, DEMO_TRANSFORMATION, DemoQueueMissing, demo_jobs_create

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Create a few realistic activated production jobs on the demo queues every --interval seconds; "
        "a queue that already holds --max-waiting activated jobs is skipped."
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
        parser.add_argument("--transformation", default=DEMO_TRANSFORMATION, help="transformation the jobs run")

    def handle(self, *args, **options):
        if options["interval"] <= 0:
            raise CommandError("--interval must be positive")
        if options["per_queue"] < 1 or options["max_waiting"] < 1:
            raise CommandError("--per-queue and --max-waiting must be at least 1")
        queues = tuple(options["queues"] or DEMO_QUEUES)
        try:
            self.run_round(queues, options)
            while not options["once"]:
                time.sleep(options["interval"])
                try:
                    self.run_round(queues, options)
                except DatabaseError as exc:
                    # A busy SQLite file or a restarting database must not end the demo loop;
                    # a broken connection is dropped here and reopened by the next round.
                    logger.warning("demo_jobs round failed, retrying next round: %s", exc)
                    close_old_connections()
        except DemoQueueMissing as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            pass

    def run_round(self, queues: tuple[str, ...], options: dict) -> None:
        result = demo_jobs_create(
            queues=queues,
            per_queue=options["per_queue"],
            max_waiting=options["max_waiting"],
            transformation=options["transformation"],
        )
        self.stdout.write(f"demo_jobs: {result.summary()}")
