from django.core.management.base import BaseCommand

from apps.jedi.services.generator import DEFAULT_LIMIT, DEFAULT_MAX_JOBS_PER_TASK, job_generator_run


class Command(BaseCommand):
    help = "Generate jobs for ready/scouting/running tasks: throttle, broker, split, store, hand to the Setupper."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="tasks per cycle")
        parser.add_argument("--max-jobs-per-task", type=int, default=DEFAULT_MAX_JOBS_PER_TASK)
        parser.add_argument("--no-setup", action="store_true", help="leave the new jobs defined (no Setupper)")

    def handle(self, *args, limit, max_jobs_per_task, no_setup, **options):
        self.stdout.write(str(job_generator_run(limit=limit, max_jobs_per_task=max_jobs_per_task, setup=not no_setup)))
