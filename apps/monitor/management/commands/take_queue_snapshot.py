from django.core.management.base import BaseCommand, CommandError

from apps.monitor.services.snapshots import queue_snapshot_take


class Command(BaseCommand):
    help = "Store this minute's job counts per queue, jobtype, resource type and state for the dashboards."

    def add_arguments(self, parser):
        parser.add_argument("--keep-minutes", type=int, default=None, help="prune snapshots older than this")

    def handle(self, *args, keep_minutes, **options):
        try:
            result = queue_snapshot_take(keep_minutes=keep_minutes)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(result))
