"""The ContentsFeeder agent (jedi.md §2): one ``jedi_dataset_contents`` row per input file.

Claims ``defined`` tasks, and tasks in an active state with an input dataset in ``toupdate``, and
feeds their input datasets that are ``defined`` (never fed) or ``toupdate`` (new files wanted):

* ``input``: the files DDM lists for the dataset or container (``ddm().iter_files``, streamed a
  chunk at a time), filtered by the item's ``files`` / ``include`` / ``exclude``; for the master
  stream at most ``nFiles`` files and, with ``nEvents``, only as many files as it takes to reach
  that many events;
* ``pseudo_input`` of a ``pfnList`` task: one row per PFN (the LFN is the PFN);
* ``pseudo_input`` of a ``noInput`` task: one pseudo file per job — ``nFiles`` of them, or
  ``ceil(nEvents / nEventsPerJob)`` — carrying the job's event range (``startevent``, ``endevent``,
  ``firstevent`` from 1 + the ``firstEvent`` offset). Its LFN is its sequence number, ``1``, ``2``,
  ... in feeding order (upstream's pseudo file serial): the JobGenerator renders it as the job's
  ``${SEQNUMBER}``, and a retry of that pseudo file keeps its number.

Every row starts ``ready`` with ``maxattempt`` = the task's ``maxAttempt`` (3; 1 with
``disableAutoRetry``), ``maxfailure`` = ``maxFailure``, checksum ``ad:<adler32>``. Rows are
inserted in chunks of ``chunk_size`` (``COPY`` on PostgreSQL) with one short transaction each and
the lease renewed between chunks, so 100,000 files go in without a long transaction or a growing
buffer on this side (DDM's listing is streamed too). A dataset becomes ``ready`` with its counters
(``nfiles``, ``nfilestobeused``, ``nevents``) only after its last chunk; a dataset still
``defined`` when the agent comes back after a crash is emptied and fed again, a ``toupdate`` one
only gets the files it does not have yet. So running the agent twice never duplicates a row.

Then a ``defined`` task moves on: ``pending`` (reason in ``errordialog``) when an input dataset is
unknown to DDM or has no usable file; ``tobroken`` when the parameters or the data are unusable;
otherwise ``assigning`` for ``managed``/``test`` tasks with neither cloud nor nucleus (the
TaskBroker picks a nucleus), else ``ready``.
"""

import logging
import math
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice

from django.db import transaction
from django.db.models import Count, F, Q, Sum

from apps.core.timeutil import utcnow
from apps.ddm.interface import FileInfo, UnknownDataset, ddm
from apps.jedi.models import INPUT_TYPES, ContentStatus, DatasetContent, DatasetType, Task, TaskDataset, TaskParams
from apps.jedi.services.locks import task_lease_renew, task_release, tasks_claim
from apps.jedi.services.rows import insert_tuples, layout
from apps.jedi.services.transitions import StaleStatus, task_change_status
from apps.jedi.states import ACTIVE, TaskStatus
from apps.jedi.taskparams import (
    PSEUDO_DATASET,
    DatasetSpec,
    ParsedTask,
    TaskParamError,
    load_task_params,
    parse_task_params,
    pattern_regex,
)

log = logging.getLogger(__name__)

AGENT = "contents_feeder"
DEFAULT_BATCH_SIZE = 20
DEFAULT_CHUNK_SIZE = 5000
TO_FEED = ("defined", "toupdate")
# States in which a task may get new input files (toupdate datasets) without leaving its state.
UPDATABLE = (ACTIVE | {TaskStatus.ASSIGNING}) - {TaskStatus.DEFINED}
NEEDS_NUCLEUS = ("managed", "test")
LFN_MAX = 256
# The columns a fed row sets (the rest take their defaults): common ones, then the file's own.
_COMMON = ("task_id", "dataset_id", "type", "status", "maxattempt", "maxfailure", "creationdate")
_PER_FILE = ("lfn", "scope", "guid", "fsize", "checksum", "nevents", "startevent", "endevent", "firstevent")


class _Pending(Exception):
    """A temporary problem: the task waits in ``pending``."""


class _Broken(Exception):
    """The parameters or the data cannot work: the task goes to ``tobroken``."""


class _LeaseLost(Exception):
    pass


@dataclass
class FeederSummary:
    ready: int = 0
    assigning: int = 0
    pending: int = 0
    broken: int = 0
    updated: int = 0
    skipped: int = 0
    files: int = 0

    def __str__(self) -> str:
        return (
            f"contents_feeder: ready={self.ready} assigning={self.assigning} pending={self.pending} "
            f"tobroken={self.broken} updated={self.updated} skipped={self.skipped} files={self.files}"
        )


