from django.apps import AppConfig


class DevIdpConfig(AppConfig):
    """The development OIDC provider (iam.md §10); installed only with ``PANDA_DEVIDP_ENABLED``."""

    name = "apps.devidp"
    label = "devidp"
