from django.core.management.base import BaseCommand

from apps.jedi.services.contents_feeder import DEFAULT_BATCH_SIZE, DEFAULT_CHUNK_SIZE, contents_feeder_run


class Command(BaseCommand):
    help = "Feed the input files of defined tasks (and toupdate datasets) from DDM into the task's contents."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=DEFAULT_BATCH_SIZE, help="tasks per cycle")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="rows per insert")

    def handle(self, *args, limit, chunk_size, **options):
        self.stdout.write(str(contents_feeder_run(limit=limit, chunk_size=chunk_size)))
