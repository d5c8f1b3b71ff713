"""Create or update PanDA queues from a CRIC-style JSON file ``{"<queue>": {…}}``."""

from django.core.management.base import BaseCommand, CommandError

from apps.sites.services.queues import QueueDocumentError, queues_load_file


class Command(BaseCommand):
    help = (
        'Load PanDA queues from a CRIC-style JSON file {"<queue>": {...}} (protocol.md §11.1). '
        "All queues are validated first; nothing is written unless every one is valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSON file, e.g. a CRIC pandaqueue dump or the output of export_queues")

    def handle(self, *args, **options):
        try:
            result = queues_load_file(path=options["file"])
        except (QueueDocumentError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.summary("queue(s)"))
