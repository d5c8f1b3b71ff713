from django.core.management.base import BaseCommand

from apps.jedi.services.refiner import DEFAULT_BATCH_SIZE, refiner_run


class Command(BaseCommand):
    help = "Refine registered (and re-refined) tasks: datasets, output templates, job-parameter template."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=DEFAULT_BATCH_SIZE, help="tasks per cycle")

    def handle(self, *args, limit, **options):
        self.stdout.write(str(refiner_run(limit=limit)))
