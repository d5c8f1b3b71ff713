"""The tasks list's reads (monitor.md §1 Tasks, §4, §5): a page of tasks, their input progress, facets, JSON rows.

Every function takes a parsed :class:`~apps.monitor.filters.parser.Selection`; counts run in the
database and a page costs a fixed number of queries whatever its size.
"""

from django.db.models import Case, CharField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Reverse, Right, StrIndex, Substr
from django.db.models.lookups import GreaterThan

from apps.jedi.models import INPUT_TYPES, Task, TaskDataset
from apps.monitor.filters.parser import Selection
from apps.monitor.filters.tasks import TASK_FACETS
from apps.monitor.selectors.facets import Facet, facet_counts

# ``project`` (monitor.md §5): the taskname up to its first dot, what the ``project=`` filter matches.
PROJECT_FACET = Facet(
    "project",
    Case(
        When(taskname__contains=".", then=Substr("taskname", 1, StrIndex("taskname", Value(".")) - 1)),
        default=Value(""),
        output_field=CharField(),
    ),
)
# ``stream`` (monitor.md §5): the third dot-separated part of the taskname (``physics_Main`` of
# ``data23_13p6TeV.00451234.physics_Main.merge.AOD.f1_m2``), what ``stream=`` finds between dots.
_AFTER_FIRST = Substr("taskname", StrIndex("taskname", Value(".")) + 1)
_AFTER_SECOND = Substr(_AFTER_FIRST, StrIndex(_AFTER_FIRST, Value(".")) + 1)
STREAM_FACET = Facet(
    "stream",
    Case(
        When(
            GreaterThan(StrIndex(_AFTER_SECOND, Value(".")), 0),
            then=Substr(_AFTER_SECOND, 1, StrIndex(_AFTER_SECOND, Value(".")) - 1),
        ),
        default=Value(""),
        output_field=CharField(),
    ),
)
# ``tag`` (monitor.md §5): the taskname after its last dot (the AMI tags of a production task), what
# the ``tag=`` filter matches as a suffix.
TAG_FACET = Facet(
    "tag",
    Case(
        When(taskname__contains=".", then=Right("taskname", StrIndex(Reverse("taskname"), Value(".")) - 1)),
        default=Value(""),
        output_field=CharField(),
    ),
)
# Parts of the taskname: a task without one has no value to filter on, so it is not listed.
TASKNAME_FACETS = frozenset({"project", "stream", "tag"})
FACETS = (*TASK_FACETS, PROJECT_FACET, STREAM_FACET, TAG_FACET)

TASK_COLUMNS = tuple(f.attname for f in Task._meta.concrete_fields)
LIST_COLUMNS = (
    "jeditaskid",
    "taskname",
    "status",
    "superstatus",
    "username",
    "tasktype",
    "processingtype",
    "workinggroup",
    "currentpriority",
    "gshare",
    "corecount",
    "ramcount",
    "creationdate",
    "modificationtime",
    "errordialog",
)


def tasks_matching(selection: Selection) -> QuerySet:
    return selection.filter(Task.objects.all())


def tasks_rows(selection: Selection) -> tuple[list[dict], int]:
    """(``display_limit`` tasks in the selection's order with their input progress, how many match)."""
    total = tasks_matching(selection).count()
    size = min(selection.display_limit, selection.limit)
    rows = list(selection.apply(Task.objects.all()).values(*LIST_COLUMNS)[:size])
    progress = tasks_input_progress([row["jeditaskid"] for row in rows])
    for row in rows:
        row.update(progress.get(row["jeditaskid"], {"nfiles": 0, "nfilesfinished": 0, "nfilesfailed": 0}))
        row["percent_done"] = round(100.0 * row["nfilesfinished"] / row["nfiles"], 1) if row["nfiles"] else None
    return rows, total


def tasks_input_progress(task_ids: list[int]) -> dict[int, dict]:
    """Input files, finished and failed per task, summed over the master input datasets (one query)."""
    if not task_ids:
        return {}
    rows = (
        TaskDataset.objects.filter(Q(task_id__in=task_ids), type__in=INPUT_TYPES, masterid__isnull=True)
        .values("task_id")
        .annotate(nfiles=Sum("nfiles"), nfilesfinished=Sum("nfilesfinished"), nfilesfailed=Sum("nfilesfailed"))
    )
    return {
        row["task_id"]: {
            "nfiles": row["nfiles"] or 0,
            "nfilesfinished": row["nfilesfinished"] or 0,
            "nfilesfailed": row["nfilesfailed"] or 0,
        }
        for row in rows
    }


def task_facets(selection: Selection) -> dict:
    counts = facet_counts(tasks_matching(selection), FACETS, by_count=bool(selection.extra.get("facet_order")))
    for name in TASKNAME_FACETS:
        counts[name] = [(value, n) for value, n in counts[name] if value]
    return counts


def tasks_json_rows(selection: Selection) -> list[dict]:
    """Up to ``limit`` tasks with every column (or the ``fields=`` projection)."""
    columns = selection.fields or list(TASK_COLUMNS)
    return list(selection.apply(Task.objects.all()).values(*columns)[: selection.limit])
