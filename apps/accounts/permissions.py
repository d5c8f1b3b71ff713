"""The permission matrix of iam.md §11, in one place.

Every rule is a function ``check_<action>(identity, **facts) -> Decision`` that says whether the
caller may act and why (or why not). :data:`ACTIONS` registers them under the action names that
``explain(identity, action, **facts)`` and the ``system/whoami`` endpoint accept. The boolean
``may_*`` functions that the dispatcher, the job and task services and the Harvester endpoints call
are thin wrappers over the same rules, so each rule is written once.

Rules take facts, never look anything up: whoever asks passes the job's or task's owner, label,
status (``apps.jobs.selectors.permissions`` and ``apps.jedi.selectors.permissions`` read them).
A banned caller (``PANDA_BANNED_USERS``, compact names) is refused every action.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings

from apps.accounts.identity import Identity

USER_LABELS_PRODUCTION_MAY_KILL_CODES = frozenset({2, 4, 7, 8, 9, 10, 50, 51, 52, 91, 99})
ANALYSIS_LABELS = frozenset({"user", "panda"})
PRODUCTION_LABELS = frozenset({"managed", "test"})
# Labels a non-production caller may not give its tasks (they become ``anal`` tasks of the caller).
PRODUCTION_TASK_LABELS = PRODUCTION_LABELS
DEBUG_LIMIT_OWNER = 3
DEBUG_LIMIT_WORKING_GROUP = 10
REASSIGN_CODE = 51
NO_ROLE_MESSAGE = "no production/pilot role in VOMS FQANs or non pilot owner"
AUTHENTICATION_REQUIRED = "an authenticated identity is required"
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
# Task command -> its action name (what whoami and the monitor ask about).
TASK_COMMAND_ACTIONS = {
    "kill": "kill_task",
    "finish": "finish_task",
    "retry": "retry_task",
    "incexec": "reload_task",
    "reassign": "reassign_task",
    "pause": "pause_task",
    "resume": "resume_task",
    "release": "release_task",
    "avalanche": "avalanche_task",
    "reactivate": "reactivate_task",
    "change_priority": "change_task_priority",
    "change_attribute": "change_task_attribute",
    "change_split_rule": "change_task_split_rule",
    "reassign_global_share": "reassign_task_global_share",
    "enable_jumbo_jobs": "enable_jumbo_jobs",
    "enable_job_cloning": "enable_job_cloning",
    "disable_job_cloning": "disable_job_cloning",
    "increase_attempts": "increase_task_attempts",
}


@dataclass(frozen=True)
class Decision:
    """Whether an action is allowed, and the reason in words a user can act on."""

    allowed: bool
    reason: str


class UnknownAction(ValueError):
    """``explain`` was asked about an action it does not know, or with facts the action does not take."""


def _allow(reason: str) -> Decision:
    return Decision(True, reason)


def _deny(reason: str) -> Decision:
    return Decision(False, reason)


def is_banned(identity: Identity) -> bool:
    """Banned users (a configured list of compact names) get HTTP 403 on every API call (iam.md §11)."""
    return identity.authenticated and identity.compact_name in settings.PANDA_BANNED_USERS


def _refusal(identity: Identity) -> Decision | None:
    """The refusal every action shares: nobody, or a banned somebody."""
    if not identity.authenticated:
        return _deny(AUTHENTICATION_REQUIRED)
    if is_banned(identity):
        return _deny(f"{identity.compact_name} is banned")
    return None


def is_owner(identity: Identity, owner_name: str | None) -> bool:
    return identity.authenticated and bool(owner_name) and owner_name == identity.compact_name


def _owner_text(owner: str | None) -> str:
    return repr(owner) if owner else "nobody"


# --- API access, pilots and Harvester -------------------------------------------------------------


def check_call_api(identity: Identity) -> Decision:
    """Any API call: anonymous callers pass here (each endpoint says whether it needs more); banned ones not."""
    if is_banned(identity):
        return _deny(f"{identity.compact_name} is banned")
    if not identity.authenticated:
        return _allow("anonymous: only endpoints that need no authentication answer")
    return _allow(f"authenticated as {identity.compact_name}")


def check_get_jobs(identity: Identity, *, prod_source_label: str | None = None, legacy: bool = False) -> Decision:
    """getJob / ``pilot/acquire_jobs``: production any label; others only ``user``, and only their own jobs."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if identity.is_production:
        return _allow("production role: jobs of any label")
    if legacy and identity.is_pilot:
        return _allow("pilot role: jobs of any label through the legacy getJob")
    if prod_source_label == "user":
        return _allow(
            f"without the production role: only the caller's own user jobs (prodUserName={identity.compact_name})"
        )
    label = prod_source_label or "managed (the default)"
    if identity.is_pilot:
        return _deny(
            f"prodSourceLabel={label} needs the production role; the pilot role suffices only for legacy getJob"
        )
    return _deny(f"prodSourceLabel={label} needs the production role; without it only prodSourceLabel=user")


