from django.core.management.base import BaseCommand

from apps.jedi.services.commando import DEFAULT_BATCH_SIZE, commando_run


class Command(BaseCommand):
    help = "Execute the queued task commands once (JEDI's TaskCommando)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args, batch_size, **options):
        self.stdout.write(str(commando_run(batch_size=batch_size)))
