"""Queue dashboards (monitor.md §1 Dashboards): job counts per state per queue, site and region or nucleus.

Counts come from the latest per-minute snapshot (:mod:`apps.monitor.services.snapshots`); while none
is recent the same aggregate runs live on the jobs table and the page says so.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, QuerySet, Sum

from apps.core.timeutil import utcnow
from apps.monitor.models import QueueSnapshot, QueueSnapshotRun
from apps.monitor.selectors.queue_counts import (
    JOBTYPES,
    STATE_ORDER,
    counted_jobs,
    jobtype_expression,
)
from apps.monitor.selectors.queue_places import NOT_SPECIFIED, QueuePlace, place_of, queue_places

VIEWS = ("region", "world", "es")
# /dash/es/: event-service jobs (eventservice=1) and their merge jobs (2), counted live: the snapshot has no such split.
ES_VALUES = (1, 2)
SPLITS = ("jobtype", "resourcetype")
PARAMS = ("jobtype", "resourcetype", "splitby", "region", "site", "json", "timestamp")
# A snapshot older than this is not "the latest state" any more (the beat task has stopped).
SNAPSHOT_MAX_AGE = dt.timedelta(minutes=5)


class DashParamError(ValueError):
    """A dashboard parameter the page cannot honour (HTTP 400 with the message)."""


@dataclass(frozen=True)
class DashParams:
    view: str = "region"
    jobtype: str = ""  # "" (both), "analysis", "production"
    resourcetype: str = ""
    splitby: str = ""
    region: str = ""
    site: str = ""

    @property
    def echo(self) -> dict[str, str]:
        names = ("jobtype", "resourcetype", "splitby", "region", "site")
        return {"view": self.view} | {name: getattr(self, name) for name in names if getattr(self, name)}


def jobtype_parse(value: str) -> str:
    """``analy``/``analysis`` -> analysis, ``prod``/``production`` -> production (a prefix of four letters or more)."""
    given = value.strip().lower()
    matches = [kind for kind in JOBTYPES if len(given) >= 4 and kind.startswith(given)]
    if len(matches) != 1:
        raise DashParamError(f"jobtype must be analy(sis) or prod(uction), got {value!r}")
    return matches[0]


def dash_params_parse(params, *, view: str, jobtype: str = "") -> DashParams:
    """Validate the query string of a dashboard; ``jobtype=analy|prod`` (any prefix of either type)."""
    if view not in VIEWS:
        raise DashParamError(f"unknown dashboard view {view!r}; known: {', '.join(VIEWS)}")
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise DashParamError(f"unknown parameter {', '.join(unknown)}; allowed: {', '.join(PARAMS[:5])}")
    values = {}
    for name in PARAMS[:5]:
        if name in params:
            value = params.get(name, "").strip()
            if not value:
                raise DashParamError(f"empty value for {name!r}")
            values[name] = value
    if "jobtype" in values:
        jobtype = jobtype_parse(values["jobtype"])
    splitby = values.get("splitby", "")
    if splitby and splitby not in SPLITS:
        raise DashParamError(f"splitby must be one of {', '.join(SPLITS)}, got {splitby!r}")
    return DashParams(
        view=view,
        jobtype=jobtype,
        resourcetype=values.get("resourcetype", ""),
        splitby=splitby,
        region=values.get("region", ""),
        site=values.get("site", ""),
    )


@dataclass
class Dashboard:
    params: DashParams
    source: str  # "snapshot" or "live"
    taken_at: dt.datetime | None
    states: list[str]
    groups: dict = field(default_factory=dict)  # region or nucleus -> {"states", "sites": {site: {...}}}
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def group_key(self) -> str:
        return "nuclei" if self.params.view == "world" else "regions"

    def as_json(self) -> dict:
        return {
            "view": self.params.view,
            "selection": self.params.echo,
            "source": self.source,
            "taken_at": self.taken_at,
            "states": self.states,
            "totals": self.totals,
            self.group_key: self.groups,
        }

    def queue_rows(self) -> list[tuple[str, dict[str, int]]]:
        """``(queue, {state: n})`` of every queue on the page, busiest first (the queue-load plot)."""
        rows = [
            (queue, counts["states"])
            for group in self.groups.values()
            for site in group["sites"].values()
            for queue, counts in site["queues"].items()
        ]
        return sorted(rows, key=lambda row: (-sum(row[1].values()), row[0]))


def latest_snapshot_run(*, now: dt.datetime | None = None) -> QueueSnapshotRun | None:
    """The newest snapshot if it is recent enough to stand for the current state."""
    run = QueueSnapshotRun.objects.order_by("-taken_at").first()
    if run is None or run.taken_at < (now or utcnow()) - SNAPSHOT_MAX_AGE:
        return None
    return run


def _queues_matching(places: dict[str, QueuePlace], params: DashParams) -> set[str] | None:
    """Queue names the region / site parameters allow; ``None`` when they restrict nothing."""
    if not params.region and not params.site:
        return None
    names = {
        name
        for name, place in places.items()
        if (not params.region or place.region == params.region)
        and (not params.site or params.site in (place.site, place.queue))
    }
    if params.site and not params.region:
        names.add(params.site)  # a queue the jobs name that the configuration does not know
    return names


def _snapshot_rows(run: QueueSnapshotRun, params: DashParams, queues: set[str] | None) -> tuple[QuerySet, str]:
    """The snapshot's counts grouped for the page, and the column the rows are split by ("" for none)."""
    rows = QueueSnapshot.objects.filter(taken_at=run.taken_at)
    if params.jobtype:
        rows = rows.filter(jobtype=params.jobtype)
    if params.resourcetype:
        rows = rows.filter(resourcetype=params.resourcetype)
    if queues is not None:
        rows = rows.filter(computingsite__in=queues)
    split_field = {"jobtype": "jobtype", "resourcetype": "resourcetype"}.get(params.splitby, "")
    return _grouped(rows, params, split_field).annotate(n=Sum("count")).order_by(), split_field


