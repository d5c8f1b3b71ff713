"""Turn split chunks into PanDA jobs and store them (jedi.md §4, §5): one bunch of ≤ 500 per transaction.

:class:`JobBuilder` holds what is constant for a task (the task row, its templates, datasets and
resource figures) and :meth:`JobBuilder.store` writes one bunch: the ``Job`` rows in ``pending``
with their status-log rows, the input/output/log ``JobFile`` rows, ``JobParameters``, the output
``DatasetContent`` rows (``outpandaid``), the retry-history links, and the input rows'
conditional ``ready -> picked`` with their new PandaID. Everything of a bunch commits together,
so a crash leaves either the whole bunch or nothing; if another worker picked one of the input
rows meanwhile the bunch is rolled back (:class:`FilesTaken`) and nothing is generated twice.

PandaIDs: on PostgreSQL they are drawn from the table's sequence before the insert, so the job
name ``<taskName>.<originPandaID>`` is written with the row; on SQLite the rows are inserted first
and the names set by one UPDATE.
"""

import random
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat

from apps.core.timeutil import utcnow
from apps.core.transitions import check_transition
from apps.jedi.models import DatasetContent, DatasetType, JobRetryHistory, OutputTemplate, Task, TaskDataset
from apps.jedi.placeholders import JobContext, compile_template, render_output_lfn
from apps.jedi.services.rows import insert_tuples, layout, next_ids_of
from apps.jedi.splitter import Chunk
from apps.jobs.models import FileType, Job, JobFile, JobParameters, JobStatusLog
from apps.jobs.services.submit import extract_scope
from apps.jobs.states import TRANSITIONS as JOB_TRANSITIONS
from apps.jobs.states import JobStatus
from apps.jobs.tasks import run_setupper
from apps.sites.models import PandaQueue
from apps.sites.selectors.resource_types import resource_type_classifier

BUNCH_SIZE = 500
SCOUT_PRIORITY = 901
MERGE_PRIORITY = 5000
_HOST = socket.gethostname()[:128]
_VALUES_CHUNK = 900

# Job rows are tuples (apps.jedi.services.rows): the values that vary per job, then those that are
# the same for every job of a task on one queue (JobBuilder._job_base).
_JOB_VARYING = (
    "pandaid",
    "jobname",
    "jobsetid",
    "attemptnr",
    "maxattempt",
    "minramcount",
    "maxdiskcount",
    "maxwalltime",
    "resource_type",
    "proddblock",
    "ninputfiles",
    "ninputdatafiles",
    "inputfilebytes",
    "creationtime",
    "modificationtime",
    "statechangetime",
)
_JOB_CONSTANT = (
    "jobdefinitionid",
    "jobexecutionid",
    "creationhost",
    "modificationhost",
    "jobstatus",
    "jeditaskid",
    "taskid",
    "reqid",
    "transformation",
    "homepackage",
    "atlasrelease",
    "cmtconfig",
    "container_name",
    "prodsourcelabel",
    "prodserieslabel",
    "processingtype",
    "workinggroup",
    "countrygroup",
    "vo",
    "cloud",
    "nucleus",
    "gshare",
    "workqueue_id",
    "job_label",
    "computingsite",
    "corecount",
    "minramunit",
    "maxdiskunit",
    "maxcpucount",
    "maxcpuunit",
    "hs06",
    "diskio",
    "ipconnectivity",
    "assignedpriority",
    "currentpriority",
    "lockedby",
    "relocationflag",
    "specialhandling",
    "eventservice",
    "produsername",
    "produserid",
    "destinationdblock",
)
_JOB_COLUMNS = _JOB_VARYING + _JOB_CONSTANT
_JOB_ATTEMPT = _JOB_COLUMNS.index("attemptnr")
_JOB_SITE = _JOB_COLUMNS.index("computingsite")
_JOB_LABEL = _JOB_COLUMNS.index("prodsourcelabel")
_LOG_COLUMNS = ("pandaid", "modificationtime", "oldstatus", "jobstatus", "computingsite", "prodsourcelabel", "reason")
_FILE_COLUMNS = (
    "job_id",
    "type",
    "lfn",
    "scope",
    "guid",
    "fsize",
    "checksum",
    "dataset",
    "proddblock",
    "destinationdblock",
    "destinationdblocktoken",
    "destinationse",
    "status",
    "jeditaskid",
    "datasetid",
    "fileid",
    "attemptnr",
    "modificationtime",
)
_FILE_FILEID = _FILE_COLUMNS.index("fileid")
_OUTPUT_CONTENT_COLUMNS = (
    "fileid",
    "task_id",
    "dataset_id",
    "lfn",
    "type",
    "status",
    "scope",
    "outpandaid",
    "attemptnr",
    "creationdate",
)


