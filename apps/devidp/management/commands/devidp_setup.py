"""Set up the development provider for the demo: accounts, clients, robot secrets, the atlas VO record."""

from django.core.management.base import BaseCommand

from apps.devidp.services.setup import DEMO_ACCOUNTS, devidp_setup, server_url_from_issuer


class Command(BaseCommand):
    help = (
        "Create (or bring back) the development provider's demo accounts ("
        + ", ".join(username for username, _, _ in DEMO_ACCOUNTS)
        + "), its clients panda-client, panda-monitor, panda-harvester and panda-pilot (secrets written to "
        "VAR_DIR/devidp/<client>.secret, mode 0600) and the AuthConfig record 'atlas' pointing at "
        "PANDA_DEVIDP_ISSUER. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--server-url",
            help="the server's URL for the monitor's login callback (default: PANDA_DEVIDP_ISSUER without /idp)",
        )

    def handle(self, *args, server_url=None, **options):
        result = devidp_setup(server_url=server_url)
        self.stdout.write(f"server: {(server_url or server_url_from_issuer()).rstrip('/')}")
        self.stdout.write(f"accounts created: {', '.join(result.accounts_created) or 'none'}")
        self.stdout.write(f"clients created: {', '.join(result.clients_created) or 'none'}")
        for client_id, path in sorted(result.secrets_written.items()):
            self.stdout.write(f"secret of {client_id} (new): {path}")
        for client_id, path in sorted(result.secrets_kept.items()):
            self.stdout.write(f"secret of {client_id} (kept): {path}")
        self.stdout.write(f"AuthConfig atlas: {'created' if result.auth_config_created else 'updated'}")
        self.stdout.write(f"signing key: {result.kid}")
