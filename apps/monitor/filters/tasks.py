"""The tasks list's filter registry (monitor.md §2, §3, §5): every Task column plus the task-only keys.

``category`` (production | group production | user analysis | group analysis | service), ``project``
(taskname prefix), ``tag`` (taskname suffix), ``stream`` (in the taskname), ``campaign`` (``:`` means
exact, otherwise a prefix), ``reqid_from``/``reqid_to`` and ``user`` (BigPanDA's name of ``username``).
"""

from __future__ import annotations

from django.db.models import Q

from apps.jedi.models import Task
from apps.jedi.states import FINAL, TaskStatus
from apps.monitor.filters.jobs import handle_reqid_from, handle_reqid_to
from apps.monitor.filters.parser import ParseContext
from apps.monitor.filters.registry import Registry, SortOption, SpecialKey, model_fields
from apps.monitor.filters.values import ValueError400, value_q

TASK_FACETS = (
    "workqueue_id",
    "tasktype",
    "superstatus",
    "status",
    "corecount",
    "taskpriority",
    "currentpriority",
    "username",
    "transuses",
    "transpath",
    "workinggroup",
    "processingtype",
    "cloud",
    "campaign",
    "reqid",
    "ramcount",
    "nucleus",
    "eventservice",
    "gshare",
    "container_name",
    "attemptnr",
    "site",
)
TASK_NON_FINAL = frozenset(str(state) for state in TaskStatus) - {str(state) for state in FINAL}

GROUP_PREFIX = "GP_"
CATEGORIES = {
    "production": Q(tasktype="prod") & ~Q(workinggroup__startswith=GROUP_PREFIX),
    "group production": Q(tasktype="prod", workinggroup__startswith=GROUP_PREFIX),
    "user analysis": Q(tasktype="anal") & (Q(workinggroup__isnull=True) | Q(workinggroup="")),
    "group analysis": Q(tasktype="anal", workinggroup__isnull=False) & ~Q(workinggroup=""),
    "service": ~Q(tasktype__in=("prod", "anal")),
}


def or_terms(raw: str) -> list[str]:
    terms = [chunk.strip() for chunk in raw.split("|")]
    if any(not term for term in terms):
        raise ValueError400(f"empty term in {raw!r}")
    return terms


def handle_category(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    q = Q()
    names = [term.lower() for term in or_terms(raw)]
    for name in names:
        if name not in CATEGORIES:
            raise ValueError400(f"unknown category {name!r}; one of {', '.join(CATEGORIES)}")
        q |= CATEGORIES[name]
    return q, "|".join(names)


def taskname_q(raw: str, lookup: str, shape) -> tuple[Q, str]:
    q = Q()
    terms = or_terms(raw)
    for term in terms:
        q |= Q(**{f"taskname__{lookup}": shape(term)})
    return q, "|".join(terms)


def handle_project(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    return taskname_q(raw, "istartswith", lambda term: f"{term}.")


def handle_tag(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    return taskname_q(raw, "iendswith", lambda term: term)


def handle_stream(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    return taskname_q(raw, "icontains", lambda term: f".{term}.")


def handle_campaign(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    """``MC23:MC23a`` (with ``:``) is exact; ``MC23`` matches every ``MC23...`` campaign."""
    q = Q()
    terms = or_terms(raw)
    for term in terms:
        q |= Q(campaign=term) if ":" in term else Q(campaign__istartswith=term)
    return q, "|".join(terms)


TASK_FIELDS = {key: spec for key, spec in model_fields(Task, facets=TASK_FACETS).items() if key != "campaign"}


def handle_user(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    """``user=``: BigPanDA's other name of ``username`` (the task owner)."""
    return value_q(TASK_FIELDS["username"], raw)


TASK_FILTERS = Registry(
    name="tasks",
    model=Task,
    fields=TASK_FIELDS,
    special={
        special.key: special
        for special in (
            SpecialKey("category", handle_category, " | ".join(CATEGORIES)),
            SpecialKey("project", handle_project, "taskname prefix"),
            SpecialKey("tag", handle_tag, "taskname suffix"),
            SpecialKey("stream", handle_stream, "in the taskname"),
            SpecialKey("campaign", handle_campaign, "':' = exact, otherwise prefix"),
            SpecialKey("reqid_from", handle_reqid_from, "reqid >="),
            SpecialKey("reqid_to", handle_reqid_to, "reqid <="),
            SpecialKey("user", handle_user, "username"),
        )
    },
    window_field="modificationtime",
    default_hours=7 * 24,
    default_limit=10_000,
    default_display_limit=100,
    deep_limit=10_000,
    sort_options={
        option.name: option
        for option in (
            SortOption("time", ("modificationtime", "jeditaskid")),
            SortOption("create", ("creationdate", "jeditaskid")),
            SortOption("statetime", ("statechangetime", "jeditaskid")),
            SortOption("priority", ("currentpriority", "jeditaskid")),
            SortOption("jeditaskid", ("jeditaskid",)),
        )
    },
    default_sort="time-descending",
    single_object_keys=frozenset({"jeditaskid"}),
    status_key="status",
    active_states=TASK_NON_FINAL,
)
