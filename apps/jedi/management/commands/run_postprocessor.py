from django.core.management.base import BaseCommand

from apps.jedi.services.postprocessor import DEFAULT_BATCH_SIZE, postprocessor_run


class Command(BaseCommand):
    help = "Give prepared, finishing, passed, toabort and tobroken tasks their final state once (JEDI's PostProcessor)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args, batch_size, **options):
        self.stdout.write(str(postprocessor_run(batch_size=batch_size)))
