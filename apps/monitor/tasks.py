"""Celery beat entry points of the monitor (pandaweb/settings.py ``BEAT_TABLE``)."""

from celery import shared_task

from apps.monitor.services.error_hourly import error_hourly_update
from apps.monitor.services.snapshots import queue_snapshot_take


@shared_task
def run_queue_snapshot() -> str:
    return str(queue_snapshot_take())


@shared_task
def run_error_hourly() -> str:
    return str(error_hourly_update())
