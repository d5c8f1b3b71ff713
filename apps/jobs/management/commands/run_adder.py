from django.core.management.base import BaseCommand

from apps.jobs.services.adder import DEFAULT_BATCH_SIZE, DEFAULT_MAX_REPORTS, adder_run


class Command(BaseCommand):
    help = "Finalise holding jobs from their pending output reports (the Adder)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--max-reports", type=int, default=DEFAULT_MAX_REPORTS)
        parser.add_argument("--worker-name", default=None, help="name recorded in the report leases")

    def handle(self, *args, batch_size, max_reports, worker_name, **options):
        summary = adder_run(batch_size=batch_size, max_reports=max_reports, worker_name=worker_name)
        self.stdout.write(str(summary))