def _dispatches_any_job(identity: Identity, *, legacy: bool) -> bool:
    return identity.is_production or (legacy and identity.is_pilot)


def check_update_jobs(identity: Identity, *, legacy: bool = False) -> Decision:
    """updateJob, bulk updates, worker pilot status, worker-node updates: production (legacy: also pilot)."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if identity.is_production:
        return _allow("production role")
    if identity.is_pilot:
        if legacy:
            return _allow("pilot role (legacy updates)")
        return _deny("the pilot role suffices only for legacy updates; v1 needs the production role")
    return _deny(f"{NO_ROLE_MESSAGE}: job updates need the production or pilot role")


def check_get_proxy_key(identity: Identity) -> Decision:
    """``getProxyKey`` on getJob: the credential keys go to production callers only (protocol.md §5.1)."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if identity.is_production:
        return _allow("production role")
    return _deny("proxy keys are sent to production callers only")


def check_manage_harvester(identity: Identity) -> Decision:
    """Harvester commands, acknowledgements, sweeps, slot targets: production."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if identity.is_production:
        return _allow("production role")
    return _deny("commanding Harvester needs the production role")


def check_report_harvester(identity: Identity) -> Decision:
    """Harvester ``update_workers``, heartbeat, statistics, dialogs, metrics: any authenticated caller."""
    if (refused := _refusal(identity)) is not None:
        return refused
    return _allow("authenticated caller")


def check_register_cache_file(identity: Identity) -> Decision:
    """``file_server/register_cache_file``: production (protocol.md §10.2)."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if identity.is_production:
        return _allow("production role")
    return _deny("registering a cache file needs the production role")


def check_read(identity: Identity) -> Decision:
    """Job status, descriptions, statistics, metaconfig, task queries: any authenticated caller."""
    if (refused := _refusal(identity)) is not None:
        return refused
    return _allow("authenticated caller")


# --- submission -----------------------------------------------------------------------------------


def acts_for_others(identity: Identity) -> bool:
    """Only production may submit on behalf of someone else (job ``prodUserID``, task ``userName``)."""
    return identity.is_production


def may_use_working_group(identity: Identity, working_group: str | None) -> bool:
    """An analysis job keeps the ``workingGroup`` it names only for production or that group's production."""
    return acts_for_others(identity) or (bool(working_group) and working_group in identity.production_working_groups)


def check_submit_jobs(identity: Identity, *, prod_source_label: str | None = None) -> Decision:
    """``job/submit``: authenticated; ``managed`` jobs need production."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if identity.is_production:
        return _allow("production role: jobs of any label")
    if prod_source_label == "managed":
        return _deny(f"{identity.compact_name} is missing production for prodSourceLabel=managed submission")
    return _allow(f"authenticated: non-managed jobs, owned by {identity.compact_name}")


def check_submit_task(identity: Identity, *, prod_source_label: str | None = None) -> Decision:
    """``task/submit``: authenticated; non-production submissions become ``anal`` tasks of the caller."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if identity.is_production:
        return _allow("production role: tasks of any label, on behalf of any user")
    if prod_source_label in PRODUCTION_TASK_LABELS:
        return _deny(f"prodSourceLabel={prod_source_label} needs the production role")
    return _allow(f"authenticated: submitted as an anal task owned by {identity.compact_name}")


