from django.core.management.base import BaseCommand

from apps.ddm.services.rules import DEFAULT_FILES_PER_RULE, DEFAULT_LIMIT, rules_process


class Command(BaseCommand):
    help = "Run the embedded rule agent once: copy missing files of replicate/stage rules between local endpoints."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="rules to claim in this pass")
        parser.add_argument(
            "--files-per-rule", type=int, default=DEFAULT_FILES_PER_RULE, help="copies per rule in this pass"
        )

    def handle(self, *args, limit, files_per_rule, **options):
        self.stdout.write(str(rules_process(limit=limit, files_per_rule=files_per_rule)))
