"""Celery beat entry point for the embedded rule agent (pandaweb/settings.py ``BEAT_TABLE``).

Thin on purpose: it calls one service and returns a one-line summary; ``manage.py run_ddm_rules``
calls the same service. No retries: the next beat run picks up whatever this one left.
"""

from celery import shared_task

from apps.ddm.services.rules import rules_process


@shared_task
def run_ddm_rules() -> str:
    return str(rules_process())
