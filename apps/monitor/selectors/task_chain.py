"""Reads of the task chain pages (monitor.md §1 "Task chain / flow").

``/taskchain/``, ``/ganttTaskChain/`` and ``/taskflow/<jeditaskid>/``.

A chain is the tree of tasks linked by ``parent_tid`` (a task's parent; upstream sets it to the task's
own id when it has none, which is not a link). The chain is read from its root: one query per level
up to the root, one per level down, capped at :data:`MAX_DEPTH` levels and :data:`MAX_TASKS` tasks.
"""

import datetime as dt

from django.db.models import Q

from apps.core.timeutil import utcnow
from apps.jedi.models import INPUT_TYPES, DatasetType, Task, TaskDataset
from apps.jedi.states import FINAL

CHAIN_FIELDS = (
    "jeditaskid",
    "parent_tid",
    "taskname",
    "status",
    "username",
    "creationdate",
    "starttime",
    "endtime",
    "modificationtime",
    "progress",
)
MAX_DEPTH = 50
MAX_TASKS = 1_000
OUTPUT_TYPES = (DatasetType.OUTPUT, DatasetType.LOG)


def _parent_of(row: dict) -> int | None:
    parent = row["parent_tid"]
    return parent if parent and parent != row["jeditaskid"] else None


def task_chain(jeditaskid: int) -> dict | None:
    """``{root, tasks, truncated}``: the chain's tasks in tree order (parents before children), each with
    ``depth`` and ``children``; ``None`` when the task does not exist."""
    row = Task.objects.filter(jeditaskid=jeditaskid).values(*CHAIN_FIELDS).first()
    if row is None:
        return None
    rows = {row["jeditaskid"]: row}
    root = row
    for _ in range(MAX_DEPTH):
        parent_id = _parent_of(root)
        if parent_id is None or parent_id in rows:
            break
        parent = Task.objects.filter(jeditaskid=parent_id).values(*CHAIN_FIELDS).first()
        if parent is None:
            break
        rows[parent_id] = parent
        root = parent
    truncated = False
    level = [root["jeditaskid"]]
    walked = set(level)  # tasks reached going down (the upward walk's tasks are reached again here)
    for _ in range(MAX_DEPTH):
        children = list(
            Task.objects.filter(parent_tid__in=level)
            .exclude(jeditaskid__in=level)
            .order_by("jeditaskid")
            .values(*CHAIN_FIELDS)[: MAX_TASKS + 1]
        )
        fresh = [child for child in children if child["jeditaskid"] not in walked]
        if len(walked) + len(fresh) > MAX_TASKS:
            fresh = fresh[: MAX_TASKS - len(walked)]
            truncated = True
        rows.update({child["jeditaskid"]: child for child in fresh})
        walked.update(child["jeditaskid"] for child in fresh)
        level = [child["jeditaskid"] for child in fresh]
        if not level or truncated:
            break
    else:
        truncated = True
    return {"root": root["jeditaskid"], "tasks": _tree_order(rows, root["jeditaskid"]), "truncated": truncated}


def _tree_order(rows: dict[int, dict], root_id: int) -> list[dict]:
    children: dict[int, list[int]] = {}
    for task_id, row in rows.items():
        parent = _parent_of(row)
        if task_id != root_id and parent in rows:
            children.setdefault(parent, []).append(task_id)
    ordered: list[dict] = []
    stack = [(root_id, 0)]
    seen = set()
    while stack:
        task_id, depth = stack.pop()
        if task_id in seen:
            continue
        seen.add(task_id)
        kids = sorted(children.get(task_id, []))
        ordered.append({**rows[task_id], "depth": depth, "children": kids})
        stack.extend((kid, depth + 1) for kid in reversed(kids))
    return ordered


def gantt_rows(tasks: list[dict], *, now: dt.datetime | None = None) -> list[dict]:
    """``{label, start, end, status, open}`` per task: from its start (or creation) to its end, or to now
    while it is not in a final state (``open``)."""
    now = now or utcnow()
    rows = []
    for task in tasks:
        start = task["starttime"] or task["creationdate"]
        final = task["status"] in FINAL
        end = task["endtime"] or (task["modificationtime"] if final else now)
        rows.append(
            {
                "jeditaskid": task["jeditaskid"],
                "label": f"{'· ' * task['depth']}{task['jeditaskid']}",
                "start": start,
                "end": max(end, start),
                "status": task["status"],
                "open": not final and task["endtime"] is None,
            }
        )
    return rows


def task_flow(jeditaskid: int) -> dict | None:
    """Input datasets -> task -> output datasets -> child tasks, with the datasets the children read;
    ``None`` when the task does not exist.

    ``edges`` are ``{from, to}`` between node ids ``task:<id>`` and ``dataset:<name>``: a child task
    hangs off the output dataset it reads, or off the task itself when it reads none of them.
    """
    task = Task.objects.filter(jeditaskid=jeditaskid).values("jeditaskid", "taskname", "status", "parent_tid").first()
    if task is None:
        return None
    datasets = list(
        TaskDataset.objects.filter(task_id=jeditaskid)
        .order_by("datasetid")
        .values("datasetid", "datasetname", "type", "status", "nfiles", "nfilesfinished", "nfilesfailed")
    )
    inputs = [row for row in datasets if row["type"] in INPUT_TYPES]
    outputs = [row for row in datasets if row["type"] in OUTPUT_TYPES]
    children = list(
        Task.objects.filter(parent_tid=jeditaskid)
        .exclude(jeditaskid=jeditaskid)
        .order_by("jeditaskid")
        .values("jeditaskid", "taskname", "status")[:MAX_TASKS]
    )
    output_names = {row["datasetname"] for row in outputs}
    bare = {name.partition(":")[2] or name: name for name in output_names}
    reads: dict[int, list[str]] = {}
    child_inputs = TaskDataset.objects.filter(
        Q(task_id__in=[child["jeditaskid"] for child in children]), type__in=INPUT_TYPES
    ).values_list("task_id", "datasetname")
    for child_id, name in child_inputs:
        found = name if name in output_names else bare.get(name.partition(":")[2] or name)
        if found:
            reads.setdefault(child_id, []).append(found)
    me = f"task:{jeditaskid}"
    edges = [{"from": f"dataset:{row['datasetname']}", "to": me} for row in inputs]
    edges += [{"from": me, "to": f"dataset:{row['datasetname']}"} for row in outputs]
    for child in children:
        child["reads"] = sorted(set(reads.get(child["jeditaskid"], [])))
        sources = [f"dataset:{name}" for name in child["reads"]] or [me]
        edges += [{"from": source, "to": f"task:{child['jeditaskid']}"} for source in sources]
    parent_id = _parent_of(task)
    parent = None
    if parent_id is not None:
        parent = Task.objects.filter(jeditaskid=parent_id).values("jeditaskid", "taskname", "status").first()
    if parent:
        edges.insert(0, {"from": f"task:{parent['jeditaskid']}", "to": me})
    task.pop("parent_tid")
    return {"task": task, "parent": parent, "inputs": inputs, "outputs": outputs, "children": children, "edges": edges}
