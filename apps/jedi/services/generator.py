"""The JobGenerator agent (jedi.md §2, §6, §7): make jobs from the ready input files of tasks.

Each cycle claims tasks in the generating states with a lease and, per task:

1. ``scouting`` tasks: the avalanche check (:mod:`apps.jedi.services.scouts`): once half of the
   scouts finished, measure them and go ``running`` (or ``exhausted`` on bad results); until then
   nothing more is generated;
2. ``mergeOutput`` tasks: merge jobs for the queues whose pre-merge jobs all finished
   (:mod:`apps.jedi.services.merge`);
3. the throttle check (``throttled`` when held back), then the job broker plugin on the first
   ready files (no candidate -> ``pending`` with the brokerage summary in ``errordialog``);
4. the splitter over the master dataset's ready rows, read in batches of :data:`READ_BATCH` by
   ``fileid`` (never the whole dataset in memory), queues drawn per sub-chunk group by weight;
5. jobs stored in bunches of :data:`~apps.jedi.services.jobbuilder.BUNCH_SIZE` as ``pending``
   and moved ``pending -> defined`` in the bunch's transaction
   (:class:`~apps.jedi.services.jobbuilder.JobBuilder`), then handed to the Setupper.

A ``ready`` task generates only its first :data:`N_SCOUTS` chunks as scouts (``useScout``) and
goes ``scouting``; otherwise ``running``. A job-parameter or output-name placeholder that cannot be
filled (:class:`~apps.jedi.placeholders.PlaceholderError`, e.g. ``${FIRSTEVENT}`` without event
ranges) can never be filled on a later cycle either: the bunch is rolled back and the task goes
``tobroken`` with the message in ``errordialog``. Jobs are never generated twice for one file attempt: a
file leaves ``ready`` in the transaction that stores its job.
"""

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass

from apps.core.timeutil import utcnow
from apps.jedi import plugins
from apps.jedi.models import INPUT_TYPES, DatasetContent, JobParamsTemplate, Task, TaskDataset
from apps.jedi.placeholders import PlaceholderError
from apps.jedi.services import merge, scouts
from apps.jedi.services.jobbuilder import BUNCH_SIZE, FilesTaken, JobBuilder, JobSpecDraft, _mb, jobs_hand_over
from apps.jedi.services.locks import task_lease_renew, task_release, tasks_claim
from apps.jedi.services.rows import content_rows
from apps.jedi.services.throttle import throttle_check
from apps.jedi.services.transitions import StaleStatus, task_change_status
from apps.jedi.splitter import QueueLimits, Resources, RowStream, SecondaryStream, SplitRules, Splitter
from apps.jedi.states import GENERATING, TaskStatus
from apps.jedi.taskparams import TaskParamError, load_task_params, parse_task_params, split_rule_parse
from apps.sites.models import PandaQueue

log = logging.getLogger(__name__)

AGENT = "jobgenerator"
DEFAULT_LIMIT = 20
READ_BATCH = 2000
BROKER_PREVIEW = 500  # input rows shown to the job broker (data locality, largest input)
N_SCOUTS = 10
SUBCHUNKS_SCOUT = 2
SUBCHUNKS = 25
DEFAULT_MAX_JOBS_PER_TASK = 200_000


@dataclass
class GeneratorSummary:
    tasks: int = 0
    jobs: int = 0
    files: int = 0
    scouting: int = 0
    running: int = 0
    pending: int = 0
    throttled: int = 0
    exhausted: int = 0
    broken: int = 0
    merge_jobs: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return (
            f"jobgenerator: tasks={self.tasks} jobs={self.jobs} files={self.files} merge_jobs={self.merge_jobs} "
            f"scouting={self.scouting} running={self.running} pending={self.pending} "
            f"throttled={self.throttled} exhausted={self.exhausted} broken={self.broken} errors={self.errors}"
        )


def task_rules(task: Task) -> dict:
    return split_rule_parse(task.splitrule)


def split_rules_of(rules: dict) -> SplitRules:
    return SplitRules(
        n_events_per_job=rules.get("nEventsPerJob") or None,
        n_files_per_job=rules.get("nFilesPerJob") or None,
        n_gb_per_job=rules.get("nGBPerJob") or None,
        tgt_num_events_per_job=rules.get("tgtNumEventsPerJob") or None,
        n_max_files_per_job=rules.get("nMaxFilesPerJob") or None,
    )


def task_resources(task: Task) -> Resources:
    return Resources(
        cputime=float(task.cputime or 0),
        cpuefficiency=float(task.cpuefficiency or 100),
        basewalltime=task.basewalltime or 0,
        outdisk_mb_per_event=_mb(task.outdiskcount, task.outdiskunit, default_unit="kB"),
        workdisk_mb=_mb(task.workdiskcount, task.workdiskunit, default_unit="MB"),
        corecount=task.corecount or 1,
    )


