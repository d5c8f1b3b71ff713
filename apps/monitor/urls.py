"""Monitor URLs (monitor.md §1): typed, uniquely named; one module per page family adds its routes here."""

from django.urls import path

from apps.monitor.views import home

app_name = "monitor"

urlpatterns = [
    path("", home.front_page, name="home"),
]
