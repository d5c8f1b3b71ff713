""" "Why is it not running?" for a task or a job (issue 7): walk the causes in order, say which one holds.

The causes, in the order they are checked (an earlier cause explains the later symptoms):

1. ``input``: waiting for input or staging — the task is still being defined/staged/pending, its
   input datasets are not ready, or jobs wait in ``assigned`` for their dispatch blocks (DDM rules,
   stuck ones named with their error).
2. ``brokerage``: the newest job brokerage rejected every queue — with the reasons grouped by filter.
3. ``queue``: the queues holding its queued jobs are offline / brokeroff / test / paused, or the
   task or its jobs are throttled (task ``throttled``, the JEDI throttler's share/user caps).
4. ``pilots``: no pilots arriving — no ``getJob`` on the queue for :data:`PILOT_SILENCE` (the
   dispatcher's ``QueueActivity``) and no Harvester worker submitted there in that time.
5. ``retries``: retries exhausted — the job used its last attempt, the task is ``exhausted`` or its
   inputs failed on their last attempt.

Each check is a fixed number of aggregated queries; every check says what it looked at and links
the page with the evidence. The verdict is the first check that holds.
"""

from dataclasses import asdict, dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.db.models import Count, F, Max

from apps.brokerage.models import BrokerageDecision, DecisionKind
from apps.brokerage.selectors.decisions import decision_as_dict
from apps.core.timeutil import utcnow
from apps.ddm.interface import ddm
from apps.jedi.models import INPUT_TYPES, DatasetContent, JobRetryHistory, Task, TaskDataset
from apps.jedi.services.throttle import throttle_check
from apps.jedi.states import FINAL as TASK_FINAL
from apps.jedi.states import TaskStatus
from apps.jobs.models import Job
from apps.jobs.states import DISPATCHED, JobStatus
from apps.jobs.states import FINAL as JOB_FINAL
from apps.sites.models import PandaQueue, QueueActivity, QueueStatus
from apps.workers.models import Worker

PILOT_SILENCE = timedelta(hours=1)
# Dispatch blocks whose rules are looked at for a task (the oldest waiting jobs).
MAX_BLOCKS = 50
TASK_WAITING_INPUT = frozenset(
    {
        TaskStatus.REGISTERED,
        TaskStatus.DEFINED,
        TaskStatus.ASSIGNING,
        TaskStatus.STAGING,
        TaskStatus.TOPREPROCESS,
        TaskStatus.PREPROCESSING,
    }
)
READY_DATASET_STATES = frozenset({"ready", "done", "finished", "toupdate", "closed"})
JOB_WAITING_INPUT = frozenset({JobStatus.PENDING, JobStatus.WAITING, JobStatus.DEFINED, JobStatus.ASSIGNED})
JOB_QUEUED = frozenset({JobStatus.ACTIVATED, JobStatus.THROTTLED})
JOB_RUNNING = frozenset(DISPATCHED) | {JobStatus.HOLDING, JobStatus.TRANSFERRING, JobStatus.MERGING}
CAUSE_TITLES = {
    "input": "Waiting for input or staging",
    "brokerage": "Brokerage rejected every queue",
    "queue": "Queue offline or throttled",
    "pilots": "No pilots arriving",
    "retries": "Retries exhausted",
}


@dataclass
class Check:
    cause: str
    holds: bool
    detail: str
    evidence: str

    @property
    def title(self) -> str:
        return CAUSE_TITLES[self.cause]

    def as_dict(self) -> dict:
        return {**asdict(self), "title": self.title}


def _result(subject: str, ident: int, status: str, checks: list[Check], summary: str | None = None) -> dict:
    verdict = next((check for check in checks if check.holds), None)
    if summary is None:
        summary = f"{verdict.title}: {verdict.detail}" if verdict else "None of the known causes holds."
    return {
        "subject": subject,
        "id": ident,
        "status": status,
        "verdict": verdict.cause if verdict else None,
        "summary": summary,
        "checks": [check.as_dict() for check in checks],
    }


def _link(path: str, **params) -> str:
    return f"{path}?{urlencode(params)}" if params else path


# --- queues and pilots, shared by tasks and jobs ----------------------------------------------------


