from django.apps import AppConfig


class DdmConfig(AppConfig):
    name = "apps.ddm"
    label = "ddm"
