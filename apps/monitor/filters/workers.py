"""Harvester workers' filter registry (monitor.md §1 Harvester, §5): every Worker column.

``instance`` is the legacy name of ``harvesterid`` on ``/harvester/workers/``.
"""

from __future__ import annotations

from django.db.models import Q

from apps.monitor.filters.parser import ParseContext
from apps.monitor.filters.registry import Registry, SortOption, SpecialKey, model_fields
from apps.monitor.filters.values import value_q
from apps.workers.models import Worker

WORKER_FACETS = (
    "status",
    "computingsite",
    "computingelement",
    "resourcetype",
    "harvesterid",
    "nativestatus",
    "jobtype",
)
WORKER_FIELDS = model_fields(Worker, facets=WORKER_FACETS)
WORKER_ACTIVE = frozenset({"submitted", "running", "idle", "ready", "missed"})


def handle_instance(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    return value_q(WORKER_FIELDS["harvesterid"], raw)


WORKER_FILTERS = Registry(
    name="workers",
    model=Worker,
    fields=WORKER_FIELDS,
    special={"instance": SpecialKey("instance", handle_instance, "harvesterid")},
    window_field="lastupdate",
    default_hours=12,
    default_limit=20_000,
    default_display_limit=100,
    sort_options={
        option.name: option
        for option in (
            SortOption("time", ("lastupdate", "id")),
            SortOption("submit", ("submittime", "id")),
            SortOption("workerid", ("workerid",)),
        )
    },
    default_sort="time-descending",
    single_object_keys=frozenset({"workerid"}),
    status_key="status",
    active_states=WORKER_ACTIVE,
)
