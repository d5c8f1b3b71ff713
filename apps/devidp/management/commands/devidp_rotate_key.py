"""Replace the development provider's signing key; the old public key stays in the JWKS for a while."""

from django.core.management.base import BaseCommand

from apps.devidp.keys import rotate_signing_key


class Command(BaseCommand):
    help = (
        "Generate a new signing key for the development provider (PANDA_DEVIDP_KEY_FILE). Tokens signed "
        "with the old key stay valid: its public key is kept in the JWKS until they have all expired."
    )

    def handle(self, *args, **options):
        old, new = rotate_signing_key()
        self.stdout.write(f"signing key rotated: {old} -> {new}")
