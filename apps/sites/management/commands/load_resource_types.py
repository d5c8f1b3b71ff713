"""Install the standard resource types (SCORE, MCORE, SCORE_HIMEM, MCORE_HIMEM) and any from a file."""

from django.core.management.base import BaseCommand, CommandError

from apps.sites.services.resource_types import ResourceTypeError, resource_types_load, resource_types_load_file


class Command(BaseCommand):
    help = (
        "Create or update the standard resource types; with FILE also those it lists "
        '([{"resource_name": ..., "mincore": ..., "maxcore": ..., "minrampercore": ..., "maxrampercore": ...}] '
        "or an object keyed by name). Entries of FILE win over the standard ones."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="optional JSON file with extra resource types")

    def handle(self, *args, **options):
        try:
            path = options["file"]
            result = resource_types_load_file(path=path) if path else resource_types_load()
        except (ResourceTypeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.summary("resource type(s)"))
