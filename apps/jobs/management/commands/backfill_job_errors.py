from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from apps.core.timeutil import utcnow
from apps.jobs.services.job_errors import DEFAULT_BACKFILL_BATCH, job_errors_backfill


class Command(BaseCommand):
    help = "Write the error-summary rows (JobError) of jobs that failed before they were recorded; safe to rerun."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BACKFILL_BATCH)
        parser.add_argument("--days", type=float, default=None, help="only jobs failed in the last N days")

    def handle(self, *args, batch_size, days, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if days is not None and days <= 0:
            raise CommandError("--days must be positive")
        since = utcnow() - timedelta(days=days) if days is not None else None
        jobs, rows = job_errors_backfill(batch_size=batch_size, since=since)
        self.stdout.write(f"backfill_job_errors: {jobs} failed jobs, {rows} error rows")
