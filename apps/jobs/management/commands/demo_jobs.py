"""Keep the demo queues supplied with runnable activated jobs, inserted directly without a task (the quick
start submits tasks instead: ``manage.py demo_tasks``)."""

from django.core.management.base import CommandError

from apps.jobs.management.demo_loop import DemoLoopCommand
from apps.jobs.selectors.demo import demo_job_counts
from apps.jobs.services.demo import DEMO_QUEUES, demo_jobs_create
from apps.shares.services.tree import ensure_default_shares


class Command(DemoLoopCommand):
    help = (
        "Create a few realistic, runnable activated production jobs on the demo queues every --interval "
        "seconds (inputs placed on the queue's storage endpoint, transformation run_demo.sh served from "
        "PANDA_TRF_DIR); a queue that already holds --max-waiting activated jobs is skipped."
    )

    def add_own_arguments(self, parser):
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

    def check_options(self, options):
        if options["per_queue"] < 1 or options["max_waiting"] < 1:
            raise CommandError("--per-queue and --max-waiting must be at least 1")

    def before_rounds(self, options):
        # Dispatch orders by global share; a fresh demo database gets the default tree.
        if ensure_default_shares():
            self.stdout.write("installed the default global-share tree")

    @staticmethod
    def queues(options) -> tuple[str, ...]:
        return tuple(options["queues"] or DEMO_QUEUES)

    def run_round(self, options: dict, server_url: str) -> None:
        queues = self.queues(options)
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
