"""Building small grids for the brokerage tests: queues with pilots, endpoints, jobs on them."""

import datetime as dt

from apps.core.timeutil import utcnow
from apps.jobs.models import Job
from apps.sites.models import PandaQueue, QueueActivity
from tests.factories import PandaQueueFactory, SiteFactory, StorageEndpointFactory, queue_document
from tests.jedi_factories import TaskFactory


def make_queue(name: str, *, site: str | None = None, cloud: str = "CERN", pilot_hours_ago: float | None = 0, **doc):
    """A queue of its own site (``<name>_SITE`` unless given) with a DATADISK endpoint and, unless
    ``pilot_hours_ago`` is None, a pilot getJob that long ago."""
    site_name = site or f"{name}_SITE"
    site_obj = SiteFactory(name=site_name, cloud=cloud)
    StorageEndpointFactory(name=f"{site_name}_DATADISK", site=site_obj)
    queue = PandaQueueFactory(name=name, site=site_obj, document=queue_document(name, site_name, **doc))
    if pilot_hours_ago is not None:
        pilot_seen(queue, hours_ago=pilot_hours_ago)
    return queue


def pilot_seen(queue: PandaQueue, *, hours_ago: float = 0, label: str = "managed") -> None:
    QueueActivity.objects.update_or_create(
        queue=queue.name, prodsourcelabel=label, defaults={"last_getjob": utcnow() - dt.timedelta(hours=hours_ago)}
    )


def jobs_on(queue: str, status: str, n: int, *, task_id: int = 999_999, **fields) -> None:
    """``n`` jobs in ``status`` on ``queue`` (bulk, without status logs: only counts matter here)."""
    Job.objects.bulk_create(
        [
            Job(computingsite=queue, jobstatus=status, jeditaskid=task_id, prodsourcelabel="managed", **fields)
            for _ in range(n)
        ]
    )


def production_task(**fields):
    defaults = {
        "prodsourcelabel": "managed",
        "tasktype": "prod",
        "taskpriority": 500,
        "currentpriority": 500,
        "gshare": "Data Derivations",
    }
    return TaskFactory(**{**defaults, **fields})


def generic_task(**fields):
    """A non-analysis task with a label the generic brokerage serves (not user, not production)."""
    return production_task(**{"prodsourcelabel": "panda", **fields})
