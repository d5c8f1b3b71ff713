"""Celery beat entry points for the server agents (pandaweb/settings.py ``BEAT_TABLE``).

Thin on purpose: each calls one service and returns a one-line summary. No retries: the agents
are idempotent sweeps and the next beat run picks up whatever this one left.
"""

from celery import shared_task

from apps.jobs.services.activator import activator_run, jobs_setup
from apps.jobs.services.adder import adder_run
from apps.jobs.services.timeouts import watcher_run, watcher_summary


@shared_task
def run_adder() -> str:
    return str(adder_run())


@shared_task
def run_watcher() -> str:
    return watcher_summary(watcher_run())


@shared_task
def run_activator() -> str:
    return str(activator_run())


@shared_task
def run_setupper(pandaids: list[int]) -> str:
    """The Setupper on job insertion (states.md §6.1); run_activator sweeps up whatever this misses."""
    activated, assigned = jobs_setup(pandaids=pandaids)
    return f"setupper: {activated} activated, {assigned} assigned"