def queue_limits(queue: PandaQueue | None) -> QueueLimits:
    if queue is None:
        return QueueLimits()
    return QueueLimits(
        maxwdir_mb=queue.maxwdir or 0,
        maxtime=queue.maxtime or 0,
        corecount=queue.corecount or 1,
        corepower=float((queue.document or {}).get("corepower") or 10),
    )


def subchunks_per_queue(queue: PandaQueue | None, *, scout: bool) -> int:
    """jedi.md §6: 2 for scouts, 25 otherwise, or the queue's ``catchall`` ``jobChunkSize=N``."""
    if queue is not None:
        for flag in queue.catchall_flags:
            if flag.startswith("jobChunkSize="):
                try:
                    return max(1, int(flag.split("=", 1)[1]))
                except ValueError:
                    break
    return SUBCHUNKS_SCOUT if scout else SUBCHUNKS


def ready_rows(dataset: TaskDataset, *, batch: int = READ_BATCH) -> Iterator:
    """The dataset's ``ready`` rows by ``fileid``, read ``batch`` at a time, as light
    :data:`~apps.jedi.services.rows.ContentRow` objects (no model instances)."""
    last = 0
    while True:
        rows = content_rows(
            DatasetContent.objects.filter(dataset=dataset, status="ready", fileid__gt=last).order_by("fileid")[:batch]
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].fileid
        if len(rows) < batch:
            return


def _task_params(task: Task) -> dict:
    try:
        return load_task_params(task.params.taskparams)
    except (Task.params.RelatedObjectDoesNotExist, TaskParamError, ValueError):
        return {}


def _secondary_streams(task: Task, master: TaskDataset, params: dict) -> list[SecondaryStream]:
    secondaries = list(TaskDataset.objects.filter(task=task, type__in=INPUT_TYPES, masterid=master.datasetid))
    if not secondaries:
        return []
    per_job: dict[str, int | None] = {}
    try:
        per_job = {ds.streamname: ds.nfilesperjob for ds in parse_task_params(params).inputs() if ds.streamname}
    except TaskParamError:
        pass
    streams = []
    for dataset in secondaries:
        rows = list(DatasetContent.objects.filter(dataset=dataset, status="ready").order_by("fileid"))
        ratio = (dataset.nfiles / master.nfiles) if master.nfiles and dataset.nfiles else None
        streams.append(
            SecondaryStream(
                dataset.streamname or f"DS{dataset.datasetid}",
                rows,
                attributes=dataset.attributes,
                per_chunk=per_job.get(dataset.streamname),
                ratio=ratio,
            )
        )
    return streams


def _brokerage_summary(result: plugins.BrokerageResult, limit: int = 200) -> str:
    if not result.rejected:
        return "no queue to consider"
    parts = [f"{queue}: {why}" for queue, why in sorted(result.rejected.items())]
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _store(builder: JobBuilder, drafts: list[JobSpecDraft], summary: GeneratorSummary, *, setup: bool) -> bool:
    try:
        stored = builder.store(drafts)
    except FilesTaken as exc:
        log.warning("jediTaskID=%s: %s; stopping this cycle", builder.task.jeditaskid, exc)
        return False
    jobs_hand_over(stored.pandaids, setup=setup)
    summary.jobs += len(stored.pandaids)
    summary.files += stored.n_files
    return True