class FilesTaken(Exception):
    """Some input rows of the bunch were no longer ``ready``: another generator took them."""


@dataclass
class JobSpecDraft:
    """One job about to be stored: the chunk, where it runs and how it is flagged."""

    chunk: Chunk
    site: str
    scout: bool = False
    merge: bool = False
    # merge jobs: stream name -> pre-merged rows, and the final output LFNs they produce
    merge_inputs: dict[str, list[DatasetContent]] = field(default_factory=dict)


@dataclass(frozen=True)
class _OutputStream:
    """Where the files of one output template go for one queue, resolved once per builder."""

    dataset: TaskDataset
    site: str
    content_type: str
    file_type: str
    scope: str | None
    file_scope: str | None


@dataclass
class StoredBunch:
    pandaids: list[int]
    n_files: int


def homepackage(transhome: str | None) -> str | None:
    """jedi.md §3: the first ``-<digit>.`` of ``transHome`` becomes ``/<digit>.``."""
    if not transhome:
        return transhome
    return re.sub(r"-(\d+\.)", r"/\1", transhome, count=1).replace("\r", "")


def ram_for_job(task: Task, *, corecount: int, file_ramcount: int | None) -> int:
    """``minRamCount`` (MB): the file's raised ``ramcount`` wins over the task's; per-core units scale."""
    ram = max(task.ramcount or 0, file_ramcount or 0)
    unit = (task.ramunit or "MBPerCore").lower()
    if unit.startswith("mbpercore"):
        ram = ram * max(corecount, 1)
    return ram + (task.baseramcount or 0)


def job_corecount(task: Task, queue: PandaQueue | None) -> int:
    """jedi.md §4: 1 for single-core tasks; else the queue's ``corecount``, or the task's own on a
    dynamic (-1) queue. A task with ``coreCount`` 0 allows any: it takes the chosen queue's count
    (1 where the queue gives none: 0, null or -1)."""
    task_cores = task.corecount if task.corecount is not None else 1
    queue_cores = queue.corecount if queue is not None else 1
    if task_cores == 1 or queue_cores in (None, 0):
        return 1
    if queue_cores == -1:
        return task_cores or 1
    return queue_cores


def _mb(value: float | None, unit: str | None, *, default_unit: str) -> float:
    if not value:
        return 0.0
    unit = (unit or default_unit).lower()
    if unit.startswith("kb"):
        return value / 1024
    if unit.startswith("gb"):
        return value * 1024
    return float(value)


