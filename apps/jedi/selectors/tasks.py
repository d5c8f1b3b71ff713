"""Reads behind the client task queries (protocol.md §10.1): status, details, job ids, parameters,
tasks modified since, datasets with their files, job descriptions.

Task attributes go out under JEDI's camelCase names (:data:`TASK_WIRE_NAMES`), as panda-client
and its users read them from upstream (``jediTaskID``, ``taskName``, ``modificationTime``).
"""

import datetime as dt
import json
from collections import Counter
from typing import Any

from apps.core.timeutil import utcnow
from apps.jedi.models import INPUT_TYPES, DatasetContent, Task, TaskDataset, TaskParams
from apps.jobs.models import Job
from apps.jobs.selectors.descriptions import jobs_describe
from apps.jobs.states import FINAL as JOB_FINAL
from apps.jobs.states import JobStatus

MODIFIED_SINCE_MAX_DAYS = 30
UNSUCCESSFUL = (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.CLOSED)

TASK_WIRE_NAMES = {
    "jeditaskid": "jediTaskID",
    "taskname": "taskName",
    "status": "status",
    "oldstatus": "oldStatus",
    "superstatus": "superStatus",
    "username": "userName",
    "creationdate": "creationDate",
    "modificationtime": "modificationTime",
    "statechangetime": "stateChangeTime",
    "starttime": "startTime",
    "endtime": "endTime",
    "frozentime": "frozenTime",
    "prodsourcelabel": "prodSourceLabel",
    "workinggroup": "workingGroup",
    "vo": "vo",
    "corecount": "coreCount",
    "tasktype": "taskType",
    "processingtype": "processingType",
    "taskpriority": "taskPriority",
    "currentpriority": "currentPriority",
    "architecture": "architecture",
    "transuses": "transUses",
    "transhome": "transHome",
    "transpath": "transPath",
    "container_name": "container_name",
    "lockedby": "lockedBy",
    "lockedtime": "lockedTime",
    "termcondition": "termCondition",
    "splitrule": "splitRule",
    "walltime": "walltime",
    "walltimeunit": "walltimeUnit",
    "basewalltime": "baseWalltime",
    "cputime": "cpuTime",
    "cputimeunit": "cpuTimeUnit",
    "cpuefficiency": "cpuEfficiency",
    "outdiskcount": "outDiskCount",
    "outdiskunit": "outDiskUnit",
    "workdiskcount": "workDiskCount",
    "workdiskunit": "workDiskUnit",
    "ramcount": "ramCount",
    "ramunit": "ramUnit",
    "baseramcount": "baseRamCount",
    "iointensity": "ioIntensity",
    "iointensityunit": "ioIntensityUnit",
    "diskio": "diskIO",
    "diskiounit": "diskIOUnit",
    "workqueue_id": "workQueue_ID",
    "gshare": "gshare",
    "resource_type": "resource_type",
    "progress": "progress",
    "failurerate": "failureRate",
    "errordialog": "errorDialog",
    "reqid": "reqID",
    "cloud": "cloud",
    "site": "site",
    "nucleus": "nucleus",
    "countrygroup": "countryGroup",
    "campaign": "campaign",
    "parent_tid": "parent_tid",
    "eventservice": "eventService",
    "attemptnr": "attemptNr",
    "throttledtime": "throttledTime",
    "numthrottled": "numThrottled",
    "rescuetime": "rescueTime",
    "goal": "goal",
    "job_label": "job_label",
}
# The short form of task/get_tasks_modified_since (upstream's basic fields).
BASIC_TASK_FIELDS = (
    "jeditaskid",
    "modificationtime",
    "status",
    "processingtype",
    "transuses",
    "transhome",
    "architecture",
    "reqid",
    "creationdate",
    "site",
    "cloud",
    "taskname",
)


class BadTaskParameters(ValueError):
    """The stored parameter map is not a JSON object."""


def task_wire(task: Task, fields=None) -> dict[str, Any]:
    return {TASK_WIRE_NAMES[name]: getattr(task, name) for name in fields or TASK_WIRE_NAMES}


def task_status(*, task_id: int) -> str | None:
    return Task.objects.filter(jeditaskid=task_id).values_list("status", flat=True).first()


def task_job_ids(*, task_id: int, unfinished_only: bool = False) -> list[int]:
    jobs = Job.objects.filter(jeditaskid=task_id)
    if unfinished_only:
        jobs = jobs.exclude(jobstatus__in=JOB_FINAL)
    return list(jobs.order_by("pandaid").values_list("pandaid", flat=True))


def task_parameters(*, task_id: int) -> dict | None:
    """The submitted parameter map; ``None`` for an unknown task; :class:`BadTaskParameters` if undecodable."""
    raw = TaskParams.objects.filter(task_id=task_id).values_list("taskparams", flat=True).first()
    if raw is None:
        return None
    try:
        params = json.loads(raw)
    except ValueError as exc:
        raise BadTaskParameters(f"Error decoding the task parameters: {exc}") from exc
    if not isinstance(params, dict):
        raise BadTaskParameters("Error decoding the task parameters: not an object")
    return params


