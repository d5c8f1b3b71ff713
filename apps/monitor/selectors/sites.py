"""Sites and queues for the monitor (monitor.md §1 Sites, Worker nodes, Misc): reads only, counts in the DB."""

import datetime as dt

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When
from django.db.models.functions import StrIndex, Substr

from apps.core.timeutil import utcnow
from apps.jobs.models import Job
from apps.jobs.states import JobStatus
from apps.monitor.filters.sites import SITE_FILTERS
from apps.monitor.selectors.facets import Facet, facet_counts
from apps.monitor.selectors.queue_counts import STATE_ORDER, counted_jobs
from apps.shares.models import GlobalShare
from apps.shares.services.tree import leaves_of
from apps.sites.models import PandaQueue, ResourceType, Site

# Site facets in the order of monitor.md §5; the registry says which exist and what they filter on.
SITE_FACET_ORDER = ("cloud", "gocname", "status", "tier", "type", "country", "harvester", "copytool", "workflow")
QUEUE_LIST_FIELDS = (
    "name",
    "site__name",
    "cloud",
    "site__tier",
    "site__country",
    "status",
    "type",
    "resource_type",
    "corecount",
    "maxrss",
    "maxtime",
    "harvester",
    "workflow",
)
LIST_NAMES = {"site__name": "site", "site__tier": "tier", "site__country": "country"}
ERROR_FIELDS = ("piloterrorcode", "exeerrorcode", "superrorcode", "ddmerrorcode", "taskbuffererrorcode")
# A worker node looks like a black hole when most of its jobs fail although the queue as a whole does not.
BLACK_HOLE_MIN_FAILED = 5
BLACK_HOLE_NODE_RATE = 0.8
BLACK_HOLE_QUEUE_RATE = 0.5
NOT_SPECIFIED = "Not specified"


def queues_listed(queues: QuerySet | None = None) -> list[dict]:
    """The queue list of ``/sites/``: one dict per queue, in name order, from one query."""
    queues = PandaQueue.objects.all() if queues is None else queues
    return [
        {LIST_NAMES.get(field, field): value for field, value in row.items()}
        for row in queues.order_by("name").values(*QUEUE_LIST_FIELDS)
    ]


def queues_matching(selection) -> QuerySet:
    """The queues a parsed SITE_FILTERS selection names."""
    return selection.apply(PandaQueue.objects.all())


def site_facet_counts(queues: QuerySet) -> dict[str, list[tuple]]:
    """Counts per value of the site facets (monitor.md §5 order), one GROUP BY each, most frequent first."""
    fields = {f.key: f for f in SITE_FILTERS.fields.values() if f.facet}
    order = [key for key in SITE_FACET_ORDER if key in fields] + sorted(set(fields) - set(SITE_FACET_ORDER))
    return facet_counts(queues, [Facet(key, fields[key].path) for key in order], by_count=True)


def queue_state_counts(queue_names: list[str], *, hours: int) -> dict[str, dict[str, int]]:
    """``{queue: {state: n}}``: jobs not final, plus final jobs of the last ``hours``."""
    rows = (
        counted_jobs(final_hours=hours)
        .filter(computingsite__in=queue_names)
        .values("computingsite", "jobstatus")
        .annotate(n=Count("pandaid"))
        .order_by()
    )
    counts: dict[str, dict[str, int]] = {name: {} for name in queue_names}
    for row in rows:
        counts[row["computingsite"]][row["jobstatus"]] = row["n"]
    return {name: _ordered(states) for name, states in counts.items()}


def _ordered(states: dict[str, int]) -> dict[str, int]:
    return {state: states[state] for state in STATE_ORDER if state in states}


def queue_detail(name: str) -> PandaQueue | None:
    return PandaQueue.objects.select_related("site").filter(name=name).first()


def site_detail(name: str) -> Site | None:
    return Site.objects.filter(name=name).first()


def worker_node_expression() -> Case:
    """The worker node of a job: ``modificationhost`` without a ``user@`` prefix."""
    return Case(
        When(
            modificationhost__contains="@",
            then=Substr("modificationhost", StrIndex("modificationhost", Value("@")) + 1),
        ),
        default=F("modificationhost"),
        output_field=CharField(),
    )


def node_jobs(queue_names: list[str], *, hours: int, now: dt.datetime | None = None) -> QuerySet:
    """Jobs of the queues that a pilot reported from a node, modified in the last ``hours``."""
    since = (now or utcnow()) - dt.timedelta(hours=hours)
    return (
        Job.objects.filter(computingsite__in=queue_names, modificationtime__gte=since)
        .exclude(Q(modificationhost__isnull=True) | Q(modificationhost=""))
        .annotate(wn=worker_node_expression())
    )