def contents_feeder_run(*, limit: int = DEFAULT_BATCH_SIZE, chunk_size: int = DEFAULT_CHUNK_SIZE) -> FeederSummary:
    """One cycle: feed up to ``limit`` defined tasks and up to ``limit`` tasks with toupdate inputs."""
    summary = FeederSummary()
    toupdate = TaskDataset.objects.filter(status="toupdate", type__in=INPUT_TYPES).values("task_id")
    claimed = tasks_claim(agent=AGENT, statuses=[TaskStatus.DEFINED], limit=limit)
    claimed += tasks_claim(agent=AGENT, statuses=UPDATABLE, limit=limit, extra=Q(jeditaskid__in=toupdate))
    for task in claimed:
        try:
            outcome, nfiles = task_feed_contents(task, chunk_size=chunk_size)
        finally:
            task_release(task, agent=AGENT)
        setattr(summary, outcome, getattr(summary, outcome) + 1)
        summary.files += nfiles
    return summary


def task_feed_contents(task: Task, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[str, int]:
    """Feed one task the caller holds; answers (outcome, number of rows inserted). The outcome is
    ``ready``, ``assigning``, ``pending``, ``broken`` (-> tobroken), ``updated`` (toupdate datasets
    of an active task) or ``skipped``."""
    feeder = _Feeder(task, chunk_size=chunk_size)
    defined = task.status == TaskStatus.DEFINED
    try:
        feeder.run()
    except _LeaseLost:
        log.warning("jediTaskID=%s: lease lost while feeding; the next cycle resumes", task.jeditaskid)
        return "skipped", feeder.inserted
    except _Pending as exc:
        if not defined:
            log.warning("jediTaskID=%s: %s", task.jeditaskid, exc)
            return "updated", feeder.inserted
        return _move(task, TaskStatus.PENDING, str(exc), "pending"), feeder.inserted
    except _Broken as exc:
        if not defined:
            log.warning("jediTaskID=%s: %s", task.jeditaskid, exc)
            return "updated", feeder.inserted
        return _move(task, TaskStatus.TOBROKEN, str(exc), "broken"), feeder.inserted
    if not defined:
        return "updated", feeder.inserted
    if task.prodsourcelabel in NEEDS_NUCLEUS and not task.cloud and not task.nucleus:
        return _move(task, TaskStatus.ASSIGNING, "contents fed; choosing a nucleus", "assigning"), feeder.inserted
    return _move(task, TaskStatus.READY, "contents fed", "ready"), feeder.inserted


def _move(task: Task, new: str, reason: str, outcome: str) -> str:
    try:
        task_change_status(task, new=new, reason=reason)
    except StaleStatus:
        return "skipped"
    return outcome


class _Feeder:
    def __init__(self, task: Task, *, chunk_size: int):
        self.task = task
        self.chunk_size = max(1, chunk_size)
        self.inserted = 0
        self.parsed: ParsedTask | None = None
        # Master-stream limits, shared by all master datasets of the task.
        self.files_left: int | None = None
        self.events_left: int | None = None

    def run(self) -> None:
        self.parsed = self._parse()
        datasets = list(
            TaskDataset.objects.filter(task=self.task, type__in=INPUT_TYPES, status__in=TO_FEED).order_by(
                "masterid", "datasetid"
            )
        )
        # Masters (no masterid) first: NULL sorts differently on SQLite and PostgreSQL.
        datasets.sort(key=lambda ds: (ds.masterid is not None, ds.datasetid))
        self._init_limits()
        specs = {(spec.type, spec.datasetname): spec for spec in self.parsed.inputs()}
        for dataset in datasets:
            spec = specs.get((dataset.type, dataset.datasetname))
            self._feed(dataset, spec)

    def _parse(self) -> ParsedTask:
        stored = TaskParams.objects.filter(task_id=self.task.jeditaskid).values_list("taskparams", flat=True).first()
        try:
            if stored is None:
                raise TaskParamError("the task has no stored parameters")
            return parse_task_params(load_task_params(stored))
        except TaskParamError as exc:
            raise _Broken(f"bad task parameters: {exc}") from None

    def _init_limits(self) -> None:
        rules = self.parsed.rules
        # Rows of master datasets already fed count against the limits (a toupdate feed adds to them).
        fed = (
            DatasetContent.objects.filter(
                task=self.task, dataset__type=DatasetType.INPUT, dataset__masterid__isnull=True
            )
            .exclude(dataset__status="defined")
            .aggregate(n=Count("fileid"), events=Sum("nevents"))
        )
        if rules.get("nFiles") and not self.parsed.no_input:
            self.files_left = rules["nFiles"] - (fed["n"] or 0)
        if rules.get("nEvents") and not self.parsed.no_input:
            self.events_left = rules["nEvents"] - (fed["events"] or 0)

    # -- one dataset ------------------------------------------------------------------------

    def _feed(self, dataset: TaskDataset, spec: DatasetSpec | None) -> None:
        full = dataset.status == "defined"
        if dataset.type == DatasetType.PSEUDO_INPUT:
            rows = self._pseudo_rows(dataset)
        else:
            rows = self._input_rows(dataset, spec, full=full)
        if full:
            # A feed interrupted before the dataset became ready left partial rows: start over.
            DatasetContent.objects.filter(dataset=dataset).delete()
        count, events = self._insert(dataset, rows)
        limited = self.files_left is not None and self.files_left <= 0
        limited |= self.events_left is not None and self.events_left <= 0
        if full and count == 0 and dataset.masterid is None and dataset.type == DatasetType.INPUT and not limited:
            raise _Pending(f"input dataset {dataset.datasetname} has no file to process")
        with transaction.atomic():
            updates = {"status": "ready", "modificationtime": utcnow()}
            if full:
                updates |= {"nfiles": count, "nfilestobeused": count, "nevents": events}
                TaskDataset.objects.filter(datasetid=dataset.datasetid).update(**updates)
            else:
                TaskDataset.objects.filter(datasetid=dataset.datasetid).update(
                    nfiles=F("nfiles") + count,
                    nfilestobeused=F("nfilestobeused") + count,
                    nevents=F("nevents") + events,
                    **updates,
                )

    def _input_rows(self, dataset: TaskDataset, spec: DatasetSpec | None, *, full: bool) -> Iterator[dict]:
        # Streamed from DDM a chunk at a time; the first file is read here so that an unknown
        # dataset is told apart from a failure later on.
        listing = ddm().iter_files(dataset.datasetname, chunk=self.chunk_size)
        try:
            first = next(listing, None)
        except UnknownDataset:
            raise _Pending(f"input dataset {dataset.datasetname} is unknown to DDM") from None
        files: Iterable[FileInfo] = chain([first], listing) if first is not None else ()
        known: set[tuple[str, str]] = set()
        if not full:
            known = set(DatasetContent.objects.filter(dataset=dataset).values_list("scope", "lfn").iterator())
        wanted = set(spec.files) if spec and spec.files else None
        include = [re.compile(pattern_regex(p)) for p in spec.include] if spec else []
        exclude = [re.compile(pattern_regex(p)) for p in spec.exclude] if spec else []
        is_master = dataset.masterid is None
        per_file_events = self.parsed.rule("nEventsPerInputFile")
        for info in files:
            if (info.scope, info.lfn) in known:
                continue
            if wanted is not None and info.lfn not in wanted:
                continue
            if include and not any(p.search(info.lfn) for p in include):
                continue
            if exclude and any(p.search(info.lfn) for p in exclude):
                continue
            if len(info.lfn) > LFN_MAX:
                raise _Broken(f"input file {info.lfn[:80]}... has a name longer than {LFN_MAX} characters")
            nevents = info.nevents if info.nevents is not None else per_file_events
            if is_master and not self._take(nevents):
                return
            yield {
                "lfn": info.lfn,
                "scope": info.scope,
                "guid": info.guid or None,
                "fsize": info.fsize,
                "checksum": f"ad:{info.adler32}" if info.adler32 else None,
                "nevents": nevents,
            }

    def _take(self, nevents: int | None) -> bool:
        """Whether the master may take one more file (nFiles / nEvents limits)."""
        if self.files_left is not None:
            if self.files_left <= 0:
                return False
            self.files_left -= 1
        if self.events_left is not None:
            if self.events_left <= 0:
                return False
            self.events_left -= nevents or 0
        return True

    def _pseudo_rows(self, dataset: TaskDataset) -> Iterator[dict]:
        parsed = self.parsed
        if parsed.pfn_list:
            for pfn in parsed.pfn_list:
                yield {"lfn": pfn, "guid": str(uuid.uuid4()).upper()}
            return
        if dataset.datasetname != PSEUDO_DATASET or not parsed.no_input:
            raise _Broken(f"pseudo input {dataset.datasetname} without noInput or pfnList")
        per_job = parsed.rule("nEventsPerJob")
        total = parsed.rule("nEvents")
        if parsed.rule("nFiles"):
            njobs = parsed.rule("nFiles")
            total = njobs * per_job if per_job else None
        elif total and per_job:
            njobs = math.ceil(total / per_job)
        else:
            njobs = 1
        first = 1 + (parsed.rule("firstEvent") or 0)
        for i in range(njobs):
            if per_job:
                start = i * per_job
                nevents = min(per_job, total - start) if total else per_job
            else:
                start, nevents = 0, total
            row = {"lfn": str(i + 1), "nevents": nevents}
            if nevents:
                row |= {"startevent": start, "endevent": start + nevents - 1, "firstevent": first + start}
            yield row

    def _insert(self, dataset: TaskDataset, rows: Iterator[dict]) -> tuple[int, int]:
        """Insert ``rows`` ``chunk_size`` at a time (``COPY`` on PostgreSQL), one short transaction
        each, renewing the lease between chunks; answers (rows, events)."""
        parsed = self.parsed
        table = layout(DatasetContent, _COMMON + _PER_FILE)
        count = events = 0
        while True:
            chunk = list(islice(rows, self.chunk_size))
            if not chunk:
                return count, events
            common = (
                self.task.jeditaskid,
                dataset.datasetid,
                dataset.type,
                ContentStatus.READY,
                parsed.max_attempt,
                parsed.max_failure,
                utcnow(),
            )
            with transaction.atomic():
                insert_tuples(table, [(*common, *(row.get(name) for name in _PER_FILE)) for row in chunk])
            count += len(chunk)
            events += sum(row.get("nevents") or 0 for row in chunk)
            self.inserted += len(chunk)
            if not task_lease_renew(self.task, agent=AGENT):
                raise _LeaseLost()
