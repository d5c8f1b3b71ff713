"""Reads for the task page (monitor.md §1 "Task"): the task, parameters, datasets, job summary, scouts, logs.

Every function does a fixed number of queries; job counts are aggregated in the database.
"""

import json

from django.db.models import Count
from django.forms.models import model_to_dict

from apps.brokerage.selectors.decisions import decision_as_dict, latest_decisions
from apps.jedi.models import INPUT_TYPES, Task, TaskDataset, TaskParams, TaskStatusLog
from apps.jedi.services.scouts import SCOUT_TAG
from apps.jedi.states import FINAL as TASK_FINAL
from apps.jobs.models import Job
from apps.jobs.states import JobStatus

# The order the job summary is shown in (states.md §1), unknown states last.
JOB_STATE_ORDER = [state.value for state in JobStatus]
DATASET_FIELDS = (
    "datasetid",
    "datasetname",
    "containername",
    "type",
    "status",
    "streamname",
    "masterid",
    "nfiles",
    "nfilestobeused",
    "nfilesused",
    "nfilesfinished",
    "nfilesfailed",
    "nfilesmissing",
    "nfilesonhold",
    "nevents",
    "neventsused",
)
SCOUT_FIELDS = (
    "pandaid",
    "jobstatus",
    "computingsite",
    "starttime",
    "endtime",
    "maxpss",
    "cpuconsumptiontime",
    "corecount",
    "nevents",
    "specialhandling",
)
MAX_SCOUTS = 50
# Parameter keys whose value is best shown as the list it is.
LIST_PARAMS = ("jobParameters",)
TASK_SCOUT_FIELDS = ("scoutmetricstime", "cputime", "cputimeunit", "ramcount", "ramunit", "walltime", "outdiskcount")


def task_get(jeditaskid: int) -> Task | None:
    return Task.objects.filter(jeditaskid=jeditaskid).first()


def task_id_by_name(taskname: str) -> int | None:
    """The newest task called ``taskname`` (the ``taskname`` index)."""
    return Task.objects.filter(taskname=taskname).order_by("-jeditaskid").values_list("jeditaskid", flat=True).first()


def task_is_final(task: Task) -> bool:
    return task.status in TASK_FINAL


def task_as_dict(task: Task) -> dict:
    data = model_to_dict(task)
    data["jeditaskid"] = task.jeditaskid
    data["is_final"] = task_is_final(task)
    return data


def task_params(jeditaskid: int) -> dict:
    """The submitted parameter map (``taskparams`` of the JSON); an undecodable map is returned as ``{"raw": ...}``."""
    raw = TaskParams.objects.filter(task_id=jeditaskid).values_list("taskparams", flat=True).first()
    if raw is None:
        return {}
    try:
        params = json.loads(raw)
    except ValueError:
        return {"raw": raw}
    return params if isinstance(params, dict) else {"raw": raw}


def _human_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_human_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_human_value(v) for v in value)
    return "" if value is None else str(value)


def _job_parameter_text(item) -> str:
    if not isinstance(item, dict):
        return str(item)
    text = str(item.get("value", ""))
    if item.get("dataset"):
        text += f"   [{item.get('param_type', item.get('type', ''))}: {item['dataset']}]"
    return text


def task_params_humanized(params: dict) -> list[tuple[str, str]]:
    """(label, text) rows: camelCase keys spelled out, job parameters one per line, nested maps flattened."""
    rows = []
    for key in sorted(params, key=str.lower):
        value = params[key]
        label = "".join(f" {c.lower()}" if c.isupper() else c for c in key).strip().capitalize()
        if key in LIST_PARAMS and isinstance(value, list):
            text = "\n".join(_job_parameter_text(item) for item in value)
        elif key == "log" and isinstance(value, dict):
            text = _job_parameter_text(value)
        else:
            text = _human_value(value)
        rows.append((label, text))
    return rows


def task_datasets(jeditaskid: int) -> list[dict]:
    """The task's datasets with file counts and the share of files done (finished over files to use)."""
    rows = list(TaskDataset.objects.filter(task_id=jeditaskid).order_by("type", "datasetid").values(*DATASET_FIELDS))
    for row in rows:
        denominator = row["nfilestobeused"] or row["nfiles"]
        row["percent_done"] = round(100.0 * row["nfilesfinished"] / denominator, 1) if denominator else None
        row["is_input"] = row["type"] in INPUT_TYPES and row["masterid"] is None
    return rows


def task_job_summary(jeditaskid: int) -> list[dict]:
    """``[{jobstatus, count}]`` in state order (one aggregated query)."""
    counts = dict(
        Job.objects.filter(jeditaskid=jeditaskid)
        .values("jobstatus")
        .annotate(n=Count("pandaid"))
        .values_list("jobstatus", "n")
    )
    order = {state: index for index, state in enumerate(JOB_STATE_ORDER)}
    return [
        {"jobstatus": state, "count": counts[state]}
        for state in sorted(counts, key=lambda s: (order.get(s, len(order)), s))
    ]


def task_scouts(jeditaskid: int) -> list[dict]:
    """The task's scout jobs (``specialHandling`` flag ``sj``), at most :data:`MAX_SCOUTS`."""
    rows = (
        Job.objects.filter(jeditaskid=jeditaskid, specialhandling__contains=SCOUT_TAG)
        .order_by("pandaid")
        .values(*SCOUT_FIELDS)[: MAX_SCOUTS * 2]
    )
    scouts = []
    for row in rows:
        if SCOUT_TAG not in (row["specialhandling"] or "").split(","):
            continue
        if row["starttime"] and row["endtime"]:
            row["duration"] = (row["endtime"] - row["starttime"]).total_seconds()
        else:
            row["duration"] = None
        scouts.append(row)
        if len(scouts) >= MAX_SCOUTS:
            break
    return scouts


def task_scout_metrics(task: Task) -> dict:
    """What the scouts measured for the task (stored on it when scouting ended)."""
    return {field: getattr(task, field) for field in TASK_SCOUT_FIELDS}


def task_status_log(jeditaskid: int) -> list[dict]:
    return list(
        TaskStatusLog.objects.filter(jeditaskid=jeditaskid)
        .order_by("modificationtime", "id")
        .values("modificationtime", "oldstatus", "status", "attemptnr", "reason")
    )


def task_brokerage(jeditaskid: int, limit: int = 5) -> list[dict]:
    return [decision_as_dict(decision) for decision in latest_decisions(jeditaskid, limit)]