class JobBuilder:
    """Builds and stores jobs of one task; see the module docstring."""

    def __init__(
        self,
        task: Task,
        *,
        template: str,
        rules: dict,
        queues: dict[str, PandaQueue],
        merge_spec: dict | None = None,
        rng: random.Random | None = None,
    ):
        self.task = task
        self.rules = rules
        self.queues = queues
        self.merge_spec = merge_spec or {}
        self.template = compile_template(template) if template else None
        self.rng = rng or random.Random()
        self.classify = resource_type_classifier()
        datasets = list(TaskDataset.objects.filter(task=task))
        self.datasets = {ds.datasetid: ds for ds in datasets}
        templates = list(OutputTemplate.objects.filter(task=task).select_related("dataset").order_by("outtempid"))
        self.merge_output = bool(rules.get("mergeOutput"))
        # With mergeOutput the jobs write pre-merged files (tmpl_* templates); merge jobs the final ones.
        self.final_templates = [t for t in templates if t.dataset.type in (DatasetType.OUTPUT, DatasetType.LOG)]
        premerge = [t for t in templates if t.dataset.type in (DatasetType.TMPL_OUTPUT, DatasetType.TMPL_LOG)]
        self.job_templates = premerge if self.merge_output and premerge else self.final_templates
        self._scopes: dict[str, str] = {}
        # (template, queue) -> the dataset that stream's files go to
        self._instances: dict[tuple[int, str], TaskDataset] = {}
        # original fileid -> the row now holding the unused rest of a file cut by nEventsPerJob
        self._split_holders: dict[int, DatasetContent] = {}
        self.is_analysis = task.tasktype == "anal" or task.prodsourcelabel in ("user", "panda")
        self._job_bases: dict[tuple[str, bool, bool], tuple[tuple, int, PandaQueue | None]] = {}
        self._streams: dict[tuple[int, str], _OutputStream] = {}
        self._resource_types: dict[tuple[int, int], str] = {}
        self._outdisk_mb_per_event = _mb(task.outdiskcount, task.outdiskunit, default_unit="kB")
        self._workdisk_mb = _mb(task.workdiskcount, task.workdiskunit, default_unit="MB")

    def dataset(self, datasetid: int) -> TaskDataset:
        if datasetid not in self.datasets:
            self.datasets[datasetid] = TaskDataset.objects.get(pk=datasetid)
        return self.datasets[datasetid]

    # -- per-job values ----------------------------------------------------------------------

    def _special_handling(self, draft: JobSpecDraft) -> str:
        rules = self.rules
        tags = []
        if draft.scout:
            tags.append("sj")
        if draft.merge:
            tags.append("pm")
        for rule, tag in (
            ("debugMode", "dm"),
            ("noLoopingCheck", "lc"),
            ("useSecrets", "us"),
            ("encJobParams", "ej"),
            ("writeInputToFile", "wf"),
            ("inputPreStaging", "ip"),
        ):
            if rules.get(rule):
                tags.append(tag)
        return ",".join(tags)

    def _priority(self, draft: JobSpecDraft) -> int:
        if draft.merge:
            return MERGE_PRIORITY
        if draft.scout:
            return max(SCOUT_PRIORITY, self.task.currentpriority + 1)
        return self.task.currentpriority

    def _walltime(self, nevents: int, corecount: int, queue: PandaQueue | None) -> int | None:
        task = self.task
        if task.cputime and nevents:
            corepower = float((queue.document or {}).get("corepower") or 10) if queue is not None else 10.0
            efficiency = (task.cpuefficiency or 100) / 100
            return int(task.cputime * nevents / (max(corecount, 1) * corepower * efficiency)) + (task.basewalltime or 0)
        return task.walltime

    def _job_base(self, draft: JobSpecDraft, templates: list[OutputTemplate]) -> tuple[tuple, int, PandaQueue | None]:
        """The values of :data:`_JOB_CONSTANT` for a (queue, scout, merge) kind of job, built once."""
        key = (draft.site, draft.scout, draft.merge)
        cached = self._job_bases.get(key)
        if cached is not None:
            return cached
        task = self.task
        queue = self.queues.get(draft.site)
        corecount = 1 if draft.merge else job_corecount(task, queue)
        priority = self._priority(draft)
        corepower = float((queue.document or {}).get("corepower") or 0) if queue is not None else 0
        outputs = [t for t in templates if t.outtype != "log"] or templates
        values = {
            "jobdefinitionid": 0,
            "jobexecutionid": 0,
            "creationhost": _HOST,
            "modificationhost": _HOST,
            # Stored as pending and handed over in the same transaction: see jobs_hand_over.
            "jobstatus": JobStatus.DEFINED,
            "jeditaskid": task.jeditaskid,
            "taskid": task.jeditaskid,
            "reqid": task.reqid,
            "transformation": self.merge_spec.get("transPath") if draft.merge else task.transpath,
            "homepackage": homepackage(task.transhome),
            "atlasrelease": task.transuses,
            "cmtconfig": task.architecture,
            "container_name": task.container_name,
            "prodsourcelabel": task.prodsourcelabel,
            "prodserieslabel": "pandatest",
            "processingtype": "pmerge" if draft.merge else task.processingtype,
            "workinggroup": (task.workinggroup or None) and task.workinggroup[:20],
            "countrygroup": task.countrygroup,
            "vo": task.vo,
            "cloud": task.cloud,
            "nucleus": task.nucleus,
            "gshare": task.gshare,
            "workqueue_id": task.workqueue_id,
            "job_label": "user" if task.tasktype == "anal" else "managed",
            "computingsite": draft.site,
            "corecount": corecount,
            "minramunit": "MB",
            "maxdiskunit": "MB",
            "maxcpucount": task.walltime or 0,
            "maxcpuunit": task.walltimeunit,
            "hs06": int(corecount * corepower) if corepower else None,
            "diskio": task.diskio,
            "ipconnectivity": "yes",
            "assignedpriority": priority,
            "currentpriority": priority,
            "lockedby": "jedi",
            "relocationflag": 2 if self.rules.get("disableReassign") else 1,
            "specialhandling": self._special_handling(draft) or None,
            "eventservice": 0,
            "produsername": task.username[:60],
            "produserid": (task.userdn or task.username)[:250],
            "destinationdblock": self._output_dataset(outputs[0], draft.site).datasetname if outputs else None,
        }
        self._job_bases[key] = cached = (tuple(values[name] for name in _JOB_CONSTANT), corecount, queue)
        return cached

    def _job(self, draft: JobSpecDraft, now, templates: list[OutputTemplate]) -> list:
        """The :data:`_JOB_VARYING` values of one job (``pandaid`` and ``jobname`` set at insert),
        followed by its constant values."""
        task = self.task
        base, corecount, queue = self._job_base(draft, templates)
        chunk = draft.chunk
        rows = [piece.row for piece in chunk.pieces]
        ram = ram_for_job(task, corecount=corecount, file_ramcount=max((r.ramcount or 0 for r in rows), default=0))
        size = chunk.size
        nevents = chunk.nevents
        disk = size / (1024 * 1024) + self._outdisk_mb_per_event * nevents + self._workdisk_mb
        attempt = max((r.attemptnr or 0 for r in rows), default=0) + 1
        kind = (corecount, ram)
        resource_type = self._resource_types.get(kind)
        if resource_type is None:
            resource_type = self._resource_types[kind] = self.classify(corecount=corecount, minramcount=ram)
        proddblock = None
        if rows:
            master = self.dataset(rows[0].dataset_id)
            proddblock = master.containername or master.datasetname
        return [
            None,
            None,
            None if self.is_analysis else task.reqid,
            attempt,
            attempt,
            ram,
            int(disk),
            self._walltime(nevents, corecount, queue),
            resource_type,
            proddblock,
            len(rows),
            len(rows),
            size,
            now,
            now,
            now,
            *base,
        ]

    # -- outputs -----------------------------------------------------------------------------

    def _output_dataset(self, template: OutputTemplate, site: str) -> TaskDataset:
        """Where a job's file of this stream goes: the template's dataset, or for a ``tmpl_output`` /
        ``tmpl_log`` template (``mergeOutput``) the queue's own pre-merge dataset, made on first use
        (same type, ``templateid`` = the template dataset, ``site`` = the queue)."""
        key = (template.pk, site)
        cached = self._instances.get(key)
        if cached is not None:
            return cached
        dataset = template.dataset
        if dataset.type not in (DatasetType.TMPL_OUTPUT, DatasetType.TMPL_LOG):
            self._instances[key] = dataset
        else:
            self._instances[key], _ = TaskDataset.objects.get_or_create(
                task=self.task,
                type=dataset.type,
                templateid=dataset.datasetid,
                site=site,
                defaults={
                    "datasetname": f"{dataset.datasetname.rstrip('/')}.{site}"[:255],
                    "streamname": dataset.streamname,
                    "status": "defined",
                    "vo": dataset.vo,
                    "storagetoken": dataset.storagetoken,
                },
            )
        return self._instances[key]

    def _reserve_serials(self, templates: list[OutputTemplate], n: int) -> dict[int, int]:
        """``${SN}``: for every output template, ``n`` consecutive serial numbers: one
        ``UPDATE ... RETURNING`` each, which holds the template's row lock until the bunch commits,
        so two generators never get the same numbers."""
        first: dict[int, int] = {}
        table = connection.ops.quote_name(OutputTemplate._meta.db_table)
        with connection.cursor() as cursor:
            for template in templates:
                cursor.execute(
                    f"UPDATE {table} SET serialnr = serialnr + %s WHERE outtempid = %s RETURNING serialnr",
                    [n, template.pk],
                )
                row = cursor.fetchone()
                if row is None:
                    raise OutputTemplate.DoesNotExist(f"output template {template.pk} is gone")
                first[template.pk] = row[0] - n
        return first

    # -- the bunch ---------------------------------------------------------------------------

    def store(self, drafts: Sequence[JobSpecDraft]) -> StoredBunch:
        """Store one bunch (≤ BUNCH_SIZE jobs) in one transaction; raises FilesTaken (rolled back)."""
        if not drafts:
            return StoredBunch([], 0)
        check_transition("job", JOB_TRANSITIONS, JobStatus.PENDING, JobStatus.DEFINED)
        now = utcnow()
        templates = self.final_templates if drafts[0].merge else self.job_templates
        postgres = connection.vendor == "postgresql"
        with transaction.atomic():
            serials = self._reserve_serials(templates, len(drafts))
            jobs = [self._job(draft, now, templates) for draft in drafts]
            previous, origins = self._previous_jobs(drafts)
            # PostgreSQL: the PandaIDs and the output rows' ids in one round trip (COPY returns none);
            # elsewhere they come back from the inserts.
            n_outputs = len(drafts) * len(templates)
            ids = next_ids_of({Job: len(jobs), DatasetContent: n_outputs}) if postgres else {}
            pandaids = self._insert_jobs(jobs, origins, ids.get(Job))
            log_rows = []
            for job in jobs:
                pandaid, site, label = job[0], job[_JOB_SITE], job[_JOB_LABEL]
                log_rows.append((pandaid, now, None, JobStatus.PENDING, site, label, "generated by JEDI"))
                log_rows.append((pandaid, now, JobStatus.PENDING, JobStatus.DEFINED, site, label, "JEDI reassign"))
            insert_tuples(layout(JobStatusLog, _LOG_COLUMNS), log_rows)
            files: list[list] = []
            outputs: list[tuple] = []
            params: list[tuple[int, str]] = []
            picks: list[tuple[int, int, int]] = []
            links: list[tuple[int, int]] = []
            splits: list[tuple] = []
            history = [
                JobRetryHistory(
                    jeditaskid=self.task.jeditaskid,
                    oldpandaid=old,
                    newpandaid=pandaid,
                    originpandaid=origin,
                    relationtype="retry",
                )
                for pandaid, old, origin in zip(pandaids, previous, origins, strict=True)
                if old
            ]
            for index, (draft, job) in enumerate(zip(drafts, jobs, strict=True)):
                pandaid = job[0]
                streams, stream_datasets = self._input_files(draft, pandaid, now, files, picks, links, splits)
                lfns = self._output_files(draft, pandaid, templates, serials, index, outputs)
                serial = serials[templates[0].pk] + index if templates else None
                text = self._parameters(draft, job[_JOB_ATTEMPT], streams, stream_datasets, lfns, serial)
                params.append((pandaid, text))
            n_new_rows = self._split_rows(splits, picks)
            fileids = ids[DatasetContent] if postgres else [None] * len(outputs)
            tid = self.task.jeditaskid
            inserted = insert_tuples(
                layout(DatasetContent, _OUTPUT_CONTENT_COLUMNS),
                [
                    (fileid, tid, out.dataset.datasetid, lfn, out.content_type, "defined", out.scope, pandaid, 0, now)
                    for fileid, (pandaid, out, lfn) in zip(fileids, outputs, strict=True)
                ],
            )
            if not postgres:
                fileids = inserted
            for fileid, (pandaid, out, lfn) in zip(fileids, outputs, strict=True):
                files.append(
                    (
                        pandaid,
                        out.file_type,
                        lfn,
                        out.file_scope,
                        None,
                        0,
                        None,
                        out.dataset.datasetname,
                        None,
                        out.dataset.datasetname,
                        out.dataset.storagetoken,
                        out.site,
                        "unknown",
                        tid,
                        out.dataset.datasetid,
                        fileid,
                        0,
                        now,
                    )
                )
            insert_tuples(layout(JobFile, _FILE_COLUMNS), files)
            insert_tuples(layout(JobParameters, ("job_id", "jobparameters")), params)
            if history:
                JobRetryHistory.objects.bulk_create(history, ignore_conflicts=True)
            taken = _pick([(fileid, pandaid) for fileid, pandaid, _ in picks])
            if taken != len(picks):
                raise FilesTaken(f"{len(picks) - taken} input rows of the bunch were no longer ready")
            if links and _link(links) != len(links):
                raise FilesTaken("pre-merged files of the bunch were already merged")
            self._count(picks, outputs)
        return StoredBunch(pandaids, len(picks) + n_new_rows + len(links))

    def _insert_jobs(self, jobs: list[list], origins: list[int | None], pandaids: list[int] | None) -> list[int]:
        """Insert the job rows with ``pandaids`` (PostgreSQL) or ids from the insert; answers the
        PandaIDs. Names ``<taskName>.<originPandaID>``."""
        prefix = f"{self.task.taskname}."
        if pandaids is not None:
            for job, pandaid, origin in zip(jobs, pandaids, origins, strict=True):
                job[0] = pandaid
                job[1] = f"{prefix}{origin or pandaid}"[:256]
                if self.is_analysis:
                    job[2] = pandaids[0]
            insert_tuples(layout(Job, _JOB_COLUMNS), jobs)
            return pandaids
        for job in jobs:
            job[1] = f"{prefix}$ORIGINPANDAID"[:256]
        pandaids = insert_tuples(layout(Job, _JOB_COLUMNS), jobs)
        for job, pandaid in zip(jobs, pandaids, strict=True):
            job[0] = pandaid
        self._name_jobs(jobs, origins)
        return pandaids

    def _previous_jobs(self, drafts: Sequence[JobSpecDraft]) -> tuple[list[int | None], list[int | None]]:
        """Retries: per job the previous PandaID of its inputs and the origin of that retry chain."""
        previous = [next((r.pandaid for r in draft.chunk.rows if r.pandaid), None) for draft in drafts]
        olds = {pid for pid in previous if pid}
        chain = (
            dict(JobRetryHistory.objects.filter(newpandaid__in=olds).values_list("newpandaid", "originpandaid"))
            if olds
            else {}
        )
        return previous, [chain.get(old, old) if old else None for old in previous]

    def _name_jobs(self, jobs: list[list], origins: list[int | None]) -> None:
        """SQLite: ``<taskName>.<PandaID>`` set by one UPDATE once the rows have their ids."""
        ids = [job[0] for job in jobs]
        prefix = f"{self.task.taskname}."
        values = {"jobname": Concat(Value(prefix), Cast(F("pandaid"), CharField()))}
        if self.is_analysis:
            values["jobsetid"] = Value(ids[0])
        Job.objects.filter(pandaid__in=ids).update(**values)
        for job, origin in zip(jobs, origins, strict=True):
            job[1] = f"{prefix}{origin or job[0]}"
            if self.is_analysis:
                job[2] = ids[0]
            if origin:
                Job.objects.filter(pandaid=job[0]).update(jobname=job[1])

    def _input_files(self, draft, pandaid, now, files, picks, links, splits) -> tuple[dict, dict]:
        streams: dict[str, list[str]] = {}
        stream_datasets: dict[str, str] = {}
        entries = [(piece.row, piece) for piece in draft.chunk.pieces]
        for rows in draft.chunk.secondaries.values():
            entries.extend((row, None) for row in rows)
        tid = self.task.jeditaskid
        for row, piece in entries:
            dataset = self.dataset(row.dataset_id)
            name = dataset.streamname or "IN"
            lfns = streams.get(name)
            if lfns is None:
                lfns = streams[name] = []
                stream_datasets[name] = dataset.containername or dataset.datasetname
            lfns.append(row.lfn)
            pseudo = dataset.type == DatasetType.PSEUDO_INPUT
            file_row = [
                pandaid,
                FileType.PSEUDO_INPUT if pseudo else FileType.INPUT,
                row.lfn,
                row.scope,
                row.guid,
                row.fsize or 0,
                row.checksum,
                dataset.datasetname,
                dataset.datasetname,
                None,
                None,
                None,
                "unknown",
                tid,
                row.dataset_id,
                row.fileid,
                row.attemptnr or 0,
                now,
            ]
            files.append(file_row)
            if draft.merge:
                links.append((row.fileid, pandaid))
            elif piece is not None and (piece.partial or row.fileid in self._split_holders):
                splits.append((row, piece.first, piece.last, pandaid, file_row))
            elif piece is not None or self._consumed(row):
                picks.append((row.fileid, pandaid, row.dataset_id))
        return streams, stream_datasets

    def _consumed(self, row) -> bool:
        """Secondary rows shared by many jobs (repeat/nosplit) stay ready; consumed ones are picked."""
        attributes = {a.strip() for a in (self.dataset(row.dataset_id).attributes or "").split(",")}
        return not attributes & {"repeat", "nosplit"}

    def _split_rows(self, splits, picks) -> int:
        """``nEventsPerJob`` cut a row: each job gets a row of its own for its range (jedi.md §6).

        The first range of a row keeps the row (its ``endevent`` shrinks and it is picked like any
        other); the rest of the file becomes a new ``ready`` row at once, which the next range of
        the file takes over (directly ``picked``, as this generator made it). So the unused rest
        survives as ``ready`` when generation stops mid-file. Answers how many such new rows were
        picked in this bunch.
        """
        new_picked = 0
        new_rows: dict[int, int] = {}
        used_rows: dict[int, int] = {}
        for row, first, last, pandaid, jobfile in splits:
            holder = self._split_holders.get(row.fileid, row)
            start, end = _row_bounds(holder)
            if first != start:
                raise ValueError(f"event range {first}-{last} of {row.lfn} does not start its row ({start})")
            if holder is row:
                DatasetContent.objects.filter(pk=row.fileid).update(startevent=first, endevent=last)
                picks.append((row.fileid, pandaid, row.dataset_id))
            else:
                DatasetContent.objects.filter(pk=holder.pk, status="ready").update(
                    startevent=first, endevent=last, status="picked", pandaid=pandaid
                )
                jobfile[_FILE_FILEID] = holder.pk
                new_picked += 1
                used_rows[row.dataset_id] = used_rows.get(row.dataset_id, 0) + 1
            holder.startevent, holder.endevent = first, last
            if last < end:
                rest = _clone(row, startevent=last + 1, endevent=end)
                rest.save(force_insert=True)
                self._split_holders[row.fileid] = rest
                new_rows[row.dataset_id] = new_rows.get(row.dataset_id, 0) + 1
            else:
                self._split_holders.pop(row.fileid, None)
        for dataset_id, n in new_rows.items():
            TaskDataset.objects.filter(pk=dataset_id).update(
                nfiles=F("nfiles") + n, nfilestobeused=F("nfilestobeused") + n
            )
        for dataset_id, n in used_rows.items():
            TaskDataset.objects.filter(pk=dataset_id).update(nfilesused=F("nfilesused") + n)
        return new_picked

    def _output_stream(self, template: OutputTemplate, site: str) -> "_OutputStream":
        key = (template.pk, site)
        stream = self._streams.get(key)
        if stream is None:
            dataset = self._output_dataset(template, site)
            is_log = template.outtype == "log" or template.streamname.startswith("LOG")
            scope = self._scopes.get(dataset.datasetname)
            if scope is None:
                scope = self._scopes[dataset.datasetname] = extract_scope(dataset.datasetname) or ""
            scope = scope or None
            stream = self._streams[key] = _OutputStream(
                dataset=dataset,
                site=site,
                content_type="log" if is_log else "output",
                file_type=FileType.LOG if is_log else FileType.OUTPUT,
                scope=scope,
                file_scope=scope if scope and len(scope) <= 30 else None,
            )
        return stream

    def _output_files(self, draft, pandaid, templates, serials, index, outputs) -> dict[str, str]:
        """The job's output/log LFNs by stream; ``(pandaid, stream, lfn)`` appended to ``outputs``."""
        lfns: dict[str, str] = {}
        tid = self.task.jeditaskid
        for template in templates:
            stream = self._output_stream(template, draft.site)
            lfn = render_output_lfn(template.filenametemplate, serial=serials[template.pk] + index, task_id=tid)
            lfns[template.streamname] = lfn
            outputs.append((pandaid, stream, lfn))
        return lfns

    def _parameters(self, draft, attempt, streams, stream_datasets, lfns, serial) -> str:
        template = compile_template(self.merge_spec.get("jobParameters", "")) if draft.merge else self.template
        if template is None:
            return ""
        chunk = draft.chunk
        first = chunk.pieces[0] if chunk.pieces else None
        extra = {}
        if draft.merge:
            for name, rows in draft.merge_inputs.items():
                extra[f"TRN_{name}"] = ",".join(sorted(row.lfn for row in rows))
            streams = {}
        ranged = first is not None and first.first is not None
        firstevent = None
        if ranged:
            start = _row_bounds(first.row)[0] if first.row.firstevent is not None else 0
            firstevent = (first.row.firstevent or 1) + first.first - start
        ctx = JobContext(
            task_id=self.task.jeditaskid,
            streams={name: sorted(values) for name, values in streams.items()},
            stream_datasets=stream_datasets,
            outputs=lfns,
            serial=serial,
            # jedi.md §5: the ${RNDMSEED} item's offset (split rule RS) plus the job's serial number.
            rndmseed=(self.rules.get("randomSeed") or 0) + serial
            if serial is not None
            else self.rng.randint(1, 2**31 - 1),
            maxevents=chunk.nevents if ranged else -1,
            skipevents=first.first if ranged else 0,
            firstevent=firstevent,
            attemptnr=attempt,
            seqnumber=self._seqnumber(chunk),
            extra=extra,
        )
        return template.render(ctx).text

    def _seqnumber(self, chunk: Chunk) -> int | None:
        """``${SEQNUMBER}``: the pseudo input files of ``noInput`` tasks carry the job's sequence
        number as their LFN (see :mod:`apps.jedi.services.contents_feeder`); None for other jobs."""
        for row in chunk.rows:
            if self.dataset(row.dataset_id).type == DatasetType.PSEUDO_INPUT and row.lfn.isdigit():
                return int(row.lfn)
        return None

    def _count(self, picks, outputs) -> None:
        """Dataset counters: inputs used, outputs produced (one UPDATE per dataset)."""
        for dataset_id, n in _count_by(dataset_id for _, _, dataset_id in picks).items():
            TaskDataset.objects.filter(pk=dataset_id).update(nfilesused=F("nfilesused") + n)
        for dataset_id, n in _count_by(stream.dataset.datasetid for _, stream, _ in outputs).items():
            TaskDataset.objects.filter(pk=dataset_id).update(nfiles=F("nfiles") + n)


