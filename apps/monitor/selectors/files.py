"""Reads of the file lookups (monitor.md §1 "Files / datasets"): job files and the DDM catalogue.

``/files/`` searches the job files (``filestable4``, one row per file of each job attempt) with the
filter grammar, and the DDM catalogue (:mod:`apps.ddm.models`) by ``lfn``, ``scope``, ``guid`` and
``dataset``. ``/file/`` shows one ``scope:lfn``: its catalogue entry, replicas and datasets, the jobs
that read or wrote it and JEDI's records of it in its tasks. Every function runs a fixed number of
queries whatever the number of rows.
"""

from django.db.models import Count, Q, QuerySet

from apps.ddm.models import DataFile, DatasetFile, Replica
from apps.jedi.models import DatasetContent
from apps.jobs.models import JobFile
from apps.monitor.filters.files import FILE_FILTERS
from apps.monitor.filters.values import value_q

JOB_FILE_FIELDS = (
    "row_id",
    "lfn",
    "scope",
    "type",
    "dataset",
    "guid",
    "fsize",
    "checksum",
    "status",
    "attemptnr",
    "jeditaskid",
    "datasetid",
    "fileid",
    "destinationse",
    "modificationtime",
)
# Keys the DDM catalogue understands, and the catalogue column each one filters.
CATALOGUE_PATHS = {"lfn": "lfn", "scope": "scope", "guid": "guid", "dataset": "datasets__name"}
MAX_USAGES = 500


def job_files_matching(selection) -> QuerySet:
    """The job files a parsed FILE_FILTERS selection names, in its order."""
    return selection.apply(JobFile.objects.all())


def job_files_listed(files: QuerySet, *, limit: int) -> list[dict]:
    """Up to ``limit`` job files with their job's PandaID, state and queue (one query)."""
    rows = list(files.values(*JOB_FILE_FIELDS, "job_id", "job__jobstatus", "job__computingsite")[:limit])
    for row in rows:
        row["pandaid"] = row.pop("job_id")
        row["jobstatus"] = row.pop("job__jobstatus")
        row["computingsite"] = row.pop("job__computingsite")
    return rows


def _without_scope(raw: str) -> str:
    """``scope:name`` terms become ``name``: the catalogue keeps the scope in its own column."""
    return "|".join(term.partition(":")[2] if ":" in term else term for term in raw.split("|"))


def catalogue_files_matching(params: dict[str, str]) -> QuerySet:
    """Catalogue files matching the catalogue keys of ``params`` (already validated by the parser)."""
    q = Q()
    for key, path in CATALOGUE_PATHS.items():
        if key in params:
            raw = _without_scope(params[key]) if key == "dataset" else params[key]
            key_q, _ = value_q(FILE_FILTERS.fields[key], raw, path=path)
            q &= key_q
    return DataFile.objects.filter(q).distinct()


def catalogue_files_listed(files: QuerySet, *, limit: int) -> list[dict]:
    """Up to ``limit`` catalogue files with their replica count and dataset names (two queries)."""
    rows = list(
        files.annotate(nreplicas=Count("replicas", distinct=True))
        .order_by("scope", "lfn")
        .values("id", "scope", "lfn", "guid", "fsize", "adler32", "nevents", "creationtime", "nreplicas")[:limit]
    )
    datasets: dict[int, list[str]] = {}
    memberships = DatasetFile.objects.filter(file_id__in=[row["id"] for row in rows]).order_by("dataset__name")
    for file_id, scope, name in memberships.values_list("file_id", "dataset__scope", "dataset__name"):
        datasets.setdefault(file_id, []).append(f"{scope}:{name}")
    for row in rows:
        row["datasets"] = datasets.get(row.pop("id"), [])
    return rows


def file_catalogue_entries(lfn: str, scope: str | None) -> list[DataFile]:
    """The catalogue files named ``lfn`` (in ``scope`` if given): one per scope."""
    files = DataFile.objects.filter(lfn=lfn)
    if scope:
        files = files.filter(scope=scope)
    return list(files.order_by("scope"))


def file_replicas(files: list[DataFile]) -> list[dict]:
    return list(
        Replica.objects.filter(file__in=files)
        .order_by("file__scope", "endpoint")
        .values("file__scope", "endpoint", "state", "pfn", "creationtime", "modificationtime")
    )


def file_datasets(files: list[DataFile]) -> list[dict]:
    return list(
        DatasetFile.objects.filter(file__in=files)
        .order_by("dataset__name")
        .values("dataset__scope", "dataset__name", "dataset__kind", "dataset__state", "attached")
    )


def file_job_usages(lfn: str, scope: str | None) -> list[dict]:
    """The job files named ``lfn``: the jobs that read it (input) or wrote it (output, log), newest first."""
    files = JobFile.objects.filter(lfn=lfn)
    if scope:
        files = files.filter(scope=scope)
    return job_files_listed(files.order_by("-job_id", "-row_id"), limit=MAX_USAGES)


def file_task_records(lfn: str, task_ids: list[int]) -> list[dict]:
    """JEDI's records of ``lfn`` in the given tasks' datasets (found through the tasks, which are indexed)."""
    if not task_ids:
        return []
    return list(
        DatasetContent.objects.filter(task_id__in=task_ids, lfn=lfn)
        .order_by("task_id", "fileid")
        .values(
            "fileid",
            "task_id",
            "dataset_id",
            "dataset__datasetname",
            "type",
            "status",
            "attemptnr",
            "maxattempt",
            "failedattempt",
            "pandaid",
            "outpandaid",
        )
    )
