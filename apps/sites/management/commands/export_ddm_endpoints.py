"""Write every storage endpoint as the pilot's ``ddmendpoints.json`` document."""

from django.core.management.base import BaseCommand

from apps.sites.management.commands.export_queues import write_json
from apps.sites.selectors.documents import ddm_endpoints_document


class Command(BaseCommand):
    help = 'Export all storage endpoints as {"<ddmendpoint>": {...}} (stdout or --output FILE).'

    def add_arguments(self, parser):
        parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")

    def handle(self, *args, **options):
        write_json(self, ddm_endpoints_document(), options["output"])