def worker_nodes(queue_names: list[str], *, hours: int) -> list[dict]:
    """Per worker node: job counts per state, failures and whether it looks like a black hole."""
    rows = node_jobs(queue_names, hours=hours).values("wn", "jobstatus").annotate(n=Count("pandaid")).order_by()
    nodes: dict[str, dict[str, int]] = {}
    for row in rows:
        nodes.setdefault(row["wn"], {})[row["jobstatus"]] = row["n"]
    queue_failed = sum(states.get(JobStatus.FAILED, 0) for states in nodes.values())
    queue_ended = queue_failed + sum(states.get(JobStatus.FINISHED, 0) for states in nodes.values())
    queue_rate = queue_failed / queue_ended if queue_ended else 0.0
    result = []
    for wn in sorted(nodes):
        states = nodes[wn]
        failed, finished = states.get(JobStatus.FAILED, 0), states.get(JobStatus.FINISHED, 0)
        rate = failed / (failed + finished) if failed + finished else 0.0
        result.append(
            {
                "wn": wn,
                "states": _ordered(states),
                "total": sum(states.values()),
                "failed": failed,
                "failure_rate": round(rate, 3),
                "black_hole": failed >= BLACK_HOLE_MIN_FAILED
                and rate >= BLACK_HOLE_NODE_RATE
                and queue_rate < BLACK_HOLE_QUEUE_RATE,
            }
        )
    return result


def worker_node_failures(queue_names: list[str], wn: str, *, hours: int) -> list[dict]:
    """The errors of a node's failed jobs: ``{field, code, count}``, one GROUP BY per error field."""
    jobs = node_jobs(queue_names, hours=hours).filter(wn=wn, jobstatus=JobStatus.FAILED)
    failures = []
    for field in ERROR_FIELDS:
        rows = jobs.exclude(**{field: 0}).values(field).annotate(n=Count("pandaid")).order_by("-n")
        failures.extend({"field": field, "code": row[field], "count": row["n"]} for row in rows)
    return sorted(failures, key=lambda row: -row["count"])


def worker_node_jobs(queue_names: list[str], wn: str, *, hours: int, limit: int = 100) -> list[dict]:
    jobs = node_jobs(queue_names, hours=hours).filter(wn=wn).order_by("-modificationtime", "-pandaid")
    return list(
        jobs.values(
            "pandaid",
            "jobstatus",
            "computingsite",
            "jeditaskid",
            "produsername",
            "modificationtime",
            "piloterrorcode",
            "exeerrorcode",
        )[:limit]
    )


def global_shares() -> list[dict]:
    """The share tree in order with each node's depth and share of the grid, and its jobs now running/queued."""
    shares = list(GlobalShare.objects.select_related("parent"))
    targets = {leaf.name: leaf.target for leaf in leaves_of(shares)}
    rows = (
        Job.objects.filter(jobstatus__in=(JobStatus.ACTIVATED, JobStatus.RUNNING))
        .values("gshare", "jobstatus")
        .annotate(n=Count("pandaid"))
        .order_by()
    )
    usage: dict[str, dict[str, int]] = {}
    for row in rows:
        usage.setdefault(row["gshare"] or NOT_SPECIFIED, {})[row["jobstatus"]] = row["n"]
    by_parent: dict[int | None, list[GlobalShare]] = {}
    for share in shares:
        by_parent.setdefault(share.parent_id, []).append(share)
    ordered = []

    def walk(parent_id: int | None, depth: int) -> None:
        for share in sorted(by_parent.get(parent_id, []), key=lambda s: (s.rank, s.name)):
            jobs = usage.get(share.name, {})
            ordered.append(
                {
                    "name": share.name,
                    "parent": share.parent.name if share.parent else None,
                    "depth": depth,
                    "value": share.value,
                    "target": round(targets[share.name] * 100, 3) if share.name in targets else None,
                    "leaf": share.name in targets,
                    "running": jobs.get(JobStatus.RUNNING, 0),
                    "activated": jobs.get(JobStatus.ACTIVATED, 0),
                }
            )
            walk(share.id, depth + 1)

    walk(None, 0)
    return ordered


def resource_types() -> list[dict]:
    """Every resource type with its jobs by state among active ones (one aggregate)."""
    rows = counted_jobs(final_hours=0).values("resource_type", "jobstatus").annotate(n=Count("pandaid")).order_by()
    usage: dict[str, dict[str, int]] = {}
    for row in rows:
        usage.setdefault(row["resource_type"] or NOT_SPECIFIED, {})[row["jobstatus"]] = row["n"]
    return [
        {
            "name": rt.name,
            "mincore": rt.mincore,
            "maxcore": rt.maxcore,
            "minrampercore": rt.minrampercore,
            "maxrampercore": rt.maxrampercore,
            "jobs": _ordered(usage.get(rt.name, {})),
        }
        for rt in ResourceType.objects.order_by("name")
    ]