def _live_rows(params: DashParams, queues: set[str] | None, now: dt.datetime | None) -> tuple[QuerySet, str]:
    """The same aggregate run on the jobs table."""
    jobs = counted_jobs(final_hours=settings.PANDA_MONITOR_DASH_HOURS, now=now).annotate(
        dash_jobtype=jobtype_expression()
    )
    if params.view == "es":
        jobs = jobs.filter(eventservice__in=ES_VALUES)
    if params.jobtype:
        jobs = jobs.filter(dash_jobtype=params.jobtype)
    if params.resourcetype:
        jobs = jobs.filter(resource_type=params.resourcetype)
    if queues is not None:
        jobs = jobs.filter(computingsite__in=queues)
    split_field = {"jobtype": "dash_jobtype", "resourcetype": "resource_type"}.get(params.splitby, "")
    return _grouped(jobs, params, split_field).annotate(n=Count("pandaid")).order_by(), split_field


def _grouped(rows: QuerySet, params: DashParams, split_field: str) -> QuerySet:
    fields = ["computingsite", "jobstatus"] + (["nucleus"] if params.view == "world" else [])
    return rows.values(*fields, *([split_field] if split_field else []))


def dashboard_counts(params: DashParams, *, now: dt.datetime | None = None) -> Dashboard:
    """The counts of one dashboard, from the latest snapshot or, when there is none, live."""
    places = queue_places()
    queues = _queues_matching(places, params)
    run = latest_snapshot_run(now=now) if params.view != "es" else None
    world = params.view == "world"
    if run is not None:
        rows, split_field = _snapshot_rows(run, params, queues)
    else:
        rows, split_field = _live_rows(params, queues, now)
    dashboard = Dashboard(
        params=params,
        source="snapshot" if run is not None else "live",
        taken_at=run.taken_at if run is not None else None,
        states=[],
    )
    seen_states = set()
    for row in rows:
        place = place_of(places, row["computingsite"])
        group_name = (row["nucleus"] or NOT_SPECIFIED) if world else place.region
        state, n = row["jobstatus"], row["n"]
        seen_states.add(state)
        group = dashboard.groups.setdefault(group_name, {"states": {}, "sites": {}})
        site = group["sites"].setdefault(place.site, {"states": {}, "queues": {}})
        queue = site["queues"].setdefault(place.queue, {"states": {}, "status": place.status})
        for counts in (dashboard.totals, group["states"], site["states"], queue["states"]):
            counts[state] = counts.get(state, 0) + n
        if split_field:
            part = row[split_field] or NOT_SPECIFIED
            split = queue.setdefault("split", {}).setdefault(part, {})
            split[state] = split.get(state, 0) + n
    dashboard.states = [state for state in STATE_ORDER if state in seen_states]
    dashboard.groups = dict(sorted(dashboard.groups.items()))
    for group in dashboard.groups.values():
        group["sites"] = dict(sorted(group["sites"].items()))
        for site in group["sites"].values():
            site["queues"] = dict(sorted(site["queues"].items()))
    return dashboard
