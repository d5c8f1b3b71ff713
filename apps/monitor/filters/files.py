"""Filter registries of the file and dataset lookups (monitor.md §1 "Files / datasets").

``/files/`` reads job files (``filestable4``): every JobFile column (``lfn``, ``scope``, ``dataset``,
``guid``, ``type``, ``status``, ``jeditaskid``, ``datasetid``, ...) plus ``pandaid``. ``/datasets/`` reads
JEDI's task datasets: every TaskDataset column (``datasetname``, ``containername``, ``type``, ``status``,
...) plus ``jeditaskid``. Values take the grammar of monitor.md §2 (``*`` wildcards, ``a|b``, ``!a``).
No time window: a lookup names what it looks for, and at least one selecting key is required.
"""

from __future__ import annotations

from apps.jedi.models import TaskDataset
from apps.jobs.models import JobFile
from apps.monitor.filters.registry import INT, NUMBER_OPERATORS, FilterField, Registry, SortOption, model_fields

FILE_FACETS = ("type", "status", "scope")
FILE_FILTERS = Registry(
    name="files",
    model=JobFile,
    fields={
        **model_fields(JobFile, facets=FILE_FACETS, exclude=("modificationtime",)),
        "pandaid": FilterField("pandaid", "job_id", INT, NUMBER_OPERATORS),
        # Through the job: the jobs table is indexed by task, the files table only by job and LFN.
        "jeditaskid": FilterField("jeditaskid", "job__jeditaskid", INT, NUMBER_OPERATORS),
    },
    window_field=None,
    default_limit=1_000,
    default_display_limit=200,
    sort_options={option.name: option for option in (SortOption("lfn", ("lfn", "row_id")),)},
    default_sort="lfn-ascending",
)
# A lookup must name files by one of these; a bare status, type or scope would read the whole files table.
# lfn, pandaid and jeditaskid use indexes; guid, dataset, datasetid and fileid read the files table.
FILE_SELECTING_KEYS = ("lfn", "pandaid", "jeditaskid", "guid", "dataset", "datasetid", "fileid")

DATASET_FACETS = ("type", "status")
DATASET_FILTERS = Registry(
    name="datasets",
    model=TaskDataset,
    fields={
        **model_fields(
            TaskDataset, facets=DATASET_FACETS, exclude=("creationtime", "modificationtime", "statechecktime")
        ),
        "jeditaskid": FilterField("jeditaskid", "task_id", INT, NUMBER_OPERATORS),
    },
    window_field=None,
    default_limit=1_000,
    default_display_limit=200,
    sort_options={option.name: option for option in (SortOption("datasetid", ("datasetid",)),)},
    default_sort="datasetid-descending",
)
DATASET_SELECTING_KEYS = ("datasetname", "containername", "jeditaskid", "datasetid")
