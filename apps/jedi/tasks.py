"""Celery beat entry points for the JEDI agents (pandaweb/settings.py ``BEAT_TABLE``).

Thin on purpose: each calls one service and returns a one-line summary. Every agent is also a
management command of the same name, so it can run by hand.
"""

from celery import shared_task  # noqa: F401


@shared_task
def run_task_commando() -> str:
    from apps.jedi.services.commando import commando_run

    return str(commando_run())


@shared_task
def run_task_broker() -> str:
    from apps.jedi.services.task_broker import task_broker_run

    return str(task_broker_run())


@shared_task
def run_task_refiner() -> str:
    from apps.jedi.services.refiner import refiner_run

    return str(refiner_run())


@shared_task
def run_contents_feeder() -> str:
    from apps.jedi.services.contents_feeder import contents_feeder_run

    return str(contents_feeder_run())


@shared_task
def run_job_generator() -> str:
    from apps.jedi.services.generator import job_generator_run

    return str(job_generator_run())


@shared_task
def run_feedback() -> str:
    from apps.jedi.services.feedback import feedback_run

    return str(feedback_run())


@shared_task
def run_postprocessor() -> str:
    from apps.jedi.services.postprocessor import postprocessor_run

    return str(postprocessor_run())


@shared_task
def run_watchdog() -> str:
    from apps.jedi.services.watchdog import watchdog_run

    return str(watchdog_run())
