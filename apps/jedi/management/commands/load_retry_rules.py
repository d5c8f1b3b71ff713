import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.jedi.services.retry_module import RetryRuleError, retry_rules_load


class Command(BaseCommand):
    help = (
        "Load retry-module rules from a JSON file: a list of objects with errorsource, errorcode, "
        "action and optionally errordiag, parameters, architecture, release, workqueue_id, active, description."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSON file with a list of rules")
        parser.add_argument("--replace", action="store_true", help="delete the stored rules that are not in the file")

    def handle(self, *args, path, replace, **options):
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        except ValueError as exc:
            raise CommandError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise CommandError(f"{path} must hold a list of rules, got {type(data).__name__}")
        try:
            created, updated = retry_rules_load(data, replace=replace)
        except RetryRuleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"retry rules: {created} created, {updated} updated")