def _queue_statuses(queues: set[str]) -> dict[str, str]:
    return dict(PandaQueue.objects.filter(name__in=queues).values_list("name", "status")) if queues else {}


def _unusable_queues(queues: set[str]) -> dict[str, str]:
    """Queues (of ``queues``) that do not take jobs now, with their status ('unknown' when not configured)."""
    statuses = _queue_statuses(queues)
    return {q: statuses.get(q, "unknown") for q in sorted(queues) if statuses.get(q) != QueueStatus.ONLINE}


def _silent_queues(queues: set[str]) -> dict[str, str]:
    """Queues without a getJob and without a new Harvester worker for :data:`PILOT_SILENCE`: queue -> detail."""
    if not queues:
        return {}
    since = utcnow() - PILOT_SILENCE
    last = dict(
        QueueActivity.objects.filter(queue__in=queues)
        .values("queue")
        .annotate(last=Max("last_getjob"))
        .values_list("queue", "last")
    )
    workers = dict(
        Worker.objects.filter(computingsite__in=queues, submittime__gte=since)
        .values("computingsite")
        .annotate(n=Count("id"))
        .values_list("computingsite", "n")
    )
    silent = {}
    for queue in sorted(queues):
        seen = last.get(queue)
        if (seen is None or seen < since) and not workers.get(queue):
            when = f"last getJob {seen:%Y-%m-%d %H:%M} UTC" if seen else "no getJob ever recorded"
            silent[queue] = f"{queue}: {when}, no Harvester worker submitted in the last {_hours(PILOT_SILENCE)}"
    return silent


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} h"


def _queue_check(unusable: dict[str, str], throttled: str, evidence_queue: str | None) -> Check:
    parts = [f"{queue} is {status}" for queue, status in unusable.items()]
    if throttled:
        parts.append(throttled)
    evidence = f"/site/{next(iter(unusable))}/" if unusable else (f"/site/{evidence_queue}/" if evidence_queue else "")
    detail = "; ".join(parts) if parts else "the queues holding its jobs are online and nothing is throttled"
    return Check("queue", bool(parts), detail, evidence)


