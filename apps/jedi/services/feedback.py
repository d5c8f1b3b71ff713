"""Feedback from jobs to JEDI's file records (jedi.md §7, states.md §3).

``apps.jobs`` knows nothing of JEDI, so this JEDI agent reads the jobs table. One run:

1. Input rows ``picked`` whose job (``DatasetContent.pandaid``) has started (``starting``,
   ``running``, ``holding``, ``transferring``, ``merging``) become ``running``.
2. Input rows ``picked``/``running`` whose job is final: job ``finished`` -> ``finished``; job
   ``failed``/``cancelled``/``closed`` -> ``attemptnr + 1`` (``failedattempt + 1`` only for
   ``failed``; a ``closed`` job, e.g. reassigned with codes 2/4/51, does not count as a failure) and
   back to ``ready`` while ``attemptnr < maxattempt`` and ``failedattempt < maxfailure`` (no
   ``maxfailure``: no limit), else ``failed``. The retry module
   (:mod:`apps.jedi.services.retry_module`) runs first for every failed job.
3. Output/log rows not yet final whose producing job (``outpandaid``) is final: ``finished`` with
   the guid, size, checksum and events the Adder registered on the job's file, or ``failed``.
4. Tasks touched by the run that are in a generating state (``ready``, ``scouting``, ``scouted``,
   ``running``, ``throttled``, ``pending``) with no master input file left ``ready``/``picked``/
   ``running`` and no job in the defined or active group move to ``prepared``.

Dataset counters, changed in the transaction of the file updates: ``nfilesfinished`` /
``nfilesfailed`` (+1 per file finished / failed for good), ``nfilesused`` (-1 per file given back
to ``ready``: the JobGenerator adds one when it picks a file, as upstream does), ``neventsused``
(+ the events of finished input files), ``nfilesonhold`` (input files held by a started job: +1 on
``picked -> running``, -1 when such a file gets its result). The task's ``progress`` and
``failurerate`` are per cent of the master input files finished / failed.

Concurrency: candidates come in batches of about ``batch_size`` files, whole jobs at a time,
found by joining the in-flight rows (partial indexes ``contents_inflight_idx`` and
``contents_outpending_idx``) to the jobs table. Each batch is one transaction that locks its rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so a second worker takes other rows; SQLite serialises
writers) and changes them with UPDATEs guarded by the status and PandaID it read, so a re-run or a
concurrent worker never applies a job's result twice. The batch's task rows are locked next, in id
order, then the datasets' counters are updated in id order, so workers never wait in a cycle.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Sum

from apps.core.timeutil import utcnow
from apps.jedi.models import INPUT_TYPES, ContentStatus, DatasetContent, Task, TaskDataset
from apps.jedi.services.retry_module import retry_module_apply, retry_rules_index
from apps.jedi.services.transitions import StaleStatus, task_change_status
from apps.jedi.states import TaskStatus
from apps.jobs.models import FileType, Job, JobFile
from apps.jobs.states import ACTIVE_GROUP, DEFINED_GROUP, FINAL, JobStatus

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
DEFAULT_LIMIT = 20000

STARTED_JOB_STATES = (
    JobStatus.STARTING,
    JobStatus.RUNNING,
    JobStatus.HOLDING,
    JobStatus.TRANSFERRING,
    JobStatus.MERGING,
)
FINAL_JOB_STATES = tuple(sorted(FINAL))
LIVE_JOB_STATES = tuple(sorted(DEFINED_GROUP | ACTIVE_GROUP))
IN_FLIGHT = (ContentStatus.PICKED, ContentStatus.RUNNING)
OUTPUT_OPEN = (ContentStatus.DEFINED, ContentStatus.PICKED, ContentStatus.RUNNING)
UNPROCESSED = (ContentStatus.READY, ContentStatus.PICKED, ContentStatus.RUNNING)
PREPARABLE = (
    TaskStatus.READY,
    TaskStatus.SCOUTING,
    TaskStatus.SCOUTED,
    TaskStatus.RUNNING,
    TaskStatus.THROTTLED,
    TaskStatus.PENDING,
)


@dataclass
class FeedbackSummary:
    running: int = 0
    finished: int = 0
    retried: int = 0
    failed: int = 0
    outputs: int = 0
    retry_actions: int = 0
    prepared: int = 0
    tasks: set[int] = field(default_factory=set, repr=False)

    def __str__(self) -> str:
        return (
            f"feedback: running={self.running} finished={self.finished} retried={self.retried} "
            f"failed={self.failed} outputs={self.outputs} retry_actions={self.retry_actions} "
            f"prepared={self.prepared}"
        )


@dataclass
class _Delta:
    finished: int = 0
    failed: int = 0
    given_back: int = 0
    onhold: int = 0
    events: int = 0


def _locked(queryset: QuerySet) -> QuerySet:
    if connection.vendor == "postgresql":
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


def _locked_tasks(task_ids: set[int]) -> list[Task]:
    tasks = Task.objects.filter(jeditaskid__in=task_ids).order_by("jeditaskid")
    if connection.vendor == "postgresql":
        tasks = tasks.select_for_update(of=("self",))
    return list(tasks)


def _job_batches(candidates: QuerySet, field_name: str, *, batch_size: int, limit: int) -> Iterable[list[int]]:
    """PandaIDs of the candidate rows, about ``batch_size`` rows' worth at a time, in PandaID order."""
    after = 0
    seen = 0
    while seen < limit:
        ids = list(
            candidates.filter(**{f"{field_name}__gt": after})
            .order_by(field_name)
            .values_list(field_name, flat=True)[: min(batch_size, limit - seen)]
        )
        if not ids:
            return
        seen += len(ids)
        after = ids[-1]
        yield sorted(set(ids))


