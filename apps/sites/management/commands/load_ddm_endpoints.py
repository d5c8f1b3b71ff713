"""Create or update storage endpoints from a JSON file ``{"<ddmendpoint>": {…}}``."""

from django.core.management.base import BaseCommand, CommandError

from apps.sites.services.storage_endpoints import StorageEndpointError, storage_endpoints_load_file


class Command(BaseCommand):
    help = (
        'Load storage endpoints (DDM endpoints) from a JSON file {"<ddmendpoint>": {...}} (protocol.md §11.2). '
        "Nothing is written unless every endpoint is valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSON file: a CRIC ddmendpoint dump or export_ddm_endpoints output")

    def handle(self, *args, **options):
        try:
            result = storage_endpoints_load_file(path=options["file"])
        except (StorageEndpointError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.summary("storage endpoint(s)"))
