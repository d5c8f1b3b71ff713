"""Load the global-share tree from a JSON file, or the default tree (apps/shares/services/tree.py)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.shares.services.tree import DEFAULT_SHARES, ShareTreeError, shares_load


class Command(BaseCommand):
    help = (
        "Create or update global shares by name from a JSON list of objects "
        '({"name", "parent", "value", "rank", "prodsourcelabel", "workinggroup", "campaign", "processingtype", '
        '"vo", "queue_cap", "running_cap", "throttled"}); without a file the default tree is loaded. '
        "The whole tree is validated (siblings sum to at most 100 %%, no cycles) before anything is saved."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="JSON file with the shares (default: the built-in tree)")
        parser.add_argument("--replace", action="store_true", help="delete shares the file does not name")

    def handle(self, *args, **options):
        definitions = DEFAULT_SHARES
        if options["path"]:
            try:
                definitions = json.loads(Path(options["path"]).read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read {options['path']}: {exc}") from exc
            if not isinstance(definitions, list):
                raise CommandError(f"{options['path']}: expected a JSON list of shares")
        try:
            n = shares_load(definitions, replace=options["replace"])
        except ShareTreeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"load_global_shares: {n} shares loaded")