def _file_events(row: DatasetContent) -> int:
    if row.startevent is not None and row.endevent is not None:
        return row.endevent - row.startevent + 1
    return row.nevents or 0


def _apply_deltas(deltas: dict[int, _Delta]) -> None:
    now = utcnow()
    for datasetid in sorted(deltas):  # one order for every worker: no deadlocks on the dataset rows
        d = deltas[datasetid]
        TaskDataset.objects.filter(datasetid=datasetid).update(
            nfilesfinished=F("nfilesfinished") + d.finished,
            nfilesfailed=F("nfilesfailed") + d.failed,
            nfilesused=F("nfilesused") - d.given_back,
            nfilesonhold=F("nfilesonhold") + d.onhold,
            neventsused=F("neventsused") + d.events,
            modificationtime=now,
        )


def task_progress_update(task_ids: Iterable[int], *, made_progress: Iterable[int] = ()) -> None:
    """``progress``/``failurerate`` (per cent of master input files finished/failed) of the tasks;
    tasks in ``made_progress`` also lose their ``frozentime`` (the WatchDog's pending streak)."""
    progressed = set(made_progress)
    totals = (
        TaskDataset.objects.filter(task_id__in=list(task_ids), type__in=INPUT_TYPES, masterid__isnull=True)
        .values("task_id")
        .annotate(nfiles=Sum("nfiles"), finished=Sum("nfilesfinished"), failed=Sum("nfilesfailed"))
        .order_by("task_id")
    )
    for row in totals:
        nfiles = row["nfiles"] or 0
        changes = {
            "progress": min(100, (row["finished"] or 0) * 100 // nfiles) if nfiles else 0,
            "failurerate": min(100, (row["failed"] or 0) * 100 // nfiles) if nfiles else 0,
        }
        if row["task_id"] in progressed:
            changes["frozentime"] = None
        Task.objects.filter(jeditaskid=row["task_id"]).update(**changes)


# --- 1. picked -> running ------------------------------------------------------------------------


def contents_mark_running(*, batch_size: int = DEFAULT_BATCH_SIZE, limit: int = DEFAULT_LIMIT) -> int:
    """Input rows ``picked`` whose job has started become ``running``; answers how many."""
    started = Job.objects.filter(pandaid=OuterRef("pandaid"), jobstatus__in=STARTED_JOB_STATES)
    candidates = DatasetContent.objects.filter(status=ContentStatus.PICKED, type__in=INPUT_TYPES).filter(
        Exists(started)
    )
    moved = 0
    for pandaids in _job_batches(candidates, "pandaid", batch_size=batch_size, limit=limit):
        with transaction.atomic():
            rows = list(_locked(candidates.filter(pandaid__in=pandaids).order_by("fileid")).only("fileid", "dataset"))
            by_dataset: dict[int, list[int]] = defaultdict(list)
            for row in rows:
                by_dataset[row.dataset_id].append(row.fileid)
            deltas = {}
            for datasetid, fileids in by_dataset.items():
                n = DatasetContent.objects.filter(
                    fileid__in=fileids, status=ContentStatus.PICKED, pandaid__in=pandaids
                ).update(status=ContentStatus.RUNNING)
                deltas[datasetid] = _Delta(onhold=n)
                moved += n
            _apply_deltas(deltas)
    return moved


# --- 2. inputs of final jobs -----------------------------------------------------------------------


def _input_outcome(row: DatasetContent, jobstatus: str) -> tuple[str, int]:
    """(new status, failedattempt increment) for an input row whose job ended in ``jobstatus``."""
    if jobstatus == JobStatus.FINISHED:
        return ContentStatus.FINISHED, 0
    failed_inc = 1 if jobstatus == JobStatus.FAILED else 0
    attempt = row.attemptnr + 1
    failures = row.failedattempt + failed_inc
    retry = attempt < row.maxattempt and (row.maxfailure is None or failures < row.maxfailure)
    return (ContentStatus.READY if retry else ContentStatus.FAILED), failed_inc


def _feed_inputs(pandaids: list[int], *, rules, summary: FeedbackSummary) -> None:
    with transaction.atomic():
        in_flight = DatasetContent.objects.filter(pandaid__in=pandaids, status__in=IN_FLIGHT, type__in=INPUT_TYPES)
        rows = list(_locked(in_flight.order_by("fileid")))
        jobs = {
            job.pandaid: job
            for job in Job.objects.filter(pandaid__in={row.pandaid for row in rows}, jobstatus__in=FINAL_JOB_STATES)
        }
        rows = [row for row in rows if row.pandaid in jobs]
        if not rows:
            return
        # Task rows first, in one order: the retry module and the progress update write them after the
        # datasets' counters, and two workers must not wait on each other's rows the other way round.
        tasks = {task.jeditaskid: task for task in _locked_tasks({row.task_id for row in rows})}
        by_job: dict[int, list[DatasetContent]] = defaultdict(list)
        for row in rows:
            by_job[row.pandaid].append(row)

        for pandaid, job_rows in by_job.items():
            job = jobs[pandaid]
            if job.jobstatus != JobStatus.FAILED:
                continue
            fileids = [row.fileid for row in job_rows]
            actions = retry_module_apply(job, task=tasks[job_rows[0].task_id], fileids=fileids, rules=rules)
            if actions:
                summary.retry_actions += len(actions)
                fresh = DatasetContent.objects.in_bulk(fileids)
                for row in job_rows:
                    row.maxattempt = fresh[row.fileid].maxattempt
                    row.maxfailure = fresh[row.fileid].maxfailure

        groups: dict[tuple[int, str, str, int], list[DatasetContent]] = defaultdict(list)
        for row in rows:
            new, failed_inc = _input_outcome(row, jobs[row.pandaid].jobstatus)
            groups[(row.dataset_id, row.status, new, failed_inc)].append(row)

        deltas: dict[int, _Delta] = defaultdict(_Delta)
        finished_tasks: set[int] = set()
        for (datasetid, old, new, failed_inc), group in groups.items():
            guard = DatasetContent.objects.filter(
                fileid__in=[row.fileid for row in group], status=old, pandaid__in={row.pandaid for row in group}
            )
            if new == ContentStatus.FINISHED:
                n = guard.update(status=new)
            else:
                n = guard.update(
                    status=new, attemptnr=F("attemptnr") + 1, failedattempt=F("failedattempt") + failed_inc
                )
            if n != len(group):  # cannot happen while we hold the rows; count what changed
                log.warning("feedback: %s of %s rows of dataset %s changed", len(group) - n, len(group), datasetid)
            d = deltas[datasetid]
            if old == ContentStatus.RUNNING:
                d.onhold -= n
            if new == ContentStatus.FINISHED:
                d.finished += n
                d.events += sum(_file_events(row) for row in group) if n == len(group) else 0
                summary.finished += n
                finished_tasks.update(row.task_id for row in group)
            elif new == ContentStatus.FAILED:
                d.failed += n
                summary.failed += n
            else:
                d.given_back += n
                summary.retried += n
        _apply_deltas(deltas)
        touched = {row.task_id for row in rows}
        task_progress_update(touched, made_progress=finished_tasks)
        summary.tasks |= touched


# --- 3. outputs of final jobs ----------------------------------------------------------------------


def _registered_files(pandaids: Iterable[int]) -> tuple[dict[int, JobFile], dict[tuple[int, str], JobFile]]:
    by_fileid: dict[int, JobFile] = {}
    by_lfn: dict[tuple[int, str], JobFile] = {}
    for f in JobFile.objects.filter(job_id__in=list(pandaids), type__in=(FileType.OUTPUT, FileType.LOG)):
        if f.fileid:
            by_fileid[f.fileid] = f
        by_lfn[(f.job_id, f.lfn)] = f
    return by_fileid, by_lfn


def _feed_outputs(pandaids: list[int], *, summary: FeedbackSummary) -> None:
    with transaction.atomic():
        open_outputs = DatasetContent.objects.filter(outpandaid__in=pandaids, status__in=OUTPUT_OPEN).exclude(
            type__in=INPUT_TYPES
        )
        rows = list(_locked(open_outputs.order_by("fileid")))
        final_jobs = Job.objects.filter(pandaid__in={row.outpandaid for row in rows}, jobstatus__in=FINAL_JOB_STATES)
        jobstatus = dict(final_jobs.values_list("pandaid", "jobstatus"))
        rows = [row for row in rows if row.outpandaid in jobstatus]
        if not rows:
            return
        finished_jobs = [pandaid for pandaid, status in jobstatus.items() if status == JobStatus.FINISHED]
        by_fileid, by_lfn = _registered_files(finished_jobs)
        deltas: dict[int, _Delta] = defaultdict(_Delta)
        for row in rows:
            registered = by_fileid.get(row.fileid) or by_lfn.get((row.outpandaid, row.lfn))
            produced = registered is None or registered.status == "ready"
            ok = jobstatus[row.outpandaid] == JobStatus.FINISHED and produced
            row.status = ContentStatus.FINISHED if ok else ContentStatus.FAILED
            if ok and registered is not None:
                row.guid = registered.guid or row.guid
                row.fsize = registered.fsize or row.fsize
                row.checksum = registered.checksum or row.checksum
                row.nevents = registered.nevents if registered.nevents is not None else row.nevents
            if ok:
                deltas[row.dataset_id].finished += 1
            else:
                deltas[row.dataset_id].failed += 1
        n = open_outputs.bulk_update(rows, ["status", "guid", "fsize", "checksum", "nevents"])
        if n != len(rows):
            log.warning("feedback: %s of %s output rows changed meanwhile", len(rows) - n, len(rows))
        _apply_deltas(deltas)
        summary.outputs += n
        summary.tasks |= {row.task_id for row in rows}


# --- 4. prepared -------------------------------------------------------------------------------------


def task_check_prepared(task_id: int) -> bool:
    """Move a generating task whose input is all processed and whose jobs all ended to ``prepared``."""
    task = Task.objects.filter(jeditaskid=task_id, status__in=PREPARABLE).first()
    if task is None:
        return False
    masters = DatasetContent.objects.filter(
        task_id=task_id, dataset__type__in=INPUT_TYPES, dataset__masterid__isnull=True
    )
    if not masters.exists() or masters.filter(status__in=UNPROCESSED).exists():
        return False
    if Job.objects.filter(jeditaskid=task_id, jobstatus__in=LIVE_JOB_STATES).exists():
        return False
    try:
        task_change_status(task, new=TaskStatus.PREPARED, reason="all input files processed")
    except StaleStatus:
        return False
    return True


def feedback_run(*, batch_size: int = DEFAULT_BATCH_SIZE, limit: int = DEFAULT_LIMIT) -> FeedbackSummary:
    """One feedback pass over at most ``limit`` file rows of each kind."""
    summary = FeedbackSummary()
    summary.running = contents_mark_running(batch_size=batch_size, limit=limit)

    rules = retry_rules_index()
    final_input = Job.objects.filter(pandaid=OuterRef("pandaid"), jobstatus__in=FINAL_JOB_STATES)
    inputs = DatasetContent.objects.filter(status__in=IN_FLIGHT, type__in=INPUT_TYPES).filter(Exists(final_input))
    for pandaids in _job_batches(inputs, "pandaid", batch_size=batch_size, limit=limit):
        _feed_inputs(pandaids, rules=rules, summary=summary)

    final_output = Job.objects.filter(pandaid=OuterRef("outpandaid"), jobstatus__in=FINAL_JOB_STATES)
    outputs = (
        DatasetContent.objects.filter(status__in=OUTPUT_OPEN, outpandaid__isnull=False)
        .exclude(type__in=INPUT_TYPES)
        .filter(Exists(final_output))
    )
    for pandaids in _job_batches(outputs, "outpandaid", batch_size=batch_size, limit=limit):
        _feed_outputs(pandaids, summary=summary)

    for task_id in sorted(summary.tasks):
        summary.prepared += task_check_prepared(task_id)
    return summary
