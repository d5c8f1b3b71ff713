"""Celery beat entry points for the JEDI agents (pandaweb/settings.py ``BEAT_TABLE``).

Thin on purpose: each calls one service and returns a one-line summary. Every agent is also a
management command of the same name, so it can run by hand.
"""

from celery import shared_task  # noqa: F401