# --- jobs -----------------------------------------------------------------------------------------


def check_kill_job(
    identity: Identity,
    *,
    owner: str | None = None,
    prod_source_label: str | None = None,
    working_group: str | None = None,
    code: int | None = None,
    email: str | None = None,
) -> Decision:
    """Owner (or, with ``use_email_as_id``, the owner's e-mail); production (``user``/``panda`` jobs only with
    the codes of iam.md §11); working-group production for matching ``managed``/``test`` jobs."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if is_owner(identity, owner):
        return _allow("job owner")
    if email and owner == email:
        return _allow("job owner (by e-mail address)")
    if identity.is_production:
        if prod_source_label not in ANALYSIS_LABELS:
            return _allow("production role")
        if code in USER_LABELS_PRODUCTION_MAY_KILL_CODES:
            return _allow(f"production role with code {code} for a {prod_source_label} job")
        codes = ", ".join(map(str, sorted(USER_LABELS_PRODUCTION_MAY_KILL_CODES)))
        return _deny(f"production may kill {prod_source_label} jobs only with codes {codes}; got code {code}")
    if prod_source_label in PRODUCTION_LABELS and working_group and working_group in identity.production_working_groups:
        return _allow(f"production role of working group {working_group}")
    return _deny(f"not the job owner ({_owner_text(owner)}) and no production role for it")


def check_reassign_job(
    identity: Identity,
    *,
    owner: str | None = None,
    prod_source_label: str | None = None,
    working_group: str | None = None,
) -> Decision:
    """Reassigning is killing with code 51 (JEDI regenerates the job)."""
    return check_kill_job(
        identity, owner=owner, prod_source_label=prod_source_label, working_group=working_group, code=REASSIGN_CODE
    )


def check_set_command(identity: Identity) -> Decision:
    """``job/set_command``: production."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if identity.is_production:
        return _allow("production role")
    return _deny("production role is required to set a command")


def debug_mode_limit(identity: Identity, *, owner: str | None, working_group: str | None) -> int | None:
    """Largest number of simultaneously active debug jobs, ``None`` for no limit, ``0`` for refused."""
    if _refusal(identity) is not None:
        return 0
    if identity.is_production:
        return None
    if working_group and working_group in identity.production_working_groups:
        return DEBUG_LIMIT_WORKING_GROUP
    if is_owner(identity, owner):
        return DEBUG_LIMIT_OWNER
    return 0


def check_set_debug_mode(
    identity: Identity,
    *,
    owner: str | None = None,
    working_group: str | None = None,
    active_debug_jobs: int | None = None,
    on: bool = True,
) -> Decision:
    """Owner (≤ 3 active debug jobs), working-group production (≤ 10 of the group's), production (no limit).

    ``active_debug_jobs`` counts the other active debug jobs that the limit applies to (the owner's own,
    or the working group's); switching debug mode off is never limited.
    """
    if (refused := _refusal(identity)) is not None:
        return refused
    limit = debug_mode_limit(identity, owner=owner, working_group=working_group)
    if limit is None:
        return _allow("production role: no limit on debug jobs")
    if limit == 0:
        return _deny(f"not the job owner ({_owner_text(owner)}), working-group production or production")
    who = f"production role of working group {working_group}" if limit == DEBUG_LIMIT_WORKING_GROUP else "job owner"
    if not on or active_debug_jobs is None:
        return _allow(f"{who}: at most {limit} active debug jobs")
    if active_debug_jobs >= limit:
        return _deny(f"{who}: the limit of {limit} active debug jobs is reached ({active_debug_jobs} active)")
    return _allow(f"{who}: {active_debug_jobs} of at most {limit} active debug jobs")


# --- tasks ----------------------------------------------------------------------------------------


