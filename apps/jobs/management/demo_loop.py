"""The loop both demo feeders share (``demo_jobs`` here, ``demo_tasks`` in apps/jedi).

Common options (``--interval``, ``--once``, ``--server-url``, ``--transformation``, ``--max-events``), their
checks, and a round loop that survives a busy SQLite file or a restarting database. A subclass adds its own
options in :meth:`add_own_arguments`, checks them in :meth:`check_options`, does one round in
:meth:`run_round` and lists in ``expected_errors`` the exceptions that end the command with a clear message.
"""

import logging
import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from apps.jobs.services.demo import DEMO_EVENTS, DemoQueueMissing, DemoStorageMissing, demo_transformation_url

logger = logging.getLogger(__name__)


def default_server_url() -> str:
    # The quick start's gunicorn: 127.0.0.1:$PANDA_PORT.
    return f"http://127.0.0.1:{os.environ.get('PANDA_PORT') or 8000}"


class DemoLoopCommand(BaseCommand):
    expected_errors: tuple[type[Exception], ...] = (DemoQueueMissing, DemoStorageMissing)

    def add_own_arguments(self, parser) -> None:
        """Options of this feeder only."""

    def check_options(self, options: dict) -> None:
        """Raise CommandError for a bad option of this feeder."""

    def before_rounds(self, options: dict) -> None:
        """Once, before the first round."""

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=30.0, help="seconds between rounds (default 30)")
        parser.add_argument("--once", action="store_true", help="run one round and exit")
        self.add_own_arguments(parser)
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
        if options["max_events"] < 0:
            raise CommandError("--max-events must not be negative")
        self.check_options(options)
        server_url = options["server_url"] or default_server_url()
        if not server_url.startswith(("http://", "https://")):
            raise CommandError("--server-url must start with http:// or https://")
        try:
            self.before_rounds(options)
            self.run_round(options, server_url)
            while not options["once"]:
                time.sleep(options["interval"])
                try:
                    self.run_round(options, server_url)
                except DatabaseError as exc:
                    # A busy SQLite file or a restarting database must not end the demo loop;
                    # a broken connection is dropped here and reopened by the next round.
                    logger.warning("%s round failed, retrying next round: %s", self.loop_name, exc)
                    close_old_connections()
        except self.expected_errors as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            pass

    @property
    def loop_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]