def generate_for_task(
    task: Task,
    summary: GeneratorSummary,
    *,
    max_jobs: int = DEFAULT_MAX_JOBS_PER_TASK,
    setup: bool = True,
    rng: random.Random | None = None,
) -> None:
    """One task's share of a cycle (the task is leased by the caller)."""
    rng = rng or random.Random()
    rules = task_rules(task)
    params = _task_params(task)
    if task.status == TaskStatus.SCOUTING:
        outcome = scouts.scouting_check(task, rules=rules)
        if outcome != TaskStatus.RUNNING:
            if outcome == TaskStatus.EXHAUSTED:
                summary.exhausted += 1
            return
        summary.running += 1
    elif task.status == TaskStatus.SCOUTED:
        task_change_status(task, new=TaskStatus.RUNNING, reason="scouts done")
        summary.running += 1

    template = JobParamsTemplate.objects.filter(task=task).values_list("jobparamstemplate", flat=True).first() or ""
    if rules.get("mergeOutput"):
        summary.merge_jobs += merge.generate_merge_jobs(
            task, rules=rules, template=template, merge_spec=params.get("mergeSpec") or {}, setup=setup, rng=rng
        )

    masters = list(
        TaskDataset.objects.filter(task=task, type__in=INPUT_TYPES, masterid__isnull=True).order_by("datasetid")
    )
    masters = [ds for ds in masters if DatasetContent.objects.filter(dataset=ds, status="ready").exists()]
    if not masters:
        return

    decision = throttle_check(task)
    if decision.throttled:
        if task.status != TaskStatus.THROTTLED:
            task_change_status(
                task,
                new=TaskStatus.THROTTLED,
                reason=decision.reason,
                changes={"throttledtime": utcnow(), "numthrottled": task.numthrottled + 1},
            )
        summary.throttled += 1
        return

    scout = task.status == TaskStatus.READY and bool(rules.get("useScout")) and not scouts.scouted_before(task)
    first_files = list(
        DatasetContent.objects.filter(dataset=masters[0], status="ready").order_by("fileid")[:BROKER_PREVIEW]
    )
    result = plugins.job_broker(task)(task, files=first_files, scout=scout)
    if not result.candidates:
        reason = f"no brokerage candidate: {_brokerage_summary(result)}"
        task_change_status(task, new=TaskStatus.PENDING, reason=reason)
        summary.pending += 1
        return

    queues = {q.name: q for q in PandaQueue.objects.filter(name__in=[name for name, _ in result.candidates])}
    limits = {name: queue_limits(queues.get(name)) for name, _ in result.candidates}
    builder = JobBuilder(
        task, template=template, rules=rules, queues=queues, merge_spec=params.get("mergeSpec"), rng=rng
    )
    splitter = Splitter(split_rules_of(rules), task_resources(task))
    budget = N_SCOUTS if scout else max_jobs
    made = 0
    for master in masters:
        stream = RowStream(ready_rows(master))
        secondaries = _secondary_streams(task, master, params)
        drafts: list[JobSpecDraft] = []
        exhausted = False
        while made + len(drafts) < budget and not exhausted:
            site = result.pick(rng)
            for _ in range(subchunks_per_queue(queues.get(site), scout=scout)):
                if made + len(drafts) >= budget:
                    break
                chunk = splitter.next_chunk(stream, limits=limits[site], scout=scout)
                if chunk is None:
                    exhausted = True
                    break
                for secondary in secondaries:
                    secondary.attach(chunk)
                drafts.append(JobSpecDraft(chunk=chunk, site=site, scout=scout))
                if len(drafts) >= BUNCH_SIZE:
                    if not _store(builder, drafts, summary, setup=setup):
                        return _after_generation(task, made, scout, summary)
                    made += len(drafts)
                    drafts = []
                    task_lease_renew(task, agent=AGENT)
        if drafts:
            if not _store(builder, drafts, summary, setup=setup):
                return _after_generation(task, made, scout, summary)
            made += len(drafts)
        if made >= budget:
            break
    _after_generation(task, made, scout, summary)


def _after_generation(task: Task, made: int, scout: bool, summary: GeneratorSummary) -> None:
    if not made or task.status != TaskStatus.READY:
        return
    if scout:
        task_change_status(task, new=TaskStatus.SCOUTING, reason=f"{made} scout jobs generated")
        summary.scouting += 1
    else:
        task_change_status(task, new=TaskStatus.RUNNING, reason=f"{made} jobs generated")
        summary.running += 1


def _broken(task: Task, reason: str, summary: GeneratorSummary) -> None:
    """Bad parameters no cycle can fix: ``tobroken`` with the reason (the task's status in memory is current)."""
    log.error("jediTaskID=%s: %s", task.jeditaskid, reason)
    try:
        task_change_status(task, new=TaskStatus.TOBROKEN, reason=reason)
    except StaleStatus:
        log.info("jediTaskID=%s changed state during generation", task.jeditaskid)
        return
    summary.broken += 1


def job_generator_run(
    *,
    limit: int = DEFAULT_LIMIT,
    max_jobs_per_task: int = DEFAULT_MAX_JOBS_PER_TASK,
    setup: bool = True,
    rng: random.Random | None = None,
) -> GeneratorSummary:
    """One JobGenerator cycle over up to ``limit`` tasks; ``setup=False`` leaves jobs ``defined``."""
    summary = GeneratorSummary()
    for task in tasks_claim(agent=AGENT, statuses=GENERATING, limit=limit):
        summary.tasks += 1
        try:
            generate_for_task(task, summary, max_jobs=max_jobs_per_task, setup=setup, rng=rng)
        except StaleStatus:
            log.info("jediTaskID=%s changed state during generation", task.jeditaskid)
        except PlaceholderError as exc:
            _broken(task, f"job parameters: {exc}", summary)
        except Exception:
            summary.errors += 1
            log.exception("job generation failed for jediTaskID=%s", task.jeditaskid)
        finally:
            task_release(task, agent=AGENT)
    return summary
