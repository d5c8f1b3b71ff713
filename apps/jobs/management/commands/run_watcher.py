from django.core.management.base import BaseCommand

from apps.jobs.services.timeouts import DEFAULT_BATCH_SIZE, watcher_run, watcher_summary


class Command(BaseCommand):
    help = "Apply the job timeout rules once (the Watcher)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args, batch_size, **options):
        self.stdout.write(watcher_summary(watcher_run(batch_size=batch_size)))
