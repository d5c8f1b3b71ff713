"""Set up the quick-start grid: DEMO_SITE, its queues and storage, resource types and the demo user."""

from django.core.management.base import BaseCommand

from apps.sites.services.demo_grid import DEMO_QUEUES_FILE, demo_grid_load


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo grid: site DEMO_SITE, queues DEMO_QUEUE and DEMO_QUEUE_MCORE, storage "
        "endpoint DEMO_SITE_DATADISK under VAR_DIR/demo-se, the standard resource types and the production "
        "user demo-pilot that owns the demo tasks. Safe to run again. "
        f"The queue definitions are in {DEMO_QUEUES_FILE}."
    )

    def handle(self, *args, **options):
        grid = demo_grid_load()
        names = ", ".join(grid.queues.created + grid.queues.updated)
        self.stdout.write(f"queues: {grid.queues.summary('queue(s)')} ({names})")
        self.stdout.write(f"storage: {grid.endpoints.summary('endpoint(s)')}; files under {grid.storage_dir}")
        self.stdout.write(f"resource types: {grid.resource_types.summary('type(s)')}")
        self.stdout.write(f"demo tasks are submitted as: {grid.user.username} (production role)")
