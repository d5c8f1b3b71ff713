"""Endpoint modules; importing them registers their legacy and v1 methods."""

from apps.dispatcher.api import system  # noqa: F401
