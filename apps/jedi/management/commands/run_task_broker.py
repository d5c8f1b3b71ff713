from django.core.management.base import BaseCommand

from apps.jedi.services.task_broker import DEFAULT_BATCH_SIZE, task_broker_run


class Command(BaseCommand):
    help = "Choose a nucleus for the production tasks in 'assigning' once (JEDI's TaskBroker)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args, batch_size, **options):
        self.stdout.write(str(task_broker_run(batch_size=batch_size)))