def jobs_hand_over(pandaids: list[int], *, setup: bool = True) -> list[int]:
    """The server side of the hand-over: the Setupper for the jobs of a stored bunch (on commit).

    :meth:`JobBuilder.store` already moved them ``pending -> defined`` in the bunch's transaction:
    the rows are written as ``defined`` with both status-log rows (``None -> pending``, ``pending ->
    defined``), which is what an UPDATE inside that transaction would leave, without rewriting
    every wide job row and its nine index entries a second time. No other transaction ever sees
    them ``pending``, and a crash leaves either the whole bunch handed over or nothing.
    """
    if setup and pandaids:
        moved = list(pandaids)
        if transaction.get_connection().in_atomic_block:
            # Called inside a caller's transaction: the Setupper must not see the jobs before it commits.
            transaction.on_commit(lambda: run_setupper.delay(moved))
        else:
            # The bunch's own transaction has committed already.
            run_setupper.delay(moved)
    return list(pandaids)


def _count_by(values) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _clone(row, **changes) -> DatasetContent:
    """A new ``ready`` row for the rest of ``row`` (a model or a light ContentRow, which has no
    timestamps: the new row's ``creationdate`` is now and it has had no attempt yet)."""
    values = {
        f.attname: getattr(row, f.attname, None) for f in DatasetContent._meta.concrete_fields if not f.primary_key
    }
    values["creationdate"] = values["creationdate"] or utcnow()
    values.update(status="ready", pandaid=row.pandaid, **changes)
    return DatasetContent(**values)


