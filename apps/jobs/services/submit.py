"""Direct job submission (``job/submit``, legacy ``submitJobs``; protocol.md §10.2, §10.4).

Jobs arrive fully defined by the client and must already name their PanDA queue
(``computingSite``); they are inserted in ``defined`` with their parameters, files and the
creation status-log rows in one transaction, so a refused or failing batch leaves nothing behind.
Server-side defaults follow upstream's ``storeJobs``/``insertNewJob``.
"""

import re
import socket

from django.db import transaction

from apps.accounts.identity import Identity, clean_user_id
from apps.accounts.permissions import acts_for_others, check_submit_jobs, may_use_working_group
from apps.core.timeutil import utcnow
from apps.jobs.models import FileType, Job, JobFile, JobParameters
from apps.jobs.serialization import JobSpec
from apps.jobs.services.transitions import job_log_creation
from apps.jobs.states import JobStatus
from apps.jobs.tasks import run_setupper
from apps.sites.models import PandaQueue, QueueType
from apps.sites.selectors.resource_types import resource_type_classifier

MAX_JOBS = 5000
ANALYSIS_LABELS = ("user", "panda")
PTEST_LABELS = ("ptest", "rc_alrb", "rc_test2")
JOB_LABELS = ("managed", "user")
INSTALL_PRIORITY = 4100
_FQAN_VO = re.compile(r"^/([^/]+)/")
_HOSTNAME = socket.gethostname()[:128]
_CHUNK = 900


class SubmitRefused(Exception):
    """The batch is refused as a whole; ``str()`` is the message for the client."""


def _label(spec: JobSpec) -> str | None:
    return spec.fields.get("prodsourcelabel")


def jobs_submit_check(*, identity: Identity, jobs: list[JobSpec]) -> dict[str, PandaQueue]:
    """Refuse the batch for the first problem found; returns the queues the jobs name."""
    if not jobs:
        raise SubmitRefused("No jobs were submitted")
    for spec in jobs:
        label = _label(spec)
        decision = check_submit_jobs(identity, prod_source_label=label)
        if not decision.allowed:
            raise SubmitRefused(decision.reason)
        job_label = spec.fields.get("job_label")
        if job_label not in (None, "") and job_label not in JOB_LABELS:
            raise SubmitRefused(f"job_label={job_label} is not valid")
    names = {spec.fields.get("computingsite") for spec in jobs} - {None, ""}
    queues = {queue.name: queue for queue in PandaQueue.objects.filter(name__in=names)}
    for index, spec in enumerate(jobs):
        site = spec.fields.get("computingsite")
        if not site:
            raise SubmitRefused(
                f"job {index}: computingSite is required; directly submitted jobs must name a PanDA queue"
            )
        if site not in queues:
            raise SubmitRefused(f"job {index}: computingSite={site} is not a PanDA queue")
        for number, values in enumerate(spec.files):
            if values.get("type") not in FileType.values:
                raise SubmitRefused(
                    f"job {index} file {number}: type must be one of {', '.join(FileType.values)}, "
                    f"got {values.get('type')!r}"
                )
    return queues


def extract_scope(dataset: str | None) -> str | None:
    """Upstream's rule: ``scope:name``, else ``user.<nick>``/``group.<name>``, else the first token."""
    if not dataset:
        return None
    if ":" in dataset:
        return dataset.split(":", 1)[0]
    items = dataset.split(".")
    if len(items) > 1 and items[0] in ("user", "group"):
        return ".".join(items[:2])
    return items[0]


def _job_label(label: str | None, queue: PandaQueue) -> str:
    if queue.type == QueueType.ANALYSIS:
        return "user"
    if queue.type == QueueType.UNIFIED and label in ANALYSIS_LABELS:
        return "user"
    return "managed"


def _user_vo(identity: Identity, spec: JobSpec) -> str:
    for fqan in identity.fqans:
        match = _FQAN_VO.match(fqan)
        if match:
            return match.group(1)
    return spec.fields.get("vo") or "atlas"


