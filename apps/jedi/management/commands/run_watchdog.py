from django.core.management.base import BaseCommand

from apps.jedi.services.watchdog import DEFAULT_BATCH_SIZE, watchdog_run


class Command(BaseCommand):
    help = "Run the JEDI WatchDog timers once (leases, orphan picked files, pending/throttled/exhausted tasks, goals)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args, batch_size, **options):
        self.stdout.write(str(watchdog_run(batch_size=batch_size)))
