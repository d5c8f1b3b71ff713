"""Log in with the OIDC device-code flow and cache the tokens (iam.md §9), through scripts/panda_login.py.

Without ``--server`` the VO's public client settings are read from this server's database (its AuthConfig),
so an operator on the server host needs no URL; the provider is still reached over HTTP, as the user's
browser must reach it too.
"""

import importlib.util
import sys
import time
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import AuthConfig
from apps.accounts.services.auth_configs import public_auth_config


@cache
def panda_login():
    """``scripts/panda_login.py``, which is a standalone script rather than a package module."""
    path = Path(settings.BASE_DIR) / "scripts" / "panda_login.py"
    spec = importlib.util.spec_from_file_location("panda_login", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("panda_login", module)
    spec.loader.exec_module(module)
    return module


def auth_config_named(name: str) -> dict:
    """The public fields of the VO record, as ``/auth/<name>_auth_config.json`` would serve them."""
    config = AuthConfig.objects.filter(name=name, enabled=True).first()
    if config is None:
        raise CommandError(f"no enabled AuthConfig named {name!r} (manage.py load_auth_config, or give --server)")
    return public_auth_config(config)


class Command(BaseCommand):
    help = (
        "Log in with the OIDC device-code flow: reuse the cached token while it has more than 5 minutes "
        "left, else refresh it, else show a URL to open. The tokens go to $PANDA_CONFIG_ROOT/.token (0600)."
    )

    def add_arguments(self, parser):
        defaults = panda_login().build_parser()
        parser.add_argument("--vo", required=True, help="VO (AuthConfig name), e.g. atlas or atlas.production")
        parser.add_argument("--server", help="take the client settings from this server instead of the database")
        parser.add_argument("--config-root", default=defaults.get_default("config_root"))
        parser.add_argument("--print-token", action="store_true", help="print only the ID token on stdout")
        parser.add_argument("--force", action="store_true", help="ignore the cached token and log in again")
        parser.add_argument("--ca-bundle", help="CA certificates to verify the server and provider with")

    def handle(self, *args, **options):
        module = panda_login()
        auth_config = None if options["server"] else auth_config_named(options["vo"])

        def say(message: str) -> None:
            self.stderr.write(module.scrub(message))

        try:
            tokens = module.login(
                vo=options["vo"],
                server=options["server"],
                auth_config=auth_config,
                config_root=options["config_root"],
                force=options["force"],
                http=module.Http(ca_bundle=options["ca_bundle"]),
                say=say,
            )
        except module.LoginError as exc:
            raise CommandError(str(exc)) from exc
        if options["print_token"]:
            self.stdout.write(tokens["id_token"])
            return
        claims = module.unverified_claims(tokens["id_token"])
        until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(claims.get("exp", 0))))
        who = claims.get("preferred_username") or claims.get("sub", "?")
        self.stderr.write(f"Logged in as {who} for {options['vo']}; the token is valid until {until}.")
