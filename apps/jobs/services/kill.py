"""Killing and reassigning jobs (spec/states.md §4, protocol.md §10.2).

* Queued jobs (defined group, ``activated``, ``throttled``) are archived at once with the result
  the kill code prescribes (:data:`KILL_CODES`): ``closed`` or ``cancelled``, a taskbuffer error
  code and diag, a ``jobSubStatus``; their output files (and log) become ``failed``.
* Dispatched jobs (``sent``, ``starting``, ``running``) keep their state: they only get
  ``commandToPilot='tobekilled'`` with the kill's taskbuffer code/diag. The pilot sees the command
  with its next heartbeat, kills the payload and reports ``failed``; the Adder then archives the job
  as ``cancelled`` (or leaves it ``failed`` for the retry codes 7/8, see ``adder.KEEP_FAILED``).
* Force kills archive a dispatched job as ``cancelled`` at once: codes 9 and 52 on production
  (non ``user``/``panda``) or event-service jobs, and code 99, the forced variant of 91 that exists
  to kill analysis jobs with the production role.
* Jobs that already reported (``holding``, ``transferring``, ``merging``) or are final are not
  killed: the answer for them is ``False``.

``kill_options``: ``keepUnmerged`` leaves the job's output files as they are (only the log becomes
``failed``), ``jobSubStatus=<x>`` records ``<x>`` as the sub-status (what code 60 needs).

Reassign closes queued jobs with kill code 51 (``closed``/``toreassign``) rather than moving the
same PandaID back to ``defined``: states never go backwards (states.md §1), every job is generated
by JEDI from its task's input files, and a ``toreassign`` job releases those files so that JEDI
regenerates the work as a new job that goes through brokerage afresh. Dispatched jobs are left
running: reassigning them would throw away work in progress.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from apps.accounts.identity import Identity
from apps.accounts.permissions import ANALYSIS_LABELS, may_kill_job, may_kill_job_by_email, may_reassign_job
from apps.core.timeutil import format_wire_time, utcnow
from apps.jobs.models import FileType, Job, JobFile
from apps.jobs.services.transitions import StaleStatus, job_change_status
from apps.jobs.states import DISPATCHED, JobStatus

QUEUED = frozenset(
    {
        JobStatus.PENDING,
        JobStatus.WAITING,
        JobStatus.DEFINED,
        JobStatus.ASSIGNED,
        JobStatus.ACTIVATED,
        JobStatus.THROTTLED,
    }
)
TOBEKILLED = "tobekilled"
REASSIGN_CODE = 51

# taskBufferErrorCode values (states.md §9.2).
EC_KILL = 100
EC_EXPIRE = 102
EC_ABORTED = 103
EC_WAIT_TIMEOUT = 104
EC_REASSIGNED = 105
EC_RETRIED = 106
EC_FAST_REBROKERAGE = 130

# eventService values of event-service jobs (plain ES, co-jumbo, fine-grained).
EVENT_SERVICE_FLAGS = frozenset({1, 5, 6})


@dataclass(frozen=True)
class KillCode:
    """What a kill code does to a queued job; ``diag`` may use {killer}, {status} and {since}."""

    status: str
    error_code: int
    diag: str
    sub_status: str | None = None


_EXPIRED = "expired in {status}. status unchanged since {since}"
KILL_CODES: dict[int, KillCode] = {
    2: KillCode(JobStatus.CLOSED, EC_EXPIRE, _EXPIRED, "toreassign"),
    3: KillCode(JobStatus.CANCELLED, EC_ABORTED, "aborted by {killer}"),
    4: KillCode(JobStatus.CLOSED, EC_WAIT_TIMEOUT, _EXPIRED, "toreassign"),
    7: KillCode(JobStatus.CANCELLED, EC_RETRIED, "retried by the server. killed by {killer}"),
    8: KillCode(JobStatus.CANCELLED, EC_REASSIGNED, "reassigned to another site by rebrokerage. killed by {killer}"),
    9: KillCode(JobStatus.CANCELLED, EC_KILL, "force killed by {killer}"),
    10: KillCode(JobStatus.CLOSED, EC_FAST_REBROKERAGE, "fast rebrokerage due to an overloaded queue"),
    50: KillCode(JobStatus.CANCELLED, EC_KILL, "killed by {killer}"),
    51: KillCode(JobStatus.CLOSED, EC_KILL, "reassigned by {killer}", "toreassign"),
    52: KillCode(JobStatus.CANCELLED, EC_KILL, "force killed by {killer}"),
    55: KillCode(JobStatus.CLOSED, EC_KILL, "killed since task is (almost) done", "taskdone"),
    60: KillCode(JobStatus.CLOSED, EC_KILL, "workload was terminated by the pilot without actual work"),
    91: KillCode(JobStatus.CANCELLED, EC_KILL, "killed by {killer}"),
    99: KillCode(JobStatus.CANCELLED, EC_KILL, "force killed by {killer}"),
}
# No code, or one the table does not know (upstream accepts any): a plain kill.
DEFAULT_KILL = KillCode(JobStatus.CANCELLED, EC_KILL, "killed by {killer}")


class KillOptionError(ValueError):
    pass


@dataclass(frozen=True)
class KillOptions:
    keep_unmerged: bool = False
    job_sub_status: str | None = None


def kill_options_parse(options: Iterable | str | None) -> KillOptions:
    """``["keepUnmerged", "jobSubStatus=x"]`` or the legacy comma-joined ``"keepUnmerged,jobSubStatus=x"``."""
    if options is None:
        return KillOptions()
    items = [options] if isinstance(options, str) else list(options)
    keep_unmerged = False
    sub_status = None
    for item in items:
        if not isinstance(item, str):
            raise KillOptionError(f"kill options must be strings, got {item!r}")
        for option in (part.strip() for part in item.split(",")):
            if not option:
                continue
            if option == "keepUnmerged":
                keep_unmerged = True
            elif option.startswith("jobSubStatus="):
                sub_status = option.split("=", 1)[1].strip()[:80] or None
            else:
                raise KillOptionError(f"unknown kill option {option!r} (keepUnmerged, jobSubStatus=<x>)")
    return KillOptions(keep_unmerged=keep_unmerged, job_sub_status=sub_status)


def kill_code_for(code: int | None) -> KillCode:
    return KILL_CODES.get(code, DEFAULT_KILL) if code is not None else DEFAULT_KILL


def _is_force_kill(job: Job, code: int | None) -> bool:
    if code == 99:
        return True
    if code in (9, 52):
        return job.prodsourcelabel not in ANALYSIS_LABELS or job.eventservice in EVENT_SERVICE_FLAGS
    return False


def _diag(kill: KillCode, job: Job, killer: str) -> str:
    since = format_wire_time(job.statechangetime or job.modificationtime) or "unknown"
    return kill.diag.format(killer=killer, status=job.jobstatus, since=since)


def _archive(job: Job, *, new: str, kill: KillCode, code: int | None, options: KillOptions, killer: str) -> None:
    now = utcnow()
    changes = {
        "taskbuffererrorcode": kill.error_code,
        "taskbuffererrordiag": _diag(kill, job, killer),
        "jobsubstatus": options.job_sub_status or kill.sub_status,
        "modificationtime": now,
        "endtime": job.endtime or now,
    }
    if job.jobstatus in DISPATCHED:
        changes["commandtopilot"] = TOBEKILLED
    released = [FileType.LOG] if options.keep_unmerged else [FileType.OUTPUT, FileType.LOG]
    with transaction.atomic():
        job_change_status(job, new=new, changes=changes, reason=f"killed code={code} by {killer}")
        JobFile.objects.filter(job_id=job.pandaid, type__in=released).update(status="failed", modificationtime=now)


def _mark_tobekilled(job: Job, *, kill: KillCode, options: KillOptions, killer: str) -> bool:
    """Ask the pilot to kill the payload; not a state change, and modificationTime (the heartbeat) stays."""
    changes = {
        "commandtopilot": TOBEKILLED,
        "taskbuffererrorcode": kill.error_code,
        "taskbuffererrordiag": _diag(kill, job, killer)[:300],
    }
    if options.job_sub_status:
        changes["jobsubstatus"] = options.job_sub_status
    rows = Job.objects.filter(pandaid=job.pandaid, jobstatus=job.jobstatus).update(**changes)
    if rows == 1:
        for field, value in changes.items():
            setattr(job, field, value)
    return rows == 1


def job_kill(
    job: Job, *, code: int | None, options: KillOptions = KillOptions(), killer: str, queued_only: bool = False
) -> bool:
    """Kill one job without a permission check (system actors: Watcher, JEDI, operators).

    ``queued_only`` (reassign) leaves the job alone once it has been dispatched.
    """
    kill = kill_code_for(code)
    for _ in range(3):
        try:
            if job.jobstatus in QUEUED:
                _archive(job, new=kill.status, kill=kill, code=code, options=options, killer=killer)
                return True
            if job.jobstatus in DISPATCHED and not queued_only:
                if _is_force_kill(job, code):
                    _archive(job, new=JobStatus.CANCELLED, kill=kill, code=code, options=options, killer=killer)
                    return True
                if job.commandtopilot == TOBEKILLED:
                    return True
                if _mark_tobekilled(job, kill=kill, options=options, killer=killer):
                    return True
            else:
                return False
        except StaleStatus:
            pass
        # The job moved while we looked at it (dispatched, reported, killed by someone else): look again.
        refreshed = Job.objects.filter(pandaid=job.pandaid).first()
        if refreshed is None:
            return False
        job = refreshed
    return False


def _email_of(identity: Identity) -> str | None:
    if identity.user_id is None:
        return None
    from django.contrib.auth import get_user_model

    email = get_user_model().objects.filter(pk=identity.user_id).values_list("email", flat=True).first()
    return email or None


def jobs_kill(
    *,
    identity: Identity,
    pandaids: list[int],
    code: int | None = None,
    kill_options: Iterable | str | None = None,
    use_email_as_id: bool = False,
) -> list[bool]:
    """Kill jobs on behalf of a caller: one boolean per requested PandaID, in order."""
    options = kill_options_parse(kill_options)
    email = _email_of(identity) if use_email_as_id else None
    jobs = Job.objects.in_bulk(set(pandaids))
    killer = identity.compact_name
    results = []
    for pandaid in pandaids:
        job = jobs.get(pandaid)
        if job is None:
            results.append(False)
            continue
        facts = {"owner": job.produsername, "label": job.prodsourcelabel, "working_group": job.workinggroup}
        allowed = (
            may_kill_job_by_email(identity, email=email, code=code, **facts)
            if email
            else may_kill_job(identity, code=code, **facts)
        )
        results.append(allowed and job_kill(job, code=code, options=options, killer=killer))
    return results


def jobs_kill_by_system(
    *, pandaids: list[int], code: int | None = None, kill_options: Iterable | str | None = None, killer: str = "panda"
) -> list[bool]:
    """Operator/system kill (management command, JEDI): no permission check."""
    options = kill_options_parse(kill_options)
    jobs = Job.objects.in_bulk(set(pandaids))
    return [
        (job := jobs.get(pandaid)) is not None and job_kill(job, code=code, options=options, killer=killer)
        for pandaid in pandaids
    ]


def jobs_reassign(*, identity: Identity, pandaids: list[int]) -> list[bool]:
    """Close queued jobs with ``toreassign`` (kill code 51) so that JEDI regenerates them."""
    jobs = Job.objects.in_bulk(set(pandaids))
    killer = identity.compact_name
    results = []
    for pandaid in pandaids:
        job = jobs.get(pandaid)
        ok = (
            job is not None
            and job.jobstatus in QUEUED
            and may_reassign_job(
                identity, owner=job.produsername, label=job.prodsourcelabel, working_group=job.workinggroup
            )
            and job_kill(job, code=REASSIGN_CODE, killer=killer, queued_only=True)
        )
        results.append(ok)
    return results
