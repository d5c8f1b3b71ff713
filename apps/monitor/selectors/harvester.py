"""Harvester pages (monitor.md §1 Harvester): instances, workers and their jobs, slots. Reads only."""

import datetime as dt

from django.db.models import Count, Exists, F, OuterRef, QuerySet

from apps.core.timeutil import utcnow
from apps.jobs.models import Job
from apps.monitor.filters.parser import WINDOW_KEYS, Selection, parse_selection
from apps.monitor.filters.workers import WORKER_FACETS, WORKER_FILTERS
from apps.monitor.selectors.facets import facet_counts, filter_value
from apps.workers.models import HarvesterInstance, HarvesterSlots, JobWorker, Worker

WORKER_LIST_FIELDS = (
    "harvesterid",
    "workerid",
    "status",
    "computingsite",
    "computingelement",
    "resourcetype",
    "jobtype",
    "nativestatus",
    "nativeexitcode",
    "ncore",
    "njobs",
    "batchid",
    "nodeid",
    "submittime",
    "starttime",
    "endtime",
    "lastupdate",
    "diagmessage",
)
WORKER_JOB_FIELDS = ("pandaid", "jobstatus", "computingsite", "jeditaskid", "produsername", "modificationtime")


def instances(*, hours: int, now: dt.datetime | None = None) -> list[dict]:
    """Every instance with its workers per status updated in the last ``hours`` (one aggregate)."""
    since = (now or utcnow()) - dt.timedelta(hours=hours)
    rows = (
        Worker.objects.filter(lastupdate__gte=since).values("harvesterid", "status").annotate(n=Count("id")).order_by()
    )
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["harvesterid"], {})[row["status"] or "Not specified"] = row["n"]
    return [
        {
            "harvesterid": instance.harvester_id,
            "description": instance.description,
            "owner": instance.owner,
            "hostname": instance.hostname,
            "sw_version": instance.sw_version,
            "commit_stamp": instance.commit_stamp,
            "starttime": instance.starttime,
            "lastupdate": instance.lastupdate,
            "workers": dict(sorted(counts.get(instance.harvester_id, {}).items())),
        }
        for instance in HarvesterInstance.objects.order_by("harvester_id")
    ]


def worker_summary(workers: QuerySet) -> dict[str, dict[str, int]]:
    """``{facet: {value: n}}`` over the worker facets of monitor.md §5, in the database."""
    counts = facet_counts(workers, WORKER_FACETS, by_count=True)
    return {name: {filter_value(value): n for value, n in pairs} for name, pairs in counts.items()}


def workers_matching(selection: Selection) -> QuerySet:
    return selection.apply(Worker.objects.all())


def last_submitted_worker(unwindowed: Selection) -> Worker | None:
    """The most recently submitted worker matching the filters of ``unwindowed`` (a selection with no window)."""
    workers = unwindowed.apply(Worker.objects.all())
    return workers.order_by(F("submittime").desc(nulls_last=True), "-lastupdate", "-id").first()


def workers_since(unwindowed: Selection, since: dt.datetime) -> QuerySet:
    """The workers of ``unwindowed`` updated since ``since``: the window widened back to a given worker."""
    return unwindowed.apply(Worker.objects.all()).filter(lastupdate__gte=since)


def workers_widened(params) -> tuple[Selection, QuerySet, list[str]]:
    """The workers a ``/harvester/workers/`` query string selects, with its warnings.

    When the time window holds no matching worker, the window is widened back to the last update of
    the last submitted matching worker, and a warning says so (monitor.md §1 Harvester).
    """
    selection = parse_selection(params, WORKER_FILTERS, view="workers")
    workers = workers_matching(selection)
    warnings = list(selection.warnings)
    if selection.date_from is None or workers.exists():
        return selection, workers, warnings
    unwindowed_params = params.copy()
    for key in (*WINDOW_KEYS, *(f"{name}range" for name in WORKER_FILTERS.datetime_keys())):
        unwindowed_params.pop(key, None)
    unwindowed_params["fulllist"] = "true"
    unwindowed = parse_selection(unwindowed_params, WORKER_FILTERS, view="workers")
    last = last_submitted_worker(unwindowed)
    if last is None:
        return selection, workers, warnings
    warnings.append(
        f"No worker in the selected window: widened to {last.lastupdate:%Y-%m-%d %H:%M:%S},"
        f" the last update of the last submitted worker ({last.harvesterid}:{last.workerid})."
    )
    return selection, workers_since(unwindowed, last.lastupdate).order_by(*selection.ordering), warnings


def worker_rows(workers: QuerySet, *, limit: int) -> list[dict]:
    return list(workers.values(*WORKER_LIST_FIELDS)[:limit])


def workers_of(workerid: int, harvesterid: str | None) -> list[Worker]:
    workers = Worker.objects.filter(workerid=workerid)
    if harvesterid:
        workers = workers.filter(harvesterid=harvesterid)
    return list(workers.order_by("harvesterid"))


def worker_jobs(worker: Worker, *, limit: int = 1000) -> list[dict]:
    """The jobs a worker ran, newest first (one query through the job-worker table)."""
    pairs = JobWorker.objects.filter(harvesterid=worker.harvesterid, workerid=worker.workerid, pandaid=OuterRef("pk"))
    return list(Job.objects.filter(Exists(pairs)).order_by("-pandaid").values(*WORKER_JOB_FIELDS)[:limit])


def workers_for_task(jeditaskid: int) -> QuerySet:
    """Workers that ran a job of the task: one query with a correlated EXISTS through the job-worker table."""
    task_jobs = Job.objects.filter(jeditaskid=jeditaskid).values("pandaid")
    ran = JobWorker.objects.filter(
        harvesterid=OuterRef("harvesterid"), workerid=OuterRef("workerid"), pandaid__in=task_jobs
    )
    return Worker.objects.filter(Exists(ran)).order_by("-lastupdate", "-id")


def slots() -> list[dict]:
    return list(
        HarvesterSlots.objects.order_by("pandaqueuename", "gshare", "resourcetype").values(
            "pandaqueuename", "gshare", "resourcetype", "numslots", "modificationtime", "expirationtime"
        )
    )
