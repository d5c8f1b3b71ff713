from django.apps import AppConfig
from django.conf import settings


class DevIdpConfig(AppConfig):
    """The development OIDC provider (iam.md §10): always installed, its endpoints 404 unless
    ``PANDA_DEVIDP_ENABLED``."""

    name = "apps.devidp"
    label = "devidp"
    verbose_name = "Development identity provider"

    def ready(self):
        if not settings.PANDA_DEVIDP_ENABLED:
            return
        from apps.accounts.oidc.keys import register_local_documents
        from apps.devidp.documents import local_document

        # The server validates development tokens in-process instead of HTTP-calling itself (a sync
        # gunicorn worker calling itself would wait for itself).
        register_local_documents(settings.PANDA_DEVIDP_ISSUER.rstrip("/"), local_document)
