"""``/status_summary/``: job counts per state for every queue, in the legacy parameter grammar.

The legacy grammar: ``key=a,b`` keeps rows whose value is one of the list, ``key=-a`` drops the
rows whose value is ``a`` (``-a,-b`` drops both), ``nhours`` is how far back final jobs count.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Q

from apps.monitor.selectors.dashboards import DashParamError, jobtype_parse
from apps.monitor.selectors.queue_counts import STATE_ORDER, counted_jobs, jobtype_expression
from apps.monitor.selectors.queue_places import place_of, queue_places

# parameter -> what it selects on: a queue attribute (matched on the queue list) or a job column.
QUEUE_KEYS = {"computingsite": "queue", "pandaqueue": "queue", "site": "site", "cloud": "region", "region": "region"}
QUEUE_ATTR_KEYS = {"status": "status", "queuetype": "type"}
JOB_KEYS = {"resourcetype": "resource_type", "jobtype": "summary_jobtype", "gshare": "gshare"}
PARAMS = (*QUEUE_KEYS, *QUEUE_ATTR_KEYS, *JOB_KEYS, "nhours", "json", "timestamp")
MAX_NHOURS = 24 * 31


@dataclass(frozen=True)
class Condition:
    include: frozenset[str]
    exclude: frozenset[str]

    def holds(self, value: str) -> bool:
        return (not self.include or value in self.include) and value not in self.exclude


@dataclass
class StatusSummaryParams:
    nhours: int
    conditions: dict[str, Condition] = field(default_factory=dict)

    @property
    def echo(self) -> dict[str, str]:
        echo = {"nhours": str(self.nhours)}
        for key, condition in self.conditions.items():
            echo[key] = ",".join(sorted(condition.include) + [f"-{value}" for value in sorted(condition.exclude)])
        return echo


def condition_parse(key: str, text: str) -> Condition:
    values = [value.strip() for value in text.split(",")]
    if not text.strip() or any(not value or value == "-" for value in values):
        raise DashParamError(f"empty value in {key}={text!r}")
    include = frozenset(value for value in values if not value.startswith("-"))
    exclude = frozenset(value[1:] for value in values if value.startswith("-"))
    return Condition(include, exclude)


def status_summary_params_parse(params) -> StatusSummaryParams:
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        allowed = [key for key in PARAMS if key not in ("json", "timestamp")]
        raise DashParamError(f"unknown parameter {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    parsed = StatusSummaryParams(nhours=settings.PANDA_MONITOR_DASH_HOURS)
    if "nhours" in params:
        text = params.get("nhours", "").strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_NHOURS:
            raise DashParamError(f"nhours must be a whole number of hours from 1 to {MAX_NHOURS}, got {text!r}")
        parsed.nhours = int(text)
    for key in (*QUEUE_KEYS, *QUEUE_ATTR_KEYS, *JOB_KEYS):
        if key in params:
            condition = condition_parse(key, params.get(key, ""))
            if key == "jobtype":
                condition = Condition(
                    frozenset(jobtype_parse(v) for v in condition.include),
                    frozenset(jobtype_parse(v) for v in condition.exclude),
                )
            parsed.conditions[key] = condition
    return parsed


def status_summary(params: StatusSummaryParams, *, now: dt.datetime | None = None) -> list[dict]:
    """One row per queue: ``{pandaqueue, site, cloud, status, type, jobs: {state: n}, total}``."""
    places = queue_places()
    jobs = counted_jobs(final_hours=params.nhours, now=now).annotate(summary_jobtype=jobtype_expression())
    for key, column in JOB_KEYS.items():
        condition = params.conditions.get(key)
        if condition:
            if condition.include:
                jobs = jobs.filter(**{f"{column}__in": condition.include})
            if condition.exclude:
                jobs = jobs.exclude(Q(**{f"{column}__in": condition.exclude}))
    queue_conditions = [(attr, params.conditions[key]) for key, attr in QUEUE_KEYS.items() if key in params.conditions]
    queue_conditions += [
        (attr, params.conditions[key]) for key, attr in QUEUE_ATTR_KEYS.items() if key in params.conditions
    ]
    if queue_conditions:
        # Known queues the conditions refuse are left out in the database; queues the configuration
        # does not know (jobs can name them) are judged on their stand-in place below.
        refused = [name for name, place in places.items() if not _holds(place, queue_conditions)]
        jobs = jobs.exclude(computingsite__in=refused)
    rows = jobs.values("computingsite", "jobstatus").annotate(n=Count("pandaid")).order_by()
    summary: dict[str, dict] = {}
    for row in rows:
        place = place_of(places, row["computingsite"])
        if not _holds(place, queue_conditions):
            continue
        entry = summary.setdefault(
            place.queue,
            {
                "pandaqueue": place.queue,
                "site": place.site,
                "cloud": place.region,
                "status": place.status,
                "type": place.type,
                "jobs": {},
                "total": 0,
            },
        )
        entry["jobs"][row["jobstatus"]] = row["n"]
        entry["total"] += row["n"]
    for entry in summary.values():
        entry["jobs"] = {state: entry["jobs"][state] for state in STATE_ORDER if state in entry["jobs"]}
    return [summary[name] for name in sorted(summary)]


def _holds(place, conditions: list[tuple[str, Condition]]) -> bool:
    return all(condition.holds(getattr(place, attr)) for attr, condition in conditions)
