from django.core.management.base import BaseCommand

from apps.jobs.services.activator import DEFAULT_BATCH_SIZE, activator_run


class Command(BaseCommand):
    help = "Set up defined jobs and activate assigned jobs whose inputs are available (Setupper + Activator)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument(
            "--min-age", type=int, default=None, help="seconds a job must be assigned (default PANDA_ACTIVATOR_MIN_AGE)"
        )

    def handle(self, *args, batch_size, min_age, **options):
        self.stdout.write(str(activator_run(batch_size=batch_size, min_age=min_age)))