def _new_job(
    *, identity: Identity, spec: JobSpec, queue: PandaQueue, host: str, now, n_jobs: int, n_build: int, classify
) -> Job:
    values = dict(spec.fields)
    values.pop("pandaid", None)
    label = values.get("prodsourcelabel")
    values.update(
        jobstatus=JobStatus.DEFINED,
        creationtime=now,
        modificationtime=now,
        statechangetime=now,
        modificationhost=_HOSTNAME,
        vo=_user_vo(identity, spec)[:16],
    )
    if host:
        values["creationhost"] = host[:128]
    # Only production may submit on behalf of someone else; analysis jobs always belong to the caller.
    if not acts_for_others(identity) or not values.get("produserid") or label in ANALYSIS_LABELS:
        values["produserid"] = identity.dn[:250]
    if acts_for_others(identity):
        values["produsername"] = (clean_user_id(values["produserid"]) or values["produserid"])[:60]
    else:
        values["produsername"] = identity.compact_name[:60]
    if not values.get("job_label"):
        values["job_label"] = _job_label(label, queue)
    if values.get("relocationflag") != 2:
        values["relocationflag"] = 1
    if "assignedPriority" in spec.given:
        values["currentpriority"] = values["assignedpriority"]
    if label == "install":
        values["currentpriority"] = INSTALL_PRIORITY
    if label in ANALYSIS_LABELS + PTEST_LABELS:
        # -1 disables server/pilot retries; otherwise leave room for two retries.
        if values["maxattempt"] == -1:
            values["maxattempt"] = values["attemptnr"]
        elif values["maxattempt"] <= values["attemptnr"]:
            values["maxattempt"] = values["attemptnr"] + 2
    if label in ANALYSIS_LABELS:
        # Upstream encodes the number of build and run jobs of the submission in taskID.
        values["taskid"] = n_build + ((n_jobs - n_build) << 1)
        if not may_use_working_group(identity, values.get("workinggroup")):
            values["workinggroup"] = None
    if not values.get("resource_type"):
        values["resource_type"] = classify(corecount=values.get("corecount"), minramcount=values.get("minramcount"))
    return Job(**values)


def _substitute(text: str | None, job: Job) -> str | None:
    if not text:
        return text
    text = text.replace("$PANDAID", f"{job.pandaid:05d}")
    if job.prodsourcelabel != "managed" and job.jobsetid is not None:
        text = text.replace("$JOBSETID", str(job.jobsetid))
    return text


def jobs_submit(*, identity: Identity, jobs: list[JobSpec], host: str = "") -> list[list]:
    """Insert the jobs in ``defined``; per job ``[PandaID, jobDefinitionID, jobName or {"jobsetID": …}]``."""
    jobs = jobs[:MAX_JOBS]
    queues = jobs_submit_check(identity=identity, jobs=jobs)
    now = utcnow()
    n_build = 1 if any(_label(spec) == "panda" for spec in jobs) else 0
    classify = resource_type_classifier()
    with transaction.atomic():
        rows = [
            _new_job(
                identity=identity,
                spec=spec,
                queue=queues[spec.fields["computingsite"]],
                host=host,
                now=now,
                n_jobs=len(jobs),
                n_build=n_build,
                classify=classify,
            )
            for spec in jobs
        ]
        Job.objects.bulk_create(rows)
        _number_analysis_jobs(rows)
        JobParameters.objects.bulk_create(
            [
                JobParameters(job=row, jobparameters=_substitute(spec.job_parameters, row) or "")
                for row, spec in zip(rows, jobs, strict=True)
            ]
        )
        files = []
        for row, spec in zip(rows, jobs, strict=True):
            for values in spec.files:
                jobfile = JobFile(job=row, **values)
                jobfile.lfn = _substitute(jobfile.lfn, row)
                if jobfile.scope is None and jobfile.type in (FileType.OUTPUT, FileType.LOG) and row.vo == "atlas":
                    scope = extract_scope(jobfile.dataset)
                    jobfile.scope = scope if scope and len(scope) <= 30 else None
                files.append(jobfile)
        JobFile.objects.bulk_create(files)
        job_log_creation(rows, reason="submitted")
        pandaids = [row.pandaid for row in rows]
        transaction.on_commit(lambda: run_setupper.delay(pandaids))
    return [_submission_answer(row) for row in rows]


def _number_analysis_jobs(rows: list[Job]) -> None:
    """Analysis jobs without a jobset/definition id get the first PandaID of the submission (unique, race-free).

    Upstream draws both from per-user counters; any unique number serves the same purpose.
    """
    first = rows[0].pandaid
    needs = {
        "jobsetid": [
            r for r in rows if r.prodsourcelabel in ANALYSIS_LABELS + PTEST_LABELS and r.jobsetid in (None, -1)
        ],
        "jobdefinitionid": [
            r for r in rows if r.prodsourcelabel in ANALYSIS_LABELS and r.jobdefinitionid in (None, -1)
        ],
    }
    for column, targets in needs.items():
        for start in range(0, len(targets), _CHUNK):
            chunk = targets[start : start + _CHUNK]
            Job.objects.filter(pandaid__in=[r.pandaid for r in chunk]).update(**{column: first})
        for row in targets:
            setattr(row, column, first)


def _submission_answer(row: Job) -> list:
    if row.prodsourcelabel in ANALYSIS_LABELS + PTEST_LABELS:
        return [row.pandaid, row.jobdefinitionid, {"jobsetID": row.jobsetid}]
    return [row.pandaid, row.jobdefinitionid, row.jobname]
