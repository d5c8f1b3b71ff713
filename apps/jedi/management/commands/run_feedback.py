from django.core.management.base import BaseCommand

from apps.jedi.services.feedback import DEFAULT_BATCH_SIZE, DEFAULT_LIMIT, feedback_run


class Command(BaseCommand):
    help = "Feed job results back to JEDI's file records once (running/finished/retry/failed, prepared tasks)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="file rows of each kind per run")

    def handle(self, *args, batch_size, limit, **options):
        self.stdout.write(str(feedback_run(batch_size=batch_size, limit=limit)))
