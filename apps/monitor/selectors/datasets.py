"""Reads of the dataset lookups (monitor.md §1 "Files / datasets"): JEDI's task datasets and the DDM catalogue.

``/datasets/`` searches the task datasets (``jedi_datasets``) with the filter grammar and the DDM
catalogue by name; ``/dataset/`` shows one dataset: its catalogue state, files, rules, containers, and
the tasks that read or write it with their file progress. A fixed number of queries each.
"""

from django.db.models import Count, Q, QuerySet

from apps.ddm.models import Dataset, DatasetFile, Rule
from apps.jedi.models import DatasetContent, TaskDataset
from apps.monitor.filters.files import DATASET_FILTERS
from apps.monitor.filters.values import value_q

TASK_DATASET_FIELDS = (
    "datasetid",
    "datasetname",
    "containername",
    "type",
    "status",
    "state",
    "streamname",
    "nfiles",
    "nfilesfinished",
    "nfilesfailed",
    "nfilesmissing",
    "nevents",
    "modificationtime",
)
RULE_FIELDS = (
    "id",
    "endpoint",
    "activity",
    "state",
    "locks_ok",
    "locks_replicating",
    "locks_stuck",
    "requester",
    "error",
    "creationtime",
    "expires",
)
MAX_FILES = 1_000


def task_datasets_matching(selection) -> QuerySet:
    return selection.apply(TaskDataset.objects.all())


def task_datasets_listed(datasets: QuerySet, *, limit: int) -> list[dict]:
    """Up to ``limit`` task datasets with their task's id, name and state (one query)."""
    rows = list(datasets.values(*TASK_DATASET_FIELDS, "task_id", "task__taskname", "task__status")[:limit])
    for row in rows:
        row["jeditaskid"] = row.pop("task_id")
        row["taskname"] = row.pop("task__taskname")
        row["taskstatus"] = row.pop("task__status")
    return rows


def catalogue_datasets_matching(raw_name: str) -> QuerySet:
    """Catalogue datasets and containers whose name matches ``raw_name`` (grammar of monitor.md §2)."""
    name = "|".join(term.partition(":")[2] if ":" in term else term for term in raw_name.split("|"))
    q, _ = value_q(DATASET_FILTERS.fields["datasetname"], name, path="name")
    return Dataset.objects.filter(q)


def catalogue_datasets_listed(datasets: QuerySet, *, limit: int) -> list[dict]:
    """Up to ``limit`` catalogue datasets with their file count and rules by state (two queries)."""
    rows = list(
        datasets.annotate(nfiles=Count("attachments"))
        .order_by("name")
        .values("id", "scope", "name", "kind", "state", "owner", "creationtime", "modificationtime", "nfiles")[:limit]
    )
    rules: dict[int, dict[str, int]] = {}
    counted = Rule.objects.filter(dataset_id__in=[row["id"] for row in rows]).values("dataset_id", "state")
    for rule in counted.annotate(n=Count("id")).order_by():
        rules.setdefault(rule["dataset_id"], {})[rule["state"]] = rule["n"]
    for row in rows:
        row["rules"] = rules.get(row.pop("id"), {})
    return rows


def dataset_catalogue_entry(scope: str, name: str, *, scoped: bool) -> Dataset | None:
    """The catalogue dataset ``name`` (names are unique; an explicit scope must match)."""
    datasets = Dataset.objects.filter(name=name)
    if scoped:
        datasets = datasets.filter(scope=scope)
    return datasets.first()


def dataset_files(dataset: Dataset) -> tuple[int, list[dict]]:
    """(number of files, the first :data:`MAX_FILES` by name with their replica count)."""
    attachments = DatasetFile.objects.filter(dataset=dataset)
    rows = list(
        attachments.annotate(nreplicas=Count("file__replicas"))
        .order_by("file__lfn")
        .values("file__scope", "file__lfn", "file__guid", "file__fsize", "file__adler32", "file__nevents", "nreplicas")[
            :MAX_FILES
        ]
    )
    files = [{key.removeprefix("file__"): value for key, value in row.items()} for row in rows]
    return attachments.count(), files


def dataset_rules(dataset: Dataset) -> list[dict]:
    return list(Rule.objects.filter(dataset=dataset).order_by("endpoint", "activity").values(*RULE_FIELDS))


def dataset_relatives(dataset: Dataset) -> dict[str, list[str]]:
    """The containers holding the dataset and, for a container, its members (as ``scope:name``)."""
    containers = dataset.containers.order_by("name").values_list("scope", "name")
    members = dataset.members.order_by("name").values_list("scope", "name")
    return {
        "containers": [f"{scope}:{name}" for scope, name in containers],
        "members": [f"{scope}:{name}" for scope, name in members],
    }


def dataset_task_uses(scope: str, name: str) -> list[dict]:
    """Task datasets of this name (with or without scope, or as container) and their files by JEDI state."""
    names = [name, f"{scope}:{name}", f"{name}/", f"{scope}:{name}/"]
    rows = task_datasets_listed(
        TaskDataset.objects.filter(Q(datasetname__in=names) | Q(containername__in=names)).order_by("-datasetid"),
        limit=MAX_FILES,
    )
    states: dict[int, dict[str, int]] = {}
    counted = DatasetContent.objects.filter(dataset_id__in=[row["datasetid"] for row in rows])
    for row in counted.values("dataset_id", "status").annotate(n=Count("fileid")).order_by():
        states.setdefault(row["dataset_id"], {})[row["status"]] = row["n"]
    for row in rows:
        row["contents"] = states.get(row["datasetid"], {})
    return rows
