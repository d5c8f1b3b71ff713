"""Commands to a job's pilot: ``job/set_command`` and debug mode (states.md §5, protocol.md §8.4).

Both are delivered in the ``command`` field of the next heartbeat answer (pilot_updates.py). Debug
mode is the specialHandling flag ``dm``; ``commandToPilot`` holds ``tobekilled`` or a debug command.
"""

from typing import NamedTuple

from apps.accounts.identity import Identity
from apps.accounts.permissions import (
    DEBUG_LIMIT_WORKING_GROUP,
    Decision,
    check_set_debug_mode,
    debug_mode_limit,
    may_set_command,
)
from apps.jobs.models import Job
from apps.jobs.states import ACTIVE_GROUP, DEFINED_GROUP

COMMAND_MAX_LENGTH = 250
DEBUG_FLAG = "dm"
SUCCEEDED = "Succeeded"
OPEN_GROUPS = DEFINED_GROUP | ACTIVE_GROUP
_SPECIALHANDLING_MAX = Job._meta.get_field("specialhandling").max_length


class CommandResult(NamedTuple):
    success: bool
    message: str


def job_set_command(*, identity: Identity, pandaid: int, command: str) -> CommandResult:
    """Set ``commandToPilot`` of a job in the defined or active group (production role only)."""
    if not may_set_command(identity):
        return CommandResult(False, "production role is required to set a command")
    if not command:
        return CommandResult(False, "command must not be empty")
    if len(command) > COMMAND_MAX_LENGTH:
        return CommandResult(False, f"command is longer than {COMMAND_MAX_LENGTH} characters")
    open_jobs = Job.objects.filter(pandaid=pandaid, jobstatus__in=OPEN_GROUPS)
    # Conditional on "not being killed" so a concurrent kill is never overwritten.
    updated = open_jobs.exclude(commandtopilot="tobekilled").update(commandtopilot=command)
    if updated:
        return CommandResult(True, SUCCEEDED)
    if open_jobs.exists():
        return CommandResult(False, "job is being killed")
    return CommandResult(False, f"no active job with PandaID={pandaid}")


def _flags(specialhandling: str | None) -> list[str]:
    return [flag for flag in (specialhandling or "").split(",") if flag]


def _active_debug_jobs(*, owner: str | None = None, working_group: str | None = None, exclude: int) -> list[int]:
    jobs = Job.objects.filter(jobstatus__in=OPEN_GROUPS, specialhandling__contains=DEBUG_FLAG).exclude(pandaid=exclude)
    jobs = jobs.filter(produsername=owner) if owner is not None else jobs.filter(workinggroup=working_group)
    return sorted(
        pandaid
        for pandaid, specialhandling in jobs.values_list("pandaid", "specialhandling")
        if DEBUG_FLAG in _flags(specialhandling)
    )


def _debug_mode_decision(identity: Identity, job: dict, *, pandaid: int, on: bool) -> tuple[Decision, list[int]]:
    """The permission decision for this job, and the other active debug jobs that its limit counts."""
    facts = {"owner": job["produsername"], "working_group": job["workinggroup"]}
    limit = debug_mode_limit(identity, **facts)
    current: list[int] = []
    if on and limit:
        # The limit says whose debug jobs count: the working group's (10) or the owner's own (3).
        if limit == DEBUG_LIMIT_WORKING_GROUP:
            current = _active_debug_jobs(working_group=job["workinggroup"], exclude=pandaid)
        else:
            current = _active_debug_jobs(owner=identity.compact_name, exclude=pandaid)
    decision = check_set_debug_mode(identity, **facts, active_debug_jobs=len(current) if on and limit else None, on=on)
    return decision, current


def _debug_mode_job(pandaid: int) -> dict | None:
    return (
        Job.objects.filter(pandaid=pandaid)
        .values("jobstatus", "specialhandling", "produsername", "workinggroup")
        .first()
    )


def job_debug_mode_explain(*, identity: Identity, pandaid: int) -> Decision | None:
    """Would switching debug mode on for this job be allowed (limits included)? None for an unknown job."""
    job = _debug_mode_job(pandaid)
    if job is None:
        return None
    return _debug_mode_decision(identity, job, pandaid=pandaid, on=True)[0]


def job_set_debug_mode(*, identity: Identity, pandaid: int, on: bool) -> CommandResult:
    """Add or remove the ``dm`` flag; limited to 3 debug jobs per owner, 10 per working group."""
    job = _debug_mode_job(pandaid)
    if job is None:
        return CommandResult(False, f"PandaID={pandaid} not found in active DB")
    if job["jobstatus"] not in OPEN_GROUPS:
        return CommandResult(
            False, f"Cannot set debugMode since the job status is {job['jobstatus']} which is not defined or active"
        )
    limit = debug_mode_limit(identity, owner=job["produsername"], working_group=job["workinggroup"])
    if limit == 0:
        return CommandResult(False, "Permission denied. Not the owner or production manager")
    flags = _flags(job["specialhandling"])
    if on == (DEBUG_FLAG in flags):
        return CommandResult(True, "Already set accordingly")
    decision, current = _debug_mode_decision(identity, job, pandaid=pandaid, on=on)
    if not decision.allowed:
        return CommandResult(
            False,
            f"You already hit the limit on the maximum number of debug subjobs ({limit} jobs). "
            f"Please set the debug mode off for one of the following PandaIDs : {','.join(map(str, current))}",
        )
    flags = [*flags, DEBUG_FLAG] if on else [flag for flag in flags if flag != DEBUG_FLAG]
    new_value = ",".join(flags) or None
    if new_value and len(new_value) > _SPECIALHANDLING_MAX:
        return CommandResult(False, "specialHandling of the job is too long to add the debug flag")
    # Conditional on the value read, so a concurrent change of specialHandling is not lost.
    updated = Job.objects.filter(
        pandaid=pandaid, jobstatus__in=OPEN_GROUPS, specialhandling=job["specialhandling"]
    ).update(specialhandling=new_value)
    if not updated:
        return CommandResult(False, "Failed to update DB")
    return CommandResult(True, SUCCEEDED)
