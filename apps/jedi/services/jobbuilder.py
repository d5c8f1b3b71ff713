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
from apps.jedi.models import DatasetContent, DatasetType, JobRetryHistory, OutputTemplate, Task, TaskDataset
from apps.jedi.placeholders import JobContext, compile_template, render_output_lfn
from apps.jedi.services.rows import insert_rows, new_row, next_ids
from apps.jedi.splitter import Chunk
from apps.jobs.models import FileType, Job, JobFile, JobParameters, JobStatusLog
from apps.jobs.services.submit import extract_scope
from apps.jobs.services.transitions import jobs_change_status_bulk
from apps.jobs.states import JobStatus
from apps.jobs.tasks import run_setupper
from apps.sites.models import PandaQueue
from apps.sites.selectors.resource_types import resource_type_classifier

BUNCH_SIZE = 500
SCOUT_PRIORITY = 901
MERGE_PRIORITY = 5000
_HOST = socket.gethostname()[:128]
_VALUES_CHUNK = 900


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
    task_cores = task.corecount or 1
    queue_cores = queue.corecount if queue is not None else 1
    if task_cores == 1 or queue_cores in (None, 0):
        return 1
    if queue_cores == -1:
        return task_cores
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

    def _job(self, draft: JobSpecDraft, now, templates: list[OutputTemplate]) -> Job:
        task = self.task
        queue = self.queues.get(draft.site)
        chunk = draft.chunk
        rows = chunk.rows
        corecount = 1 if draft.merge else job_corecount(task, queue)
        ram = ram_for_job(task, corecount=corecount, file_ramcount=max((r.ramcount or 0 for r in rows), default=0))
        input_mb = chunk.size / (1024 * 1024)
        disk = input_mb + _mb(task.outdiskcount, task.outdiskunit, default_unit="kB") * chunk.nevents
        disk += _mb(task.workdiskcount, task.workdiskunit, default_unit="MB")
        attempt = max((r.attemptnr or 0 for r in rows), default=0) + 1
        priority = self._priority(draft)
        master = self.dataset(rows[0].dataset_id) if rows else None
        corepower = float((queue.document or {}).get("corepower") or 0) if queue is not None else 0
        outputs = [t for t in templates if t.outtype != "log"] or templates
        destination = self._output_dataset(outputs[0], draft.site).datasetname if outputs else None
        return new_row(
            Job,
            jobdefinitionid=0,
            jobexecutionid=0,
            creationtime=now,
            creationhost=_HOST,
            modificationtime=now,
            modificationhost=_HOST,
            statechangetime=now,
            jobstatus=JobStatus.PENDING,
            jobname=f"{task.taskname}.$ORIGINPANDAID"[:256],
            jeditaskid=task.jeditaskid,
            taskid=task.jeditaskid,
            reqid=task.reqid,
            jobsetid=None if self.is_analysis else task.reqid,
            attemptnr=attempt,
            maxattempt=attempt,
            transformation=(self.merge_spec.get("transPath") if draft.merge else task.transpath),
            homepackage=homepackage(task.transhome),
            atlasrelease=task.transuses,
            cmtconfig=task.architecture,
            container_name=task.container_name,
            prodsourcelabel=task.prodsourcelabel,
            prodserieslabel="pandatest",
            processingtype="pmerge" if draft.merge else task.processingtype,
            workinggroup=(task.workinggroup or None) and task.workinggroup[:20],
            countrygroup=task.countrygroup,
            vo=task.vo,
            cloud=task.cloud,
            nucleus=task.nucleus,
            gshare=task.gshare,
            workqueue_id=task.workqueue_id,
            job_label="user" if task.tasktype == "anal" else "managed",
            computingsite=draft.site,
            corecount=corecount,
            minramcount=ram,
            minramunit="MB",
            maxdiskcount=int(disk),
            maxdiskunit="MB",
            maxwalltime=self._walltime(chunk.nevents, corecount, queue),
            maxcpucount=task.walltime or 0,
            maxcpuunit=task.walltimeunit,
            hs06=int(corecount * corepower) if corepower else None,
            diskio=task.diskio,
            ipconnectivity="yes",
            assignedpriority=priority,
            currentpriority=priority,
            lockedby="jedi",
            relocationflag=2 if self.rules.get("disableReassign") else 1,
            specialhandling=self._special_handling(draft) or None,
            resource_type=self.classify(corecount=corecount, minramcount=ram),
            eventservice=0,
            produsername=task.username[:60],
            produserid=(task.userdn or task.username)[:250],
            proddblock=(master.containername or master.datasetname) if master else None,
            destinationdblock=destination,
            ninputfiles=len(rows),
            ninputdatafiles=len(rows),
            inputfilebytes=chunk.size,
        )

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
        """``${SN}``: for every output template, ``n`` consecutive serial numbers (conditional update)."""
        first: dict[int, int] = {}
        for template in templates:
            while True:
                current = OutputTemplate.objects.filter(pk=template.pk).values_list("serialnr", flat=True).get()
                updated = OutputTemplate.objects.filter(pk=template.pk, serialnr=current).update(serialnr=current + n)
                if updated == 1:
                    first[template.pk] = current
                    break
        return first

    # -- the bunch ---------------------------------------------------------------------------

    def store(self, drafts: Sequence[JobSpecDraft]) -> StoredBunch:
        """Store one bunch (≤ BUNCH_SIZE jobs) in one transaction; raises FilesTaken (rolled back)."""
        if not drafts:
            return StoredBunch([], 0)
        now = utcnow()
        templates = self.final_templates if drafts[0].merge else self.job_templates
        with transaction.atomic():
            serials = self._reserve_serials(templates, len(drafts))
            jobs = [self._job(draft, now, templates) for draft in drafts]
            previous, origins = self._previous_jobs(drafts)
            postgres = connection.vendor == "postgresql"
            if postgres:
                for index, (job, pandaid) in enumerate(zip(jobs, next_ids(Job, len(jobs)), strict=True)):
                    job.pandaid = pandaid
                    job.jobname = job.jobname.replace("$ORIGINPANDAID", str(origins[index] or pandaid))
                    if self.is_analysis:
                        job.jobsetid = jobs[0].pandaid
                insert_rows(Job, jobs, with_pk=True)
            else:
                insert_rows(Job, jobs, with_pk=False)
                self._name_jobs(jobs, origins)
            insert_rows(
                JobStatusLog,
                [
                    new_row(
                        JobStatusLog,
                        pandaid=job.pandaid,
                        modificationtime=now,
                        oldstatus=None,
                        jobstatus=job.jobstatus,
                        computingsite=job.computingsite,
                        prodsourcelabel=job.prodsourcelabel,
                        reason="generated by JEDI",
                    )
                    for job in jobs
                ],
                with_pk=False,
            )
            files: list[JobFile] = []
            outputs: list[DatasetContent] = []
            output_files: list[JobFile] = []
            params: list[JobParameters] = []
            picks: list[tuple[int, int, int]] = []
            links: list[tuple[int, int]] = []
            splits: list[tuple] = []
            history = [
                JobRetryHistory(
                    jeditaskid=self.task.jeditaskid,
                    oldpandaid=old,
                    newpandaid=job.pandaid,
                    originpandaid=origin,
                    relationtype="retry",
                )
                for job, old, origin in zip(jobs, previous, origins, strict=True)
                if old
            ]
            for index, (draft, job) in enumerate(zip(drafts, jobs, strict=True)):
                streams, stream_datasets = self._input_files(draft, job, files, picks, links, splits)
                lfns = self._output_files(draft, job, templates, serials, index, outputs, output_files)
                serial = serials[templates[0].pk] + index if templates else None
                text = self._parameters(draft, job, streams, stream_datasets, lfns, serial)
                params.append(new_row(JobParameters, job_id=job.pandaid, jobparameters=text))
            n_new_rows = self._split_rows(splits, picks)
            if postgres and outputs:
                for content, fileid in zip(outputs, next_ids(DatasetContent, len(outputs)), strict=True):
                    content.fileid = fileid
            insert_rows(DatasetContent, outputs, with_pk=postgres)
            for jobfile, content in zip(output_files, outputs, strict=True):
                jobfile.fileid = content.fileid
            insert_rows(JobFile, files + output_files, with_pk=False)
            insert_rows(JobParameters, params, with_pk=True)
            if history:
                JobRetryHistory.objects.bulk_create(history, ignore_conflicts=True)
            taken = _pick([(fileid, pandaid) for fileid, pandaid, _ in picks])
            if taken != len(picks):
                raise FilesTaken(f"{len(picks) - taken} input rows of the bunch were no longer ready")
            if links and _link(links) != len(links):
                raise FilesTaken("pre-merged files of the bunch were already merged")
            self._count(picks, outputs)
        return StoredBunch([job.pandaid for job in jobs], len(picks) + n_new_rows + len(links))

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

    def _name_jobs(self, jobs: list[Job], origins: list[int | None]) -> None:
        """SQLite: ``<taskName>.<PandaID>`` set by one UPDATE once the rows have their ids."""
        ids = [job.pandaid for job in jobs]
        prefix = f"{self.task.taskname}."
        values = {"jobname": Concat(Value(prefix), Cast(F("pandaid"), CharField()))}
        if self.is_analysis:
            values["jobsetid"] = Value(ids[0])
        Job.objects.filter(pandaid__in=ids).update(**values)
        for job, origin in zip(jobs, origins, strict=True):
            job.jobname = f"{prefix}{origin or job.pandaid}"
            if self.is_analysis:
                job.jobsetid = ids[0]
            if origin:
                Job.objects.filter(pandaid=job.pandaid).update(jobname=job.jobname)

    def _input_files(self, draft, job, files, picks, links, splits) -> tuple[dict, dict]:
        streams: dict[str, list[str]] = {}
        stream_datasets: dict[str, str] = {}
        entries = [(piece.row, piece) for piece in draft.chunk.pieces]
        for rows in draft.chunk.secondaries.values():
            entries.extend((row, None) for row in rows)
        for row, piece in entries:
            dataset = self.dataset(row.dataset_id)
            name = dataset.streamname or "IN"
            streams.setdefault(name, []).append(row.lfn)
            stream_datasets.setdefault(name, dataset.containername or dataset.datasetname)
            pseudo = dataset.type == DatasetType.PSEUDO_INPUT
            files.append(
                new_row(
                    JobFile,
                    job_id=job.pandaid,
                    type=FileType.PSEUDO_INPUT if pseudo else FileType.INPUT,
                    lfn=row.lfn,
                    scope=row.scope,
                    guid=row.guid,
                    fsize=row.fsize or 0,
                    checksum=row.checksum,
                    dataset=dataset.datasetname,
                    proddblock=dataset.datasetname,
                    status="unknown",
                    jeditaskid=self.task.jeditaskid,
                    datasetid=row.dataset_id,
                    fileid=row.fileid,
                    attemptnr=row.attemptnr or 0,
                    modificationtime=job.creationtime,
                )
            )
            if draft.merge:
                links.append((row.fileid, job.pandaid))
            elif piece is not None and (piece.partial or row.fileid in self._split_holders):
                splits.append((row, piece.first, piece.last, job.pandaid, files[-1]))
            elif piece is not None or self._consumed(row):
                picks.append((row.fileid, job.pandaid, row.dataset_id))
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
                jobfile.fileid = holder.pk
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

    def _output_files(self, draft, job, templates, serials, index, outputs, output_files) -> dict[str, str]:
        lfns: dict[str, str] = {}
        for template in templates:
            dataset = self._output_dataset(template, draft.site)
            lfn = render_output_lfn(
                template.filenametemplate, serial=serials[template.pk] + index, task_id=self.task.jeditaskid
            )
            lfns[template.streamname] = lfn
            is_log = template.outtype == "log" or template.streamname.startswith("LOG")
            scope = self._scopes.get(dataset.datasetname)
            if scope is None:
                scope = self._scopes[dataset.datasetname] = extract_scope(dataset.datasetname) or ""
            scope = scope or None
            outputs.append(
                new_row(
                    DatasetContent,
                    task_id=self.task.jeditaskid,
                    dataset_id=dataset.datasetid,
                    lfn=lfn,
                    type="log" if is_log else "output",
                    status="defined",
                    scope=scope,
                    outpandaid=job.pandaid,
                    attemptnr=0,
                    creationdate=job.creationtime,
                )
            )
            output_files.append(
                new_row(
                    JobFile,
                    job_id=job.pandaid,
                    type=FileType.LOG if is_log else FileType.OUTPUT,
                    lfn=lfn,
                    scope=scope if scope and len(scope) <= 30 else None,
                    dataset=dataset.datasetname,
                    destinationdblock=dataset.datasetname,
                    destinationdblocktoken=dataset.storagetoken,
                    destinationse=draft.site,
                    status="unknown",
                    jeditaskid=self.task.jeditaskid,
                    datasetid=dataset.datasetid,
                    modificationtime=job.creationtime,
                )
            )
        return lfns

    def _parameters(self, draft, job, streams, stream_datasets, lfns, serial) -> str:
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
            rndmseed=serial if serial is not None else self.rng.randint(1, 2**31 - 1),
            maxevents=chunk.nevents if ranged else -1,
            skipevents=first.first if ranged else 0,
            firstevent=firstevent,
            attemptnr=job.attemptnr,
            seqnumber=_seqnumber(chunk),
            extra=extra,
        )
        return template.render(ctx).text

    def _count(self, picks, outputs) -> None:
        """Dataset counters: inputs used, outputs produced (one UPDATE per dataset)."""
        for dataset_id, n in _count_by(dataset_id for _, _, dataset_id in picks).items():
            TaskDataset.objects.filter(pk=dataset_id).update(nfilesused=F("nfilesused") + n)
        for dataset_id, n in _count_by(content.dataset_id for content in outputs).items():
            TaskDataset.objects.filter(pk=dataset_id).update(nfiles=F("nfiles") + n)


