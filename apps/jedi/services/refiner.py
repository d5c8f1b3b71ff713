"""The TaskRefiner agent (jedi.md §2): turn a registered task's parameter map into its JEDI rows.

Claims ``registered`` tasks, and ``rerefine`` tasks whose parameters an incexec replaced, with a
lease (:func:`~apps.jedi.services.locks.tasks_claim`), parses the stored map
(:func:`~apps.jedi.taskparams.parse_task_params`) and, in one short transaction per task, writes

* one :class:`~apps.jedi.models.TaskDataset` per dataset (input, pseudo_input, output, log, lib,
  tmpl_output, tmpl_log); secondary inputs get ``masterid`` = the master's first dataset;
* one :class:`~apps.jedi.models.OutputTemplate` per output/log stream, ``serialnr`` starting at 1 +
  the item's ``offset``;
* the :class:`~apps.jedi.models.JobParamsTemplate`;
* the task columns, together with ``registered``/``rerefine`` -> ``defined``.

Rows are matched by (type, dataset name) and (dataset, stream), so running again after a crash, or
re-refining after an incexec, never duplicates a dataset and keeps the serial numbers already
used; input datasets a rerefined task had already fed become ``toupdate`` so the ContentsFeeder
adds the files that are new. A map that does not parse sends the task to ``tobroken`` with the
reason in ``errordialog``; the PostProcessor moves it on to ``broken`` (this agent does not).
"""

import logging
from dataclasses import dataclass

from django.db import transaction

from apps.core.timeutil import utcnow
from apps.jedi.models import DatasetType, JobParamsTemplate, OutputTemplate, Task, TaskDataset, TaskParams
from apps.jedi.services.locks import task_release, tasks_claim
from apps.jedi.services.transitions import StaleStatus, task_change_status
from apps.jedi.states import TaskStatus
from apps.jedi.taskparams import DatasetSpec, ParsedTask, TaskParamError, load_task_params, parse_task_params

log = logging.getLogger(__name__)

AGENT = "refiner"
DEFAULT_BATCH_SIZE = 20
REFINABLE = (TaskStatus.REGISTERED, TaskStatus.REREFINE)


@dataclass
class RefinerSummary:
    defined: int = 0
    broken: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return f"refiner: defined={self.defined} tobroken={self.broken} skipped={self.skipped}"


def refiner_run(*, limit: int = DEFAULT_BATCH_SIZE) -> RefinerSummary:
    """One cycle: refine up to ``limit`` claimable tasks."""
    summary = RefinerSummary()
    for task in tasks_claim(agent=AGENT, statuses=REFINABLE, limit=limit):
        try:
            outcome = task_refine(task)
        finally:
            task_release(task, agent=AGENT)
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    return summary


def task_refine(task: Task) -> str:
    """Refine one task the caller holds; answers ``defined``, ``broken`` or ``skipped``."""
    if task.status not in REFINABLE:
        return "skipped"
    try:
        parsed = _parsed(task)
    except TaskParamError as exc:
        return _break(task, f"bad task parameters: {exc}")
    try:
        with transaction.atomic():
            _write(task, parsed)
            task_change_status(task, new=TaskStatus.DEFINED, changes=_task_changes(parsed), reason="refined")
    except StaleStatus:
        log.info("jediTaskID=%s changed while being refined; left alone", task.jeditaskid)
        return "skipped"
    return "defined"


def _parsed(task: Task) -> ParsedTask:
    stored = TaskParams.objects.filter(task_id=task.jeditaskid).values_list("taskparams", flat=True).first()
    if stored is None:
        raise TaskParamError("the task has no stored parameters")
    return parse_task_params(load_task_params(stored))


def _break(task: Task, reason: str) -> str:
    try:
        task_change_status(task, new=TaskStatus.TOBROKEN, reason=reason)
    except StaleStatus:
        return "skipped"
    log.info("jediTaskID=%s -> tobroken: %s", task.jeditaskid, reason)
    return "broken"


def _task_changes(parsed: ParsedTask) -> dict:
    # The owner and name were fixed at submission; everything else follows the (new) parameters.
    changes = {k: v for k, v in parsed.columns.items() if k not in ("username", "taskname")}
    changes["errordialog"] = None
    return changes


def _write(task: Task, parsed: ParsedTask) -> None:
    existing = {(ds.type, ds.datasetname): ds for ds in TaskDataset.objects.filter(task=task)}
    rerefine = task.status == TaskStatus.REREFINE
    master_ids: dict[str, int] = {}
    # Masters first, so that the secondaries can point at them.
    ordered = sorted(parsed.datasets, key=lambda ds: (ds.master is not None, not ds.is_input))
    for spec in ordered:
        row = existing.get((spec.type, spec.datasetname))
        masterid = master_ids.get(spec.master) if spec.master else None
        row = _dataset_upsert(task, spec, row, masterid=masterid, rerefine=rerefine)
        if spec.is_input and spec.master is None and spec.streamname not in master_ids:
            master_ids[spec.streamname] = row.datasetid
        for template in spec.templates:
            _template_upsert(task, row, template.streamname, template.filenametemplate, template.serialnr, spec.type)
    JobParamsTemplate.objects.update_or_create(task=task, defaults={"jobparamstemplate": parsed.jobparams_template})


def _dataset_upsert(
    task: Task, spec: DatasetSpec, row: TaskDataset | None, *, masterid: int | None, rerefine: bool
) -> TaskDataset:
    fields = {
        "containername": spec.containername,
        "streamname": spec.streamname,
        "masterid": masterid,
        "attributes": spec.attributes,
        "storagetoken": spec.storagetoken,
        "destination": spec.destination,
        "vo": task.vo,
        "modificationtime": utcnow(),
    }
    if row is None:
        return TaskDataset.objects.create(
            task=task, datasetname=spec.datasetname, type=spec.type, status="defined", **fields
        )
    if rerefine and spec.type == DatasetType.INPUT and row.status not in ("defined", "toupdate"):
        fields["status"] = "toupdate"
    TaskDataset.objects.filter(datasetid=row.datasetid).update(**fields)
    for name, value in fields.items():
        setattr(row, name, value)
    return row


def _template_upsert(task: Task, dataset: TaskDataset, stream: str, template: str, serialnr: int, kind: str) -> None:
    outtype = kind.removeprefix("tmpl_")
    current = OutputTemplate.objects.filter(task=task, dataset=dataset, streamname=stream).first()
    if current is None:
        OutputTemplate.objects.create(
            task=task, dataset=dataset, streamname=stream, filenametemplate=template, serialnr=serialnr, outtype=outtype
        )
        return
    # Keep the serial numbers already handed out: ${SN} never repeats within a task.
    OutputTemplate.objects.filter(pk=current.pk).update(
        filenametemplate=template, serialnr=max(current.serialnr, serialnr), outtype=outtype
    )
