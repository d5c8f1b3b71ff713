"""The state of the grid one brokerage call judges, read in a handful of bulk queries.

Every call reads afresh (no cache across cycles): all queues with their sites, job counts per
queue and status (one aggregated query over ``jobs``), the task's own jobs per queue, the last
pilot request per queue, the storage endpoints, and where the chunk's input files are (one
``list_replicas`` call). Nothing here issues a query per queue, so 200 queues cost the same
handful of queries as two.
"""

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Max, Q

from apps.brokerage.services.needs import PSEUDO_INPUT
from apps.core.timeutil import utcnow
from apps.ddm.interface import ddm
from apps.jedi.models import DatasetContent
from apps.jobs.models import Job
from apps.jobs.states import ACTIVE_GROUP, DEFINED_GROUP, FINAL
from apps.sites.models import PandaQueue, QueueActivity, StorageEndpoint

# astorages activities a queue reads its inputs through / writes its outputs to.
READ_ACTIVITIES = ("read_lan", "read_lan_analysis", "pr")
WRITE_ACTIVITIES = ("write_lan", "write_lan_analysis", "pw")
_QUEUED_OR_ACTIVE = sorted(DEFINED_GROUP | ACTIVE_GROUP)


def queues_all() -> list[PandaQueue]:
    return list(PandaQueue.objects.select_related("site").order_by("name"))


def queue_cloud(queue: PandaQueue) -> str:
    return queue.cloud or queue.site.cloud


def queue_endpoints(queue: PandaQueue, activities: Iterable[str]) -> list[str]:
    """The endpoint names ``astorages`` lists for ``activities``, in order, without duplicates."""
    names: list[str] = []
    for activity in activities:
        for name in (queue.astorages or {}).get(activity) or []:
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def job_counts(queue_names: Iterable[str]) -> dict[str, Counter]:
    """``{queue: Counter(jobstatus -> n)}`` of jobs not yet final."""
    rows = (
        Job.objects.filter(computingsite__in=list(queue_names), jobstatus__in=_QUEUED_OR_ACTIVE)
        .values("computingsite", "jobstatus")
        .annotate(n=Count("pandaid"))
        .order_by()
    )
    counts: dict[str, Counter] = {}
    for row in rows:
        counts.setdefault(row["computingsite"], Counter())[row["jobstatus"]] = row["n"]
    return counts


@dataclass
class TaskJobs:
    """The task's own jobs per queue: which queues it already uses and its recent results there."""

    used: set[str] = field(default_factory=set)  # queues with a job of the task not yet final
    recent: dict[str, Counter] = field(default_factory=dict)  # queue -> final status -> n, recent window


def task_jobs(task_id: int, *, since: dt.datetime) -> TaskJobs:
    rows = (
        Job.objects.filter(jeditaskid=task_id, computingsite__isnull=False)
        .values("computingsite", "jobstatus")
        .annotate(n=Count("pandaid"), recent=Count("pandaid", filter=Q(modificationtime__gte=since)))
        .order_by()
    )
    result = TaskJobs()
    for row in rows:
        if row["jobstatus"] not in FINAL:
            result.used.add(row["computingsite"])
        elif row["recent"]:
            result.recent.setdefault(row["computingsite"], Counter())[row["jobstatus"]] = row["recent"]
    return result


def pilots_last_seen(queue_names: Iterable[str]) -> dict[str, dt.datetime]:
    """The last getJob per queue, whatever label the pilot asked for."""
    rows = (
        QueueActivity.objects.filter(queue__in=list(queue_names))
        .values("queue")
        .annotate(last=Max("last_getjob"))
        .order_by()
    )
    return {row["queue"]: row["last"] for row in rows}


def jobs_started_since(queue_names: Iterable[str], since: dt.datetime) -> dict[str, int]:
    """Jobs per queue that started after ``since`` (a started job was modified after it, so the
    ``modificationtime`` index bounds the scan)."""
    rows = (
        Job.objects.filter(computingsite__in=list(queue_names), modificationtime__gte=since, starttime__gte=since)
        .values("computingsite")
        .annotate(n=Count("pandaid"))
        .order_by()
    )
    return {row["computingsite"]: row["n"] for row in rows}


def endpoints_by_name() -> dict[str, StorageEndpoint]:
    return {endpoint.name: endpoint for endpoint in StorageEndpoint.objects.all()}


@dataclass
class InputLocations:
    """Where the chunk's input files are: (scope, lfn) -> endpoints holding an available copy."""

    sizes: dict[tuple[str, str], int] = field(default_factory=dict)
    places: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    @property
    def n_files(self) -> int:
        return len(self.sizes)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())

    def available_on(self, endpoints: Iterable[str]) -> tuple[int, int]:
        """(files, bytes) of the inputs with an available copy on any of ``endpoints``."""
        wanted = set(endpoints)
        found = [key for key, places in self.places.items() if places & wanted]
        return len(found), sum(self.sizes[key] for key in found)


def input_locations(files: Sequence[DatasetContent]) -> InputLocations:
    """One ``list_replicas`` call for every input file with a DDM identity (pseudo inputs have none)."""
    result = InputLocations()
    for f in files:
        if f.scope and f.type != PSEUDO_INPUT:
            result.sizes[(f.scope, f.lfn)] = f.fsize or 0
    if not result.sizes:
        return result
    replicas = ddm().list_replicas(list(result.sizes))
    for key in result.sizes:
        result.places[key] = {r.endpoint for r in replicas.get(key, []) if r.state == "available"}
    return result


def hours_ago(moment: dt.datetime, now: dt.datetime | None = None) -> float:
    return ((now or utcnow()) - moment).total_seconds() / 3600
