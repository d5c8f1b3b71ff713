"""A token from the development provider, written to a file (mode 0600): for scripts, demos and tests."""

from django.core.management.base import BaseCommand, CommandError

from apps.devidp.files import private_file_write
from apps.devidp.models import DevAccount, DevClient
from apps.devidp.services.grants import OAuthError, client_credentials_grant
from apps.devidp.services.setup import CLI_CLIENT
from apps.devidp.services.tokens import id_token_create


class Command(BaseCommand):
    help = (
        "Write a token of the development provider to --output: with --client, a client-credentials access "
        "token of that robot client; with --user, an ID token of that demo account for --audience-client "
        "(default panda-client). For demos and tests only."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--client", help="a robot client id, e.g. panda-harvester")
        who.add_argument("--user", help="a demo account, e.g. alice")
        parser.add_argument("--audience-client", default=CLI_CLIENT, help="the client an ID token is for")
        parser.add_argument("--output", required=True, help="the file to write (mode 0600)")

    def handle(self, *args, client=None, user=None, audience_client=CLI_CLIENT, output, **options):
        if client is not None:
            robot = DevClient.objects.filter(client_id=client).first()
            if robot is None:
                raise CommandError(f"unknown client {client!r}; run `manage.py devidp_setup` first")
            try:
                token = client_credentials_grant(client=robot)["access_token"]
            except OAuthError as exc:
                raise CommandError(exc.description) from None
            who = f"client {client}"
        else:
            account = DevAccount.objects.filter(username=user).first()
            if account is None:
                raise CommandError(f"unknown account {user!r}; run `manage.py devidp_setup` first")
            audience = DevClient.objects.filter(client_id=audience_client).first()
            if audience is None:
                raise CommandError(f"unknown client {audience_client!r}; run `manage.py devidp_setup` first")
            token = id_token_create(account=account, client=audience, scope="openid profile email")
            who = f"account {user} (ID token for {audience_client})"
        # No trailing newline: panda-client sends OIDC_AUTH_TOKEN_FILE as it is, in a header.
        private_file_write(output, token)
        self.stdout.write(f"token of {who} written to {output}")
