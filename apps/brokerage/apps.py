from django.apps import AppConfig


class BrokerageConfig(AppConfig):
    name = "apps.brokerage"
    label = "brokerage"
