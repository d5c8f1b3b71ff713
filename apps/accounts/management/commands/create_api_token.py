"""Issue an interim API token for a (new or existing) user, e.g. a production pilot."""

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services.tokens import api_token_create, write_secret
from apps.core.timeutil import utcnow


class Command(BaseCommand):
    help = (
        "Create (or reuse) a user and print a new API token once. --dn and --fqan replace the user's "
        "identity when given. With --output the token is written to FILE (mode 0600) instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--dn", help="certificate-style DN, e.g. '/DC=ch/DC=cern/OU=Users/CN=Robot: Pilot'")
        parser.add_argument(
            "--fqan",
            action="append",
            dest="fqans",
            metavar="FQAN",
            help="VOMS-style attribute, repeatable, e.g. /atlas/Role=production or /atlas/Role=pilot",
        )
        parser.add_argument("--name", default="default", help="label of the token (default 'default')")
        parser.add_argument("--expires-days", type=int, help="token lifetime in days (default: no expiry)")
        parser.add_argument("--output", type=Path, metavar="FILE", help="write the token to FILE (mode 0600)")

    def handle(self, *args, **options):
        days = options["expires_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-days must be positive")
        output: Path | None = options["output"]
        if output is not None and output.is_dir():
            raise CommandError(f"--output {output} is a directory")
        try:
            user, raw, created = api_token_create(
                username=options["username"],
                dn=options["dn"],
                fqans=options["fqans"],
                name=options["name"],
                expires=utcnow() + dt.timedelta(days=days) if days else None,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        action = "created" if created else "reused"
        self.stderr.write(f"{action} user {user.username!r} dn={user.dn!r} fqans={user.fqans}")
        if output is None:
            self.stdout.write(raw)
            return
        # No trailing newline: panda-client sends OIDC_AUTH_TOKEN_FILE verbatim as the header value.
        write_secret(output, raw)
        self.stderr.write(f"token written to {output}")