def _pilots_check(silent: dict[str, str], queued_on: set[str]) -> Check:
    if not queued_on:
        return Check("pilots", False, "no jobs wait on a queue for a pilot", "")
    queue = next(iter(silent), next(iter(sorted(queued_on))))
    evidence = _link("/harvester/workers/", computingsite=queue, hours=int(PILOT_SILENCE.total_seconds() // 3600))
    if silent:
        return Check("pilots", True, "; ".join(silent.values()), evidence)
    return Check(
        "pilots",
        False,
        f"pilots asked for work within {_hours(PILOT_SILENCE)} on {', '.join(sorted(queued_on))}",
        evidence,
    )


def _stuck_rules(blocks: list[str]) -> tuple[int, list[str]]:
    """(number of dispatch blocks still transferring or staging, descriptions of stuck rules)."""
    if not blocks:
        return 0, []
    rules = ddm().list_rules(blocks)
    pending, stuck = 0, []
    for name, found in rules.items():
        for rule in found:
            if rule.state == "stuck":
                stuck.append(f"{name} -> {rule.endpoint} stuck ({rule.error or 'no error given'})")
            elif rule.state != "ok":
                pending += 1
    return pending, stuck


# --- tasks ------------------------------------------------------------------------------------------


def _task_input_check(task: Task, n_waiting_jobs: int, blocks: list[str]) -> Check:
    evidence = f"/task/{task.jeditaskid}/#datasets"
    if task.status in TASK_WAITING_INPUT:
        return Check("input", True, f"the task is {task.status}: its input is being prepared", evidence)
    not_ready = list(
        TaskDataset.objects.filter(task_id=task.jeditaskid, type__in=INPUT_TYPES, masterid__isnull=True)
        .exclude(status__in=READY_DATASET_STATES)
        .values_list("datasetname", "status")[:5]
    )
    if not_ready:
        names = ", ".join(f"{name} ({status})" for name, status in not_ready)
        return Check("input", True, f"input datasets not ready: {names}", evidence)
    if task.status == TaskStatus.PENDING and task.errordialog and "brokerage" not in task.errordialog.lower():
        return Check("input", True, f"the task is pending: {task.errordialog}", evidence)
    if n_waiting_jobs:
        pending, stuck = _stuck_rules(blocks)
        jobs = _link("/jobs/", jeditaskid=task.jeditaskid, jobstatus="assigned")
        if stuck:
            return Check("input", True, f"{n_waiting_jobs} jobs wait for input; stuck: {'; '.join(stuck[:3])}", jobs)
        return Check("input", True, f"{n_waiting_jobs} jobs wait for their input to be transferred or staged", jobs)
    return Check("input", False, "the input datasets are ready and no job waits for a transfer", evidence)


def _brokerage_check(task_id: int) -> Check:
    evidence = f"/task/{task_id}/#brokerage"
    decision = (
        BrokerageDecision.objects.filter(jeditaskid=task_id, kind=DecisionKind.JOB)
        .order_by("-creationtime", "-id")
        .first()
    )
    if decision is None:
        return Check("brokerage", False, "no brokerage decision recorded", evidence)
    data = decision_as_dict(decision)
    if data["kept"]:
        kept = ", ".join(str(item["name"]) for item in data["kept"][:5])
        return Check("brokerage", False, f"the newest brokerage kept {len(data['kept'])} queues ({kept})", evidence)
    if not data["n_rejected"]:
        return Check("brokerage", True, f"the newest brokerage found no candidate queue: {data['summary']}", evidence)
    filters = ", ".join(f"{name} ({len(items)})" for name, items in data["rejected"].items())
    example = next(iter(data["rejected"].values()))[0]
    return Check(
        "brokerage",
        True,
        f"all {data['n_rejected']} queues rejected by {filters}; e.g. {example['name']}: {example['reason']}",
        evidence,
    )


def _retries_check_task(task: Task) -> Check:
    evidence = _link("/jobs/", jeditaskid=task.jeditaskid, jobstatus="failed")
    if task.status == TaskStatus.EXHAUSTED:
        return Check(
            "retries",
            True,
            f"the task is exhausted: {task.errordialog or 'its inputs used up their attempts'}",
            evidence,
        )
    failed = DatasetContent.objects.filter(
        task_id=task.jeditaskid, dataset__type__in=INPUT_TYPES, status="failed", attemptnr__gte=F("maxattempt")
    ).count()
    if failed:
        return Check("retries", True, f"{failed} input files failed on their last attempt", evidence)
    return Check("retries", False, "no input file used up its attempts", evidence)


def task_job_states(task_id: int) -> dict[str, int]:
    """Job counts per state for the task (one aggregated query on the (jeditaskid, jobstatus) index)."""
    return dict(
        Job.objects.filter(jeditaskid=task_id)
        .values("jobstatus")
        .annotate(n=Count("pandaid"))
        .values_list("jobstatus", "n")
    )


def why_task_not_running(task: Task, *, job_states: dict[str, int] | None = None) -> dict:
    """The causes of the task's idleness, in order, and the verdict (first cause that holds)."""
    if job_states is None:
        job_states = task_job_states(task.jeditaskid)
    running = sum(n for state, n in job_states.items() if state in JOB_RUNNING)
    if task.status in TASK_FINAL and task.status not in (TaskStatus.FAILED, TaskStatus.BROKEN):
        checks = [_retries_check_task(task)]
        return _result("task", task.jeditaskid, task.status, checks, summary=f"The task is {task.status}.")
    n_waiting = sum(n for state, n in job_states.items() if state in JOB_WAITING_INPUT)
    queued_rows = list(
        Job.objects.filter(jeditaskid=task.jeditaskid, jobstatus__in=JOB_QUEUED)
        .values("computingsite")
        .annotate(n=Count("pandaid"))
        .values_list("computingsite", "n")
    )
    queued_on = {queue for queue, _ in queued_rows if queue}
    blocks = []
    if n_waiting:
        blocks = list(
            Job.objects.filter(jeditaskid=task.jeditaskid, jobstatus=JobStatus.ASSIGNED, dispatchdblock__isnull=False)
            .order_by("pandaid")
            .values_list("dispatchdblock", flat=True)[:MAX_BLOCKS]
        )
    throttled = ""
    if task.status == TaskStatus.THROTTLED:
        throttled = f"the task is throttled ({task.numthrottled} times; {task.errordialog or 'share or user cap'})"
    elif task.status not in TASK_FINAL and not running:
        # The throttler's judgement only explains a task with nothing running.
        decision = throttle_check(task)
        if decision.throttled:
            throttled = f"job generation is throttled: {decision.reason}"
    if job_states.get(JobStatus.THROTTLED):
        throttled = "; ".join(filter(None, [throttled, f"{job_states[JobStatus.THROTTLED]} jobs are throttled"]))
    checks = [
        _task_input_check(task, n_waiting, blocks),
        _brokerage_check(task.jeditaskid),
        _queue_check(_unusable_queues(queued_on), throttled, next(iter(sorted(queued_on)), None)),
        _pilots_check(_silent_queues(queued_on), queued_on),
        _retries_check_task(task),
    ]
    summary = None
    if running and not any(check.holds for check in checks):
        summary = f"{running} jobs are running."
    return _result("task", task.jeditaskid, task.status, checks, summary=summary)


# --- jobs -------------------------------------------------------------------------------------------


def _retries_check_job(job: Job) -> Check:
    newer = JobRetryHistory.objects.filter(oldpandaid=job.pandaid).values_list("newpandaid", flat=True).first()
    evidence = f"/jobrelationships/{job.pandaid}/"
    if newer:
        return Check("retries", False, f"the job was retried as {newer}", f"/job/{newer}/")
    if job.jobstatus == JobStatus.FAILED and job.maxattempt and job.attemptnr >= job.maxattempt:
        return Check("retries", True, f"attempt {job.attemptnr} of at most {job.maxattempt} failed", evidence)
    if job.jobstatus == JobStatus.FAILED:
        return Check("retries", False, f"attempt {job.attemptnr} of {job.maxattempt}: a retry may still come", evidence)
    return Check("retries", False, f"attempt {job.attemptnr} of {job.maxattempt}", evidence)


def why_job_not_running(job: Job) -> dict:
    """The causes for a job, in order; running and finished jobs just say so."""
    if job.jobstatus in JOB_RUNNING:
        return _result("job", job.pandaid, job.jobstatus, [], summary=f"The job is {job.jobstatus}.")
    if job.jobstatus in JOB_FINAL:
        checks = [_retries_check_job(job)]
        summary = f"The job is {job.jobstatus}." if not checks[0].holds else None
        return _result("job", job.pandaid, job.jobstatus, checks, summary=summary)
    queue = job.computingsite or ""
    if job.jobstatus in JOB_WAITING_INPUT:
        pending, stuck = _stuck_rules([job.dispatchdblock] if job.dispatchdblock else [])
        detail = f"the job is {job.jobstatus}: its input is not at {queue or 'its queue'} yet"
        if stuck:
            detail += f"; stuck: {'; '.join(stuck)}"
        elif pending:
            detail += f"; dispatch block {job.dispatchdblock} is being transferred"
        input_check = Check("input", True, detail, f"/job/{job.pandaid}/#files")
    else:
        input_check = Check("input", False, "its input is in place", f"/job/{job.pandaid}/#files")
    if queue:
        brokerage = Check("brokerage", False, f"brokered to {queue}", f"/task/{job.jeditaskid}/#brokerage")
    elif job.jeditaskid:
        brokerage = _brokerage_check(job.jeditaskid)
    else:
        brokerage = Check("brokerage", True, "the job has no queue", "")
    throttled = "the job is throttled" if job.jobstatus == JobStatus.THROTTLED else ""
    queues = {queue} if queue else set()
    waiting_for_pilot = queues if job.jobstatus in JOB_QUEUED else set()
    checks = [
        input_check,
        brokerage,
        _queue_check(_unusable_queues(queues), throttled, queue or None),
        _pilots_check(_silent_queues(waiting_for_pilot), waiting_for_pilot),
        _retries_check_job(job),
    ]
    return _result("job", job.pandaid, job.jobstatus, checks)


def why_not_running(*, jeditaskid: int | None = None, pandaid: int | None = None) -> dict | None:
    """By id: the explanation for that task or job, ``None`` when it does not exist."""
    if jeditaskid is not None:
        task = Task.objects.filter(jeditaskid=jeditaskid).first()
        return why_task_not_running(task) if task else None
    job = Job.objects.filter(pandaid=pandaid).first() if pandaid is not None else None
    return why_job_not_running(job) if job else None