def check_task_command(
    identity: Identity, *, command: str, task_owner: str | None = None, task_status: str | None = None
) -> Decision:
    """Task commands and changes (iam.md §11, protocol.md §10.1).

    Owner (the task's ``userName`` equals the caller's compact name) or production for kill, finish,
    retry, reassign and reload (``incexec``); production only for retrying an ``exhausted`` task and
    for every other command (pause, resume, release, avalanche, reactivate, priority, attempts, ...).
    Unknown commands are refused.
    """
    if command not in TASK_OWNER_COMMANDS and command not in TASK_PRODUCTION_COMMANDS:
        return _deny(f"unknown task command {command!r}")
    if (refused := _refusal(identity)) is not None:
        return refused
    if command == "retry" and task_status == "exhausted":
        if identity.is_production:
            return _allow("production role (retrying an exhausted task)")
        return _deny("retrying an exhausted task needs the production role")
    if command in TASK_PRODUCTION_COMMANDS:
        if identity.is_production:
            return _allow("production role")
        return _deny(f"{command} needs the production role")
    if identity.is_production:
        return _allow("production role")
    if is_owner(identity, task_owner):
        return _allow("task owner")
    return _deny(f"not the task owner ({_owner_text(task_owner)}) and no production role")


def check_ignore_hard_exhausted(identity: Identity) -> Decision:
    """``ignore_hard_exhausted`` on retry/reload: production (silently dropped for others, as upstream)."""
    if (refused := _refusal(identity)) is not None:
        return refused
    if identity.is_production:
        return _allow("production role")
    return _deny("ignore_hard_exhausted needs the production role")


# --- monitor --------------------------------------------------------------------------------------


def check_monitor_read(identity: Identity) -> Decision:
    """Monitor pages and JSON: anonymous read when ``PANDA_MONITOR_ANONYMOUS_READ`` (the default)."""
    if is_banned(identity):
        return _deny(f"{identity.compact_name} is banned")
    if identity.authenticated:
        return _allow(f"authenticated as {identity.compact_name}")
    if settings.PANDA_MONITOR_ANONYMOUS_READ:
        return _allow("anonymous read is allowed")
    return _deny("log in to read the monitor (anonymous read is disabled)")


# --- the registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One row of the matrix: its rule, what it acts on (``job``, ``task`` or nothing) and the facts it takes."""

    name: str
    rule: Callable[..., Decision]
    subject: str = ""
    fixed: tuple[tuple[str, object], ...] = ()

    @cached_property
    def facts(self) -> tuple[str, ...]:
        fixed = {name for name, _ in self.fixed}
        parameters = list(inspect.signature(self.rule).parameters.values())[1:]
        return tuple(parameter.name for parameter in parameters if parameter.name not in fixed)


def _actions() -> dict[str, Action]:
    actions = [
        Action("call_api", check_call_api),
        Action("get_jobs", check_get_jobs),
        Action("get_proxy_key", check_get_proxy_key),
        Action("update_jobs", check_update_jobs),
        Action("submit_jobs", check_submit_jobs),
        Action("submit_task", check_submit_task),
        Action("kill_job", check_kill_job, "job"),
        Action("reassign_job", check_reassign_job, "job"),
        Action("set_command", check_set_command, "job"),
        Action("set_debug_mode", check_set_debug_mode, "job"),
        Action("ignore_hard_exhausted", check_ignore_hard_exhausted),
        Action("acquire_harvester_commands", check_manage_harvester),
        Action("acknowledge_harvester_commands", check_manage_harvester),
        Action("add_sweep_command", check_manage_harvester),
        Action("add_target_slots", check_manage_harvester),
        Action("update_workers", check_report_harvester),
        Action("harvester_heartbeat", check_report_harvester),
        Action("report_worker_statistics", check_report_harvester),
        Action("register_cache_file", check_register_cache_file),
        Action("read_job_status", check_read),
        Action("describe_jobs", check_read),
        Action("read_job_statistics", check_read),
        Action("read_metaconfig", check_read),
        Action("read_tasks", check_read),
        Action("monitor_read", check_monitor_read),
    ]
    actions += [
        Action(name, check_task_command, "task", fixed=(("command", command),))
        for command, name in TASK_COMMAND_ACTIONS.items()
    ]
    return {action.name: action for action in actions}


ACTIONS: dict[str, Action] = _actions()


