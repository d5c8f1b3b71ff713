"""The PostProcessor (jedi.md §2, §9): gives tasks whose work is over their final state.

It claims (agent lease, :func:`~apps.jedi.services.locks.tasks_claim`) tasks in:

* ``prepared`` (the feedback found every input processed): the final status below;
* ``finishing`` once no job of the task is left in the defined or active group (the TaskCommando
  does the same for a finish command; whoever comes first wins): ``passed``, then the final status;
* ``passed``: the final status;
* ``toabort`` once no job is left: ``aborted``;
* ``tobroken``: ``broken``.

``prepared``/``finishing``/``passed`` tasks also wait until the feedback has taken every master
input row out of ``picked``/``running``, so the counters are complete.

Final status from the master input datasets' counters: ``nfilesfinished == nfiles`` -> ``done``;
none finished -> ``failed``; otherwise ``finished`` — ``failed`` instead when the split rule has
``failGoalUnreached`` (FG) and the finished fraction is below ``goal`` (per mille), and
``exhausted`` instead when the split rule has ``useExhausted`` (UX) and the task comes from
``prepared`` (``passed`` tasks cannot go there; they end ``finished``).

On reaching a final state: ``endtime`` is set, input datasets get the status of their own result
(``done``/``finished``/``failed``), output and log datasets are closed in DDM (``ddm().close_dataset``;
a dataset DDM does not know is logged and skipped) and marked ``done``/``closed``. When a task
ends ``done``, the input datasets of its child tasks (``parent_tid``) that are still running become
``toupdate`` so the ContentsFeeder picks up the parent's new output.
"""

import logging
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q, Sum

from apps.core.timeutil import utcnow
from apps.ddm.interface import DDMError, UnknownDataset, ddm
from apps.jedi.models import INPUT_TYPES, ContentStatus, DatasetContent, DatasetType, Task, TaskDataset
from apps.jedi.services.locks import task_release, tasks_claim
from apps.jedi.services.retry_module import split_rule_int
from apps.jedi.services.transitions import IllegalTransition, StaleStatus, task_change_status
from apps.jedi.states import FINAL, TaskStatus
from apps.jedi.taskparams import SPLIT_RULE_CODES
from apps.jobs.models import Job
from apps.jobs.states import ACTIVE_GROUP, DEFINED_GROUP

log = logging.getLogger(__name__)

AGENT = "postprocessor"
DEFAULT_BATCH_SIZE = 20
T = TaskStatus
HANDLED = (T.PREPARED, T.FINISHING, T.PASSED, T.TOABORT, T.TOBROKEN)
LIVE_JOB_STATES = tuple(sorted(DEFINED_GROUP | ACTIVE_GROUP))
OUTPUT_TYPES = (DatasetType.OUTPUT, DatasetType.LOG)


@dataclass
class PostProcessorSummary:
    claimed: int = 0
    waiting: int = 0
    ended: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        ends = " ".join(f"{status}={n}" for status, n in sorted(self.ended.items())) or "none"
        return f"postprocessor: claimed={self.claimed} waiting={self.waiting} ended: {ends}"


def _has_live_jobs(task: Task) -> bool:
    return Job.objects.filter(jeditaskid=task.jeditaskid, jobstatus__in=LIVE_JOB_STATES).exists()


def _masters(task: Task):
    return TaskDataset.objects.filter(task=task, type__in=INPUT_TYPES, masterid__isnull=True)


def _feedback_pending(task: Task) -> bool:
    return DatasetContent.objects.filter(
        task=task,
        dataset__type__in=INPUT_TYPES,
        dataset__masterid__isnull=True,
        status__in=(ContentStatus.PICKED, ContentStatus.RUNNING),
    ).exists()


def final_status(task: Task, *, allow_exhausted: bool) -> str:
    """done / finished / failed (or exhausted) from the master input counters (jedi.md §9)."""
    totals = _masters(task).aggregate(nfiles=Sum("nfiles"), finished=Sum("nfilesfinished"))
    nfiles, finished = totals["nfiles"] or 0, totals["finished"] or 0
    if nfiles and finished >= nfiles:
        return T.DONE
    if finished == 0:
        return T.FAILED
    splitrule = task.splitrule or ""
    below_goal = bool(task.goal) and finished * 1000 < task.goal * nfiles
    if below_goal and split_rule_int(splitrule, SPLIT_RULE_CODES["failGoalUnreached"]):
        return T.FAILED
    if allow_exhausted and split_rule_int(splitrule, SPLIT_RULE_CODES["useExhausted"]):
        return T.EXHAUSTED
    return T.FINISHED