def jobs_hand_over(pandaids: list[int], *, setup: bool = True) -> list[int]:
    """The server side of the hand-over: ``pending -> defined`` in bulk, then the Setupper (on commit)."""
    moved = jobs_change_status_bulk(pandaids, old=JobStatus.PENDING, new=JobStatus.DEFINED, reason="JEDI reassign")
    if setup and moved:
        transaction.on_commit(lambda: run_setupper.delay(moved))
    return moved


def _count_by(values) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _clone(row: DatasetContent, **changes) -> DatasetContent:
    values = {f.attname: getattr(row, f.attname) for f in DatasetContent._meta.concrete_fields if not f.primary_key}
    values.update(status="ready", pandaid=row.pandaid, **changes)
    return DatasetContent(**values)


def _row_bounds(row) -> tuple[int, int]:
    start = row.startevent if row.startevent is not None else 0
    end = row.endevent if row.endevent is not None else start + max(row.nevents or 0, 1) - 1
    return start, end


def _seqnumber(chunk: Chunk) -> int | None:
    """Pseudo inputs (``noInput``) carry the job's sequence number as their LFN."""
    for row in chunk.rows:
        if row.lfn.isdigit():
            return int(row.lfn)
    return None


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
    changed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(picks), _VALUES_CHUNK // 2):
            part = picks[start : start + _VALUES_CHUNK // 2]
            if connection.vendor == "postgresql":
                values = ", ".join(["(%s::bigint, %s::bigint)"] * len(part))
                cursor.execute(
                    f"UPDATE {table} AS c SET status = 'picked', pandaid = v.pandaid "
                    f"FROM (VALUES {values}) AS v(fileid, pandaid) WHERE c.fileid = v.fileid AND c.status = 'ready'",
                    [x for pair in part for x in pair],
                )
            else:
                cases = " ".join(["WHEN %s THEN %s"] * len(part))
                cursor.execute(
                    f"UPDATE {table} SET status = 'picked', pandaid = CASE fileid {cases} END "
                    f"WHERE status = 'ready' AND fileid IN ({', '.join(['%s'] * len(part))})",
                    [x for pair in part for x in pair] + [fileid for fileid, _ in part],
                )
            changed += cursor.rowcount
    return changed
