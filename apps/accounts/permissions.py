"""The permission matrix of iam.md §11, in one place.

Every entry point (dispatcher, job and task APIs, Harvester endpoints, monitor actions) asks these
functions; the IAM issue changes how an :class:`Identity` is built, not these rules.
"""

from apps.accounts.identity import Identity

USER_LABELS_PRODUCTION_MAY_KILL_CODES = frozenset({2, 4, 7, 8, 9, 10, 50, 51, 52, 91, 99})
ANALYSIS_LABELS = frozenset({"user", "panda"})
PRODUCTION_LABELS = frozenset({"managed", "test"})
DEBUG_LIMIT_OWNER = 3
DEBUG_LIMIT_WORKING_GROUP = 10
NO_ROLE_MESSAGE = "no production/pilot role in VOMS FQANs or non pilot owner"
# Task commands and changes (iam.md §11): the owner or production may kill, finish, retry, reassign
# and reload (incexec) a task; everything else needs the production role.
TASK_OWNER_COMMANDS = frozenset({"kill", "finish", "retry", "incexec", "reassign"})
TASK_PRODUCTION_COMMANDS = frozenset(
    {
        "pause",
        "resume",
        "release",
        "avalanche",
        "reactivate",
        "change_priority",
        "change_attribute",
        "change_split_rule",
        "reassign_global_share",
        "enable_jumbo_jobs",
        "enable_job_cloning",
        "disable_job_cloning",
        "increase_attempts",
    }
)


def _dispatches_any_job(identity: Identity, *, legacy: bool) -> bool:
    # The legacy getJob also accepts the pilot role (iam.md §4, §6); v1 needs production.
    return identity.is_production or (legacy and identity.is_pilot)


def may_get_jobs(identity: Identity, requested_label: str | None, *, legacy: bool = False) -> bool:
    """Production may ask any label; others only ``user`` (and then only their own jobs)."""
    if not identity.authenticated:
        return False
    return _dispatches_any_job(identity, legacy=legacy) or requested_label == "user"


def getjob_forced_owner(identity: Identity, *, legacy: bool = False) -> str | None:
    """Non-production callers only ever receive their own jobs."""
    return None if _dispatches_any_job(identity, legacy=legacy) else identity.compact_name


def may_update_jobs(identity: Identity, *, legacy: bool) -> bool:
    if not identity.authenticated:
        return False
    return identity.is_production or (legacy and identity.is_pilot)


def may_submit_jobs(identity: Identity, labels: set[str]) -> bool:
    if not identity.authenticated:
        return False
    return identity.is_production or "managed" not in labels


def is_owner(identity: Identity, owner_name: str | None) -> bool:
    return identity.authenticated and bool(owner_name) and owner_name == identity.compact_name


def may_kill_job(
    identity: Identity, *, owner: str | None, label: str | None, working_group: str | None, code: int | None
) -> bool:
    if is_owner(identity, owner):
        return True
    if identity.is_production:
        if label in ANALYSIS_LABELS:
            return code in USER_LABELS_PRODUCTION_MAY_KILL_CODES
        return True
    return label in PRODUCTION_LABELS and bool(working_group) and working_group in identity.production_working_groups


def may_set_command(identity: Identity) -> bool:
    return identity.is_production


def debug_mode_limit(identity: Identity, *, owner: str | None, working_group: str | None) -> int | None:
    """Largest number of simultaneously active debug jobs, ``None`` for no limit, ``0`` for refused."""
    if identity.is_production:
        return None
    if working_group and working_group in identity.production_working_groups:
        return DEBUG_LIMIT_WORKING_GROUP
    if is_owner(identity, owner):
        return DEBUG_LIMIT_OWNER
    return 0


def may_manage_harvester(identity: Identity) -> bool:
    return identity.is_production


def may_report_harvester(identity: Identity) -> bool:
    return identity.authenticated


def may_kill_job_by_email(
    identity: Identity,
    *,
    email: str | None,
    owner: str | None,
    label: str | None,
    working_group: str | None,
    code: int | None,
) -> bool:
    """``use_email_as_id``: jobs whose owner is the caller's e-mail address are the caller's own too."""
    if identity.authenticated and email and owner == email:
        return True
    return may_kill_job(identity, owner=owner, label=label, working_group=working_group, code=code)


def may_read_job_status(identity: Identity) -> bool:
    """getStatus / checkJobStatus and their v1 twins: any authenticated (secure) caller."""
    return identity.authenticated


def may_read_metaconfig(identity: Identity) -> bool:
    """Resource types and site specs: any authenticated caller (protocol.md §8.5, §10.2)."""
    return identity.authenticated


def may_describe_jobs(identity: Identity) -> bool:
    """``job/get_description``: any authenticated caller, like upstream's secure-only check."""
    return identity.authenticated


def may_read_job_statistics(identity: Identity) -> bool:
    """``statistics/*`` job counts (Harvester's worker adjuster): any authenticated caller."""
    return identity.authenticated


def may_command_task(identity: Identity, task_owner: str | None, command: str, *, task_status: str | None) -> bool:
    """Task commands and changes (iam.md §11, protocol.md §10.1).

    Owner (the task's ``userName`` equals the caller's compact name) or production for kill, finish,
    retry, reassign and reload (``incexec``); production only for retrying an ``exhausted`` task and
    for every other command (pause, resume, release, avalanche, reactivate, priority, attempts, ...).
    Unknown commands are refused.
    """
    if not identity.authenticated:
        return False
    if command in TASK_PRODUCTION_COMMANDS or (command == "retry" and task_status == "exhausted"):
        return identity.is_production
    if command in TASK_OWNER_COMMANDS:
        return identity.is_production or is_owner(identity, task_owner)
    return False


def may_ignore_hard_exhausted(identity: Identity) -> bool:
    """``ignore_hard_exhausted`` on retry/reload: production only (silently dropped for others, as upstream)."""
    return identity.is_production