def _close_outputs(task: Task) -> None:
    now = utcnow()
    for dataset in TaskDataset.objects.filter(task=task, type__in=OUTPUT_TYPES).exclude(state="closed"):
        try:
            ddm().close_dataset(dataset.datasetname)
        except UnknownDataset:
            log.info("postprocessor: jediTaskID=%s output %s unknown to DDM", task.jeditaskid, dataset.datasetname)
        except DDMError as exc:
            log.warning("postprocessor: jediTaskID=%s cannot close %s: %s", task.jeditaskid, dataset.datasetname, exc)
            continue
        TaskDataset.objects.filter(pk=dataset.pk).update(status="done", state="closed", modificationtime=now)


def _finish_inputs(task: Task) -> None:
    now = utcnow()
    for dataset in TaskDataset.objects.filter(task=task, type__in=INPUT_TYPES):
        if dataset.nfiles and dataset.nfilesfinished >= dataset.nfiles:
            status = "done"
        elif dataset.nfilesfinished:
            status = "finished"
        else:
            status = "failed"
        TaskDataset.objects.filter(pk=dataset.pk).update(status=status, modificationtime=now)


def children_refresh(task: Task) -> int:
    """Input datasets of the running children of ``task`` -> ``toupdate``; answers how many."""
    return (
        TaskDataset.objects.filter(task__parent_tid=task.jeditaskid, type__in=INPUT_TYPES)
        .exclude(task__status__in=FINAL)
        .exclude(status__in=("defined", "toupdate"))
        .update(status="toupdate", modificationtime=utcnow())
    )


def _end(task: Task, new: str, reason: str) -> str:
    changes = {"endtime": utcnow()} if new in FINAL else {}
    task_change_status(task, new=new, changes=changes, reason=reason)
    if new in FINAL:
        _close_outputs(task)
        if new != T.ABORTED and new != T.BROKEN:
            _finish_inputs(task)
        if new == T.DONE:
            children_refresh(task)
    return new


def task_postprocess(task: Task) -> str | None:
    """Move one claimed task on; answers the state it reached, or None when it must wait."""
    if task.status == T.TOBROKEN:
        return _end(task, T.BROKEN, "broken")
    if task.status in (T.TOABORT, T.FINISHING, T.PREPARED, T.PASSED) and _has_live_jobs(task):
        return None
    if task.status == T.TOABORT:
        return _end(task, T.ABORTED, "aborted")
    if _feedback_pending(task):
        return None
    if task.status == T.FINISHING:
        task_change_status(task, new=T.PASSED, reason="finish: no job left")
    new = final_status(task, allow_exhausted=task.status == T.PREPARED)
    return _end(task, new, f"post-processed: {new}")


def postprocessor_run(*, batch_size: int = DEFAULT_BATCH_SIZE) -> PostProcessorSummary:
    summary = PostProcessorSummary()
    # Tasks still waiting for their jobs are not even claimed, so they cannot crowd out the others.
    live_jobs = Job.objects.filter(jeditaskid=OuterRef("jeditaskid"), jobstatus__in=LIVE_JOB_STATES)
    ready = Q(status=T.TOBROKEN) | ~Q(Exists(live_jobs))
    for task in tasks_claim(agent=AGENT, statuses=HANDLED, limit=batch_size, extra=ready):
        summary.claimed += 1
        try:
            reached = task_postprocess(task)
        except (StaleStatus, IllegalTransition) as exc:
            log.info("postprocessor: jediTaskID=%s moved meanwhile: %s", task.jeditaskid, exc)
            reached = None
        finally:
            task_release(task, agent=AGENT)
        if reached is None:
            summary.waiting += 1
        else:
            summary.ended[reached] = summary.ended.get(reached, 0) + 1
    return summary
