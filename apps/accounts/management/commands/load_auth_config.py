"""Load VO records (AuthConfig, iam.md §2) from a JSON file, or export them."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services.auth_configs import AuthConfigError, auth_configs_export, auth_configs_load


class Command(BaseCommand):
    help = (
        'Create or update AuthConfig records from FILE, a JSON object {"<vo>[.<role>]": {fields}} ("-" reads '
        "standard input). Idempotent; records not in the file are kept; a bad file changes nothing. "
        "With --export, write every record to FILE (default: standard output) in the same format."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", metavar="FILE")
        parser.add_argument("--export", action="store_true", help="write the records instead of loading them")

    def handle(self, *args, **options):
        path = options["file"]
        if options["export"]:
            text = json.dumps(auth_configs_export(), indent=2, sort_keys=True) + "\n"
            if path in (None, "-"):
                self.stdout.write(text, ending="")
            else:
                with open(path, "w") as out:
                    out.write(text)
            return
        if path is None:
            raise CommandError("FILE is required (or --export)")
        try:
            if path == "-":
                documents = json.load(sys.stdin)
            else:
                with open(path) as source:
                    documents = json.load(source)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        except ValueError as exc:
            raise CommandError(f"{path} is not valid JSON: {exc}") from exc
        try:
            counts = auth_configs_load(documents=documents)
        except AuthConfigError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(", ".join(f"{what} {n}" for what, n in counts.items()))