def _dataset_name(dataset: TaskDataset) -> str:
    return dataset.containername or dataset.datasetname


def task_details(*, task_id: int, include_parameters: bool = False, include_status: bool = False) -> dict | None:
    """upstream's getJediTaskDetails shape, plus per-status job counts.

    ``inDS``/``outDS``: comma-joined primary input and output/log dataset (or container) names;
    ``statistics``: input-file progress ``tobedone*N,finished*N,failed*N,picked*N``; ``PandaID``:
    the task's jobs; ``jobStatistics``: ``{jobStatus: count}``; with ``include_status`` the task
    ``status``; with ``include_parameters`` ``taskParams`` (the map) and its ``cliParams``.
    """
    task = Task.objects.filter(jeditaskid=task_id).only("jeditaskid", "status").first()
    if task is None:
        return None
    in_ds: list[str] = []
    out_ds: list[str] = []
    total = finished = failed = tobedone = 0
    for dataset in TaskDataset.objects.filter(task_id=task_id).order_by("datasetid"):
        name = _dataset_name(dataset)
        if dataset.type in INPUT_TYPES and dataset.masterid is None:
            if dataset.type == "input" and name not in in_ds:
                in_ds.append(name)
            total += dataset.nfiles
            finished += dataset.nfilesfinished
            failed += dataset.nfilesfailed
            tobedone += max(dataset.nfiles - dataset.nfilesused, 0)
        elif dataset.type in ("output", "log") and name not in out_ds:
            out_ds.append(name)
    picked = total - tobedone - finished - failed
    statistics = ",".join(
        f"{label}*{count}"
        for label, count in (("tobedone", tobedone), ("finished", finished), ("failed", failed), ("picked", picked))
        if count > 0
    )
    jobs = list(Job.objects.filter(jeditaskid=task_id).order_by("pandaid").values_list("pandaid", "jobstatus"))
    details: dict[str, Any] = {
        "inDS": ",".join(in_ds),
        "outDS": ",".join(out_ds),
        "statistics": statistics,
        "PandaID": [pandaid for pandaid, _ in jobs],
        "jobStatistics": dict(Counter(status for _, status in jobs)),
        "mergeStatus": None,
        "mergePandaID": [],
    }
    if include_status:
        details["status"] = task.status
    if include_parameters:
        params = task_parameters(task_id=task_id) or {}
        details["taskParams"] = params
        details["cliParams"] = params.get("cliParams", "")
    return details


def tasks_modified_since(
    *,
    owner: str,
    since: dt.datetime,
    full: bool = False,
    min_task_id: int | None = None,
    prod_source_label: str | None = "user",
) -> dict[int, dict[str, Any]]:
    """The owner's tasks modified after ``since`` (at most 30 days back), keyed by jediTaskID."""
    since = max(since, utcnow() - dt.timedelta(days=MODIFIED_SINCE_MAX_DAYS))
    tasks = Task.objects.filter(username=owner, modificationtime__gt=since)
    if prod_source_label:
        tasks = tasks.filter(prodsourcelabel=prod_source_label)
    if min_task_id is not None:
        tasks = tasks.filter(jeditaskid__gt=min_task_id)
    fields = None if full else BASIC_TASK_FIELDS
    return {task.jeditaskid: task_wire(task, fields) for task in tasks.order_by("jeditaskid")}


def task_datasets_and_files(
    *, task_id: int, dataset_types: list[str], dataset_only: bool = False
) -> list[dict[str, Any]]:
    """``[{"dataset": {"name", "id"}, "files": [{"lfn", "scope", "id", "status"}]}]`` for the given types."""
    datasets = list(TaskDataset.objects.filter(task_id=task_id, type__in=dataset_types).order_by("datasetid"))
    files: dict[int, list[dict[str, Any]]] = {dataset.datasetid: [] for dataset in datasets}
    if not dataset_only and datasets:
        contents = DatasetContent.objects.filter(dataset_id__in=list(files)).order_by("fileid")
        for dataset_id, lfn, scope, fileid, status in contents.values_list(
            "dataset_id", "lfn", "scope", "fileid", "status"
        ):
            files[dataset_id].append({"lfn": lfn, "scope": scope, "id": fileid, "status": status})
    answer = []
    for dataset in datasets:
        entry: dict[str, Any] = {"dataset": {"name": dataset.datasetname, "id": dataset.datasetid}}
        if not dataset_only:
            entry["files"] = files[dataset.datasetid]
        answer.append(entry)
    return answer


def task_job_descriptions(*, task_id: int, unsuccessful_only: bool = False) -> list[dict[str, Any]]:
    """Full job descriptions (the ``job/get_description`` dict) of the task's jobs."""
    jobs = Job.objects.filter(jeditaskid=task_id)
    if unsuccessful_only:
        jobs = jobs.filter(jobstatus__in=UNSUCCESSFUL)
    pandaids = list(jobs.order_by("pandaid").values_list("pandaid", flat=True))
    return [description for description in jobs_describe(pandaids=pandaids) if description is not None]
