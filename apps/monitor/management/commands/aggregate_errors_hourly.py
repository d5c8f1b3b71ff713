from django.core.management.base import BaseCommand

from apps.monitor.services.error_hourly import error_hourly_update


class Command(BaseCommand):
    help = "Fold the error rows of failed jobs recorded since the last run into the hourly error aggregates."

    def handle(self, *args, **options):
        self.stdout.write(str(error_hourly_update()))
