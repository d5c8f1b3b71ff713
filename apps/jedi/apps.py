from django.apps import AppConfig


class JediConfig(AppConfig):
    name = "apps.jedi"
    label = "jedi"