def explain(identity: Identity, action: str, **facts) -> Decision:
    """Would ``identity`` be allowed ``action`` given ``facts``, and why (not)? :class:`UnknownAction` on misuse."""
    entry = ACTIONS.get(action)
    if entry is None:
        raise UnknownAction(f"unknown action {action!r}; known actions: {', '.join(sorted(ACTIONS))}")
    unexpected = sorted(set(facts) - set(entry.facts))
    if unexpected:
        raise UnknownAction(f"action {action} takes no {', '.join(unexpected)}")
    return entry.rule(identity, **dict(entry.fixed), **facts)


# --- boolean wrappers (what the entry points call) ------------------------------------------------


def may_get_jobs(identity: Identity, requested_label: str | None, *, legacy: bool = False) -> bool:
    """Production may ask any label; others only ``user`` (and then only their own jobs)."""
    return check_get_jobs(identity, prod_source_label=requested_label, legacy=legacy).allowed


def getjob_forced_owner(identity: Identity, *, legacy: bool = False) -> str | None:
    """Non-production callers only ever receive their own jobs."""
    return None if _dispatches_any_job(identity, legacy=legacy) else identity.compact_name


def may_get_proxy_key(identity: Identity) -> bool:
    return check_get_proxy_key(identity).allowed


def may_update_jobs(identity: Identity, *, legacy: bool) -> bool:
    return check_update_jobs(identity, legacy=legacy).allowed


def may_submit_jobs(identity: Identity, labels: set[str]) -> bool:
    return all(check_submit_jobs(identity, prod_source_label=label).allowed for label in labels or {None})


def may_submit_task(identity: Identity, prod_source_label: str | None) -> bool:
    return check_submit_task(identity, prod_source_label=prod_source_label).allowed


def may_kill_job(
    identity: Identity, *, owner: str | None, label: str | None, working_group: str | None, code: int | None
) -> bool:
    return check_kill_job(
        identity, owner=owner, prod_source_label=label, working_group=working_group, code=code
    ).allowed


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
    return check_kill_job(
        identity, owner=owner, prod_source_label=label, working_group=working_group, code=code, email=email
    ).allowed


def may_reassign_job(identity: Identity, *, owner: str | None, label: str | None, working_group: str | None) -> bool:
    return check_reassign_job(identity, owner=owner, prod_source_label=label, working_group=working_group).allowed


def may_set_command(identity: Identity) -> bool:
    return check_set_command(identity).allowed


def may_manage_harvester(identity: Identity) -> bool:
    return check_manage_harvester(identity).allowed


def may_report_harvester(identity: Identity) -> bool:
    return check_report_harvester(identity).allowed


def may_register_cache_file(identity: Identity) -> bool:
    return check_register_cache_file(identity).allowed


def may_read_job_status(identity: Identity) -> bool:
    """getStatus / checkJobStatus and their v1 twins: any authenticated (secure) caller."""
    return check_read(identity).allowed


def may_read_metaconfig(identity: Identity) -> bool:
    """Resource types and site specs: any authenticated caller (protocol.md §8.5, §10.2)."""
    return check_read(identity).allowed


def may_describe_jobs(identity: Identity) -> bool:
    """``job/get_description``: any authenticated caller, like upstream's secure-only check."""
    return check_read(identity).allowed


def may_read_job_statistics(identity: Identity) -> bool:
    """``statistics/*`` job counts (Harvester's worker adjuster): any authenticated caller."""
    return check_read(identity).allowed


def may_read_tasks(identity: Identity) -> bool:
    """``task/get_*`` queries (except the parameter map, which needs no authentication)."""
    return check_read(identity).allowed


def may_command_task(identity: Identity, task_owner: str | None, command: str, *, task_status: str | None) -> bool:
    return check_task_command(identity, command=command, task_owner=task_owner, task_status=task_status).allowed


def may_ignore_hard_exhausted(identity: Identity) -> bool:
    return check_ignore_hard_exhausted(identity).allowed


def may_read_monitor(identity: Identity) -> bool:
    return check_monitor_read(identity).allowed