def _row_bounds(row) -> tuple[int, int]:
    start = row.startevent if row.startevent is not None else 0
    end = row.endevent if row.endevent is not None else start + max(row.nevents or 0, 1) - 1
    return start, end


def _link(links: list[tuple[int, int]]) -> int:
    """Pre-merged files into a merge job: set ``pandaid`` where no merge job holds them yet."""
    changed = 0
    for fileid, pandaid in links:
        changed += DatasetContent.objects.filter(pk=fileid, pandaid__isnull=True).update(pandaid=pandaid)
    return changed


def _pick(picks: list[tuple[int, int]]) -> int:
    """``ready -> picked`` with the new PandaID, only for rows still ``ready``; answers the rows changed."""
    if not picks:
        return 0
    table = connection.ops.quote_name(DatasetContent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement, two array parameters: a nested loop over the primary key whatever the
            # size of the table (a VALUES list of hundreds of rows made the planner hash the whole
            # "ready" set, and cost the client a long query text to build and parse).
            cursor.execute(
                f"UPDATE {table} AS c SET status = 'picked', pandaid = v.pandaid "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(fileid, pandaid) "
                "WHERE c.fileid = v.fileid AND c.status = 'ready'",
                [[fileid for fileid, _ in picks], [pandaid for _, pandaid in picks]],
            )
            return cursor.rowcount
        changed = 0
        for start in range(0, len(picks), _VALUES_CHUNK // 2):
            part = picks[start : start + _VALUES_CHUNK // 2]
            cases = " ".join(["WHEN %s THEN %s"] * len(part))
            cursor.execute(
                f"UPDATE {table} SET status = 'picked', pandaid = CASE fileid {cases} END "
                f"WHERE status = 'ready' AND fileid IN ({', '.join(['%s'] * len(part))})",
                [x for pair in part for x in pair] + [fileid for fileid, _ in part],
            )
            changed += cursor.rowcount
    return changed
