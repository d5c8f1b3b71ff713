"""Write every PanDA queue as ``{"<queue>": {…}}``, the format ``load_queues`` reads."""

import json

from django.core.management.base import BaseCommand

from apps.sites.selectors.documents import queues_document_all


class Command(BaseCommand):
    help = 'Export all PanDA queues as a CRIC-style JSON object {"<queue>": {...}} (stdout or --output FILE).'

    def add_arguments(self, parser):
        parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")

    def handle(self, *args, **options):
        write_json(self, queues_document_all(), options["output"])


def write_json(command: BaseCommand, document: dict, output: str | None) -> None:
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        command.stderr.write(f"{len(document)} entries written to {output}")
    else:
        command.stdout.write(text, ending="")
