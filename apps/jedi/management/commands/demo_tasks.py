"""Keep the quick start supplied with small production tasks that the JEDI agents carry to ``done``."""

import logging
import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from apps.ddm.interface import DDMError
from apps.jedi.selectors.demo import demo_task_counts
from apps.jedi.services.demo import (
    DEMO_FILES_PER_TASK,
    DEMO_INPUT_FILES,
    DEMO_KINDS,
    DemoUserMissing,
    demo_task_name_prefix,
    demo_tasks_submit,
)
from apps.jobs.selectors.demo import demo_job_counts
from apps.jobs.services.demo import DEMO_EVENTS, DemoQueueMissing, DemoStorageMissing, demo_transformation_url

logger = logging.getLogger(__name__)


def default_server_url() -> str:
    # The quick start's gunicorn: 127.0.0.1:$PANDA_PORT.
    return f"http://127.0.0.1:{os.environ.get('PANDA_PORT') or 8000}"


class Command(BaseCommand):
    help = (
        "Submit small production tasks (one single-core, one multi-core) through task submission every --interval "
        "seconds, each kind only when its previous task has ended. Their inputs are a demo dataset registered in "
        "the embedded DDM with real files on the demo storage; the JEDI agents of the Celery beat turn them into "
        "jobs that Harvester's pilots run (transformation run_demo.sh served from PANDA_TRF_DIR)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=30.0, help="seconds between rounds (default 30)")
        parser.add_argument("--once", action="store_true", help="run one round and exit")
        parser.add_argument(
            "--files",
            type=int,
            default=DEMO_FILES_PER_TASK,
            help=f"input files per task, one job each (1 to {DEMO_INPUT_FILES}; default {DEMO_FILES_PER_TASK})",
        )
        parser.add_argument(
            "--kind",
            action="append",
            dest="kinds",
            choices=[kind.name for kind in DEMO_KINDS],
            help="task kind to submit (repeatable; default all)",
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
        if not 1 <= options["files"] <= DEMO_INPUT_FILES:
            raise CommandError(f"--files must be between 1 and {DEMO_INPUT_FILES}")
        if options["max_events"] < 0:
            raise CommandError("--max-events must not be negative")
        server_url = options["server_url"] or default_server_url()
        if not server_url.startswith(("http://", "https://")):
            raise CommandError("--server-url must start with http:// or https://")
        wanted = options["kinds"] or [kind.name for kind in DEMO_KINDS]
        kinds = [kind for kind in DEMO_KINDS if kind.name in wanted]
        try:
            self.run_round(kinds, options, server_url)
            while not options["once"]:
                time.sleep(options["interval"])
                try:
                    self.run_round(kinds, options, server_url)
                except DatabaseError as exc:
                    # A busy SQLite file or a restarting database must not end the demo loop;
                    # a broken connection is dropped here and reopened by the next round.
                    logger.warning("demo_tasks round failed, retrying next round: %s", exc)
                    close_old_connections()
        except (DemoQueueMissing, DemoStorageMissing, DemoUserMissing, DDMError) as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            pass

    def run_round(self, kinds, options, server_url: str) -> None:
        result = demo_tasks_submit(
            kinds=kinds,
            n_files=options["files"],
            max_events=options["max_events"],
            server_url=server_url,
            transformation=options["transformation"],
        )
        counts = demo_task_counts(prefixes=[demo_task_name_prefix(kind) for kind in kinds])
        tasks = ", ".join(f"{status} {n}" for status, n in counts.items()) or "none"
        jobs = demo_job_counts(queues=sorted({kind.queue for kind in kinds}))
        jobs_text = ", ".join(f"{status} {n}" for status, n in jobs.items()) or "none"
        self.stdout.write(f"demo_tasks: {result.summary()} | demo tasks: {tasks} | jobs: {jobs_text}")
