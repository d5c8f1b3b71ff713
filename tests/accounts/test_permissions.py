import pytest

from apps.accounts.identity import ANONYMOUS, Identity
from apps.accounts.permissions import (
    ACTIONS,
    DEBUG_LIMIT_OWNER,
    DEBUG_LIMIT_WORKING_GROUP,
    Decision,
    UnknownAction,
    acts_for_others,
    check_task_command,
    debug_mode_limit,
    explain,
    getjob_forced_owner,
    may_command_task,
    may_get_jobs,
    may_ignore_hard_exhausted,
    may_kill_job,
    may_kill_job_by_email,
    may_manage_harvester,
    may_report_harvester,
    may_submit_jobs,
    may_update_jobs,
)

OWNER = Identity(user_id=1, username="jdoe", dn="/DC=ch/DC=cern/OU=Users/CN=Jane Doe")
STRANGER = Identity(user_id=2, username="jsmith", dn="/DC=ch/DC=cern/OU=Users/CN=John Smith")
PRODUCTION = Identity(user_id=3, username="prod", dn="/CN=Prod", fqans=("/atlas/Role=production",))
WG_PRODUCTION = Identity(user_id=4, username="wg", dn="/CN=Wg", fqans=("/atlas/phys-higgs/Role=production",))
OWNER_COMMANDS = ["kill", "finish", "retry", "incexec", "reassign"]
PRODUCTION_COMMANDS = ["pause", "resume", "release", "avalanche", "reactivate", "change_priority", "increase_attempts"]


@pytest.mark.parametrize("command", OWNER_COMMANDS)
def test_the_owner_and_production_may_kill_finish_retry_reassign_and_reload_a_task(command):
    assert may_command_task(OWNER, "Jane Doe", command, task_status="running")
    assert may_command_task(PRODUCTION, "Jane Doe", command, task_status="running")
    assert not may_command_task(STRANGER, "Jane Doe", command, task_status="running")
    assert not may_command_task(WG_PRODUCTION, "Jane Doe", command, task_status="running")
    assert not may_command_task(ANONYMOUS, "", command, task_status="running")


@pytest.mark.parametrize("command", PRODUCTION_COMMANDS)
def test_the_other_task_commands_need_the_production_role_even_for_the_owner(command):
    assert may_command_task(PRODUCTION, "Jane Doe", command, task_status="running")
    assert not may_command_task(OWNER, "Jane Doe", command, task_status="running")


def test_retrying_an_exhausted_task_needs_the_production_role():
    assert not may_command_task(OWNER, "Jane Doe", "retry", task_status="exhausted")
    assert may_command_task(PRODUCTION, "Jane Doe", "retry", task_status="exhausted")
    assert may_command_task(OWNER, "Jane Doe", "retry", task_status="failed")


def test_unknown_commands_are_refused_and_ignore_hard_exhausted_is_for_production():
    assert not may_command_task(PRODUCTION, "Jane Doe", "explode", task_status="running")
    assert may_ignore_hard_exhausted(PRODUCTION)
    assert not may_ignore_hard_exhausted(OWNER)


# --- every rule says why: explain(identity, action, **facts) -> Decision ---------------------------

PILOT = Identity(user_id=5, username="pilot", dn="Robot Pilot", fqans=("/atlas/Role=pilot",))
ALL_CODES = "2, 4, 7, 8, 9, 10, 50, 51, 52, 91, 99"
USER_JOB = {"owner": "Jane Doe", "prod_source_label": "user", "working_group": None}
HIGGS_JOB = {"owner": "Jane Doe", "prod_source_label": "managed", "working_group": "phys-higgs"}
OWNED = {"owner": "Jane Doe", "working_group": None}
HIGGS = {"owner": "Jane Doe", "working_group": "phys-higgs"}
RUNNING_TASK = {"task_owner": "Jane Doe", "task_status": "running"}

DECISIONS = [
    # getJob / pilot/acquire_jobs
    (ANONYMOUS, "get_jobs", {"prod_source_label": "user"}, False, "an authenticated identity is required"),
    (PRODUCTION, "get_jobs", {"prod_source_label": "managed"}, True, "production role: jobs of any label"),
    (
        PILOT,
        "get_jobs",
        {"prod_source_label": "managed", "legacy": True},
        True,
        "pilot role: jobs of any label through the legacy getJob",
    ),
    (
        PILOT,
        "get_jobs",
        {"prod_source_label": "managed"},
        False,
        "prodSourceLabel=managed needs the production role; the pilot role suffices only for legacy getJob",
    ),
    (
        OWNER,
        "get_jobs",
        {"prod_source_label": "user"},
        True,
        "without the production role: only the caller's own user jobs (prodUserName=Jane Doe)",
    ),
    (
        OWNER,
        "get_jobs",
        {},
        False,
        "prodSourceLabel=managed (the default) needs the production role; without it only prodSourceLabel=user",
    ),
    # proxy keys on getJob
    (PRODUCTION, "get_proxy_key", {}, True, "production role"),
    (PILOT, "get_proxy_key", {}, False, "proxy keys are sent to production callers only"),
    # job updates
    (PRODUCTION, "update_jobs", {}, True, "production role"),
    (PILOT, "update_jobs", {"legacy": True}, True, "pilot role (legacy updates)"),
    (PILOT, "update_jobs", {}, False, "the pilot role suffices only for legacy updates; v1 needs the production role"),
    (
        OWNER,
        "update_jobs",
        {"legacy": True},
        False,
        "no production/pilot role in VOMS FQANs or non pilot owner: job updates need the production or pilot role",
    ),
    (ANONYMOUS, "update_jobs", {"legacy": True}, False, "an authenticated identity is required"),
    # submission
    (PRODUCTION, "submit_jobs", {"prod_source_label": "managed"}, True, "production role: jobs of any label"),
    (
        OWNER,
        "submit_jobs",
        {"prod_source_label": "managed"},
        False,
        "Jane Doe is missing production for prodSourceLabel=managed submission",
    ),
    (OWNER, "submit_jobs", {"prod_source_label": "user"}, True, "authenticated: non-managed jobs, owned by Jane Doe"),
    (
        PRODUCTION,
        "submit_task",
        {"prod_source_label": "managed"},
        True,
        "production role: tasks of any label, on behalf of any user",
    ),
    (OWNER, "submit_task", {"prod_source_label": "test"}, False, "prodSourceLabel=test needs the production role"),
    (
        OWNER,
        "submit_task",
        {"prod_source_label": "user"},
        True,
        "authenticated: submitted as an anal task owned by Jane Doe",
    ),
    (ANONYMOUS, "submit_task", {}, False, "an authenticated identity is required"),
    # killing and reassigning jobs
    (OWNER, "kill_job", {**USER_JOB, "code": 3}, True, "job owner"),
    (
        STRANGER,
        "kill_job",
        {**USER_JOB, "owner": "jdoe@cern.ch", "email": "jdoe@cern.ch"},
        True,
        "job owner (by e-mail address)",
    ),
    (PRODUCTION, "kill_job", {**USER_JOB, "code": 9}, True, "production role with code 9 for a user job"),
    (
        PRODUCTION,
        "kill_job",
        {**USER_JOB, "code": 3},
        False,
        f"production may kill user jobs only with codes {ALL_CODES}; got code 3",
    ),
    (PRODUCTION, "kill_job", {**HIGGS_JOB, "code": 3}, True, "production role"),
    (WG_PRODUCTION, "kill_job", HIGGS_JOB, True, "production role of working group phys-higgs"),
    (
        WG_PRODUCTION,
        "kill_job",
        {**HIGGS_JOB, "working_group": "phys-top"},
        False,
        "not the job owner ('Jane Doe') and no production role for it",
    ),
    (
        STRANGER,
        "kill_job",
        {**USER_JOB, "owner": None},
        False,
        "not the job owner (nobody) and no production role for it",
    ),
    (PRODUCTION, "reassign_job", USER_JOB, True, "production role with code 51 for a user job"),
    (STRANGER, "reassign_job", USER_JOB, False, "not the job owner ('Jane Doe') and no production role for it"),
    # pilot commands and debug mode
    (PRODUCTION, "set_command", {}, True, "production role"),
    (OWNER, "set_command", {}, False, "production role is required to set a command"),
    (
        PRODUCTION,
        "set_debug_mode",
        {**OWNED, "active_debug_jobs": 50},
        True,
        "production role: no limit on debug jobs",
    ),
    (
        WG_PRODUCTION,
        "set_debug_mode",
        {**HIGGS, "active_debug_jobs": 9},
        True,
        "production role of working group phys-higgs: 9 of at most 10 active debug jobs",
    ),
    (
        WG_PRODUCTION,
        "set_debug_mode",
        {**HIGGS, "active_debug_jobs": 10},
        False,
        "production role of working group phys-higgs: the limit of 10 active debug jobs is reached (10 active)",
    ),
    (
        OWNER,
        "set_debug_mode",
        {**OWNED, "active_debug_jobs": 2},
        True,
        "job owner: 2 of at most 3 active debug jobs",
    ),
    (
        OWNER,
        "set_debug_mode",
        {**OWNED, "active_debug_jobs": 3},
        False,
        "job owner: the limit of 3 active debug jobs is reached (3 active)",
    ),
    (
        OWNER,
        "set_debug_mode",
        {**OWNED, "active_debug_jobs": 3, "on": False},
        True,
        "job owner: at most 3 active debug jobs",
    ),
    (OWNER, "set_debug_mode", OWNED, True, "job owner: at most 3 active debug jobs"),
    (
        STRANGER,
        "set_debug_mode",
        OWNED,
        False,
        "not the job owner ('Jane Doe'), working-group production or production",
    ),
    # tasks
    (OWNER, "kill_task", RUNNING_TASK, True, "task owner"),
    (PRODUCTION, "finish_task", RUNNING_TASK, True, "production role"),
    (STRANGER, "reload_task", RUNNING_TASK, False, "not the task owner ('Jane Doe') and no production role"),
    (
        OWNER,
        "retry_task",
        {**RUNNING_TASK, "task_status": "exhausted"},
        False,
        "retrying an exhausted task needs the production role",
    ),
    (
        PRODUCTION,
        "retry_task",
        {**RUNNING_TASK, "task_status": "exhausted"},
        True,
        "production role (retrying an exhausted task)",
    ),
    (OWNER, "pause_task", RUNNING_TASK, False, "pause needs the production role"),
    (OWNER, "change_task_priority", RUNNING_TASK, False, "change_priority needs the production role"),
    (PRODUCTION, "increase_task_attempts", RUNNING_TASK, True, "production role"),
    (ANONYMOUS, "kill_task", RUNNING_TASK, False, "an authenticated identity is required"),
    (PRODUCTION, "ignore_hard_exhausted", {}, True, "production role"),
    (OWNER, "ignore_hard_exhausted", {}, False, "ignore_hard_exhausted needs the production role"),
    # Harvester and the file server
    (PRODUCTION, "acquire_harvester_commands", {}, True, "production role"),
    (PILOT, "add_sweep_command", {}, False, "commanding Harvester needs the production role"),
    (PILOT, "update_workers", {}, True, "authenticated caller"),
    (ANONYMOUS, "harvester_heartbeat", {}, False, "an authenticated identity is required"),
    (PRODUCTION, "register_cache_file", {}, True, "production role"),
    (OWNER, "register_cache_file", {}, False, "registering a cache file needs the production role"),
    (OWNER, "read_job_status", {}, True, "authenticated caller"),
    (ANONYMOUS, "describe_jobs", {}, False, "an authenticated identity is required"),
    # any API call, the monitor
    (ANONYMOUS, "call_api", {}, True, "anonymous: only endpoints that need no authentication answer"),
    (OWNER, "call_api", {}, True, "authenticated as Jane Doe"),
    (ANONYMOUS, "monitor_read", {}, True, "anonymous read is allowed"),
    (OWNER, "monitor_read", {}, True, "authenticated as Jane Doe"),
]


@pytest.mark.parametrize(("identity", "action", "facts", "allowed", "reason"), DECISIONS)
def test_every_decision_says_why(identity, action, facts, allowed, reason):
    assert explain(identity, action, **facts) == Decision(allowed, reason)


def test_every_action_of_the_matrix_is_registered():
    task_actions = {f"{verb}_task" for verb in ("kill", "finish", "retry", "reload", "reassign", "pause", "resume")}
    assert task_actions | {"change_task_priority", "increase_task_attempts", "enable_jumbo_jobs"} <= set(ACTIONS)
    assert {
        "get_jobs",
        "update_jobs",
        "submit_jobs",
        "submit_task",
        "kill_job",
        "set_command",
        "set_debug_mode",
        "ignore_hard_exhausted",
        "acquire_harvester_commands",
        "acknowledge_harvester_commands",
        "add_sweep_command",
        "add_target_slots",
        "update_workers",
        "harvester_heartbeat",
        "report_worker_statistics",
        "register_cache_file",
        "monitor_read",
    } <= set(ACTIONS)


def test_explain_refuses_unknown_actions_and_facts_an_action_does_not_take():
    with pytest.raises(UnknownAction, match="unknown action 'fly'"):
        explain(OWNER, "fly")
    with pytest.raises(UnknownAction, match="action set_command takes no owner"):
        explain(OWNER, "set_command", owner="Jane Doe")
    with pytest.raises(UnknownAction, match="takes no command"):
        explain(OWNER, "kill_task", command="pause", **RUNNING_TASK)


def test_an_unknown_task_command_is_refused_with_its_name():
    assert check_task_command(PRODUCTION, command="explode") == Decision(False, "unknown task command 'explode'")


def test_a_banned_user_is_refused_every_action_with_the_reason(settings):
    settings.PANDA_BANNED_USERS = ["Prod"]
    banned = Decision(False, "Prod is banned")
    assert explain(PRODUCTION, "call_api") == banned
    assert explain(PRODUCTION, "get_jobs", prod_source_label="managed") == banned
    assert explain(PRODUCTION, "kill_task", **RUNNING_TASK) == banned
    assert explain(PRODUCTION, "monitor_read") == banned
    assert explain(OWNER, "call_api").allowed


def test_the_monitor_refuses_anonymous_readers_when_anonymous_read_is_off(settings):
    settings.PANDA_MONITOR_ANONYMOUS_READ = False
    assert explain(ANONYMOUS, "monitor_read") == Decision(
        False, "log in to read the monitor (anonymous read is disabled)"
    )
    assert explain(OWNER, "monitor_read").allowed


def test_the_boolean_wrappers_agree_with_the_decisions():
    assert may_get_jobs(PILOT, "managed", legacy=True) and not may_get_jobs(PILOT, "managed")
    assert getjob_forced_owner(OWNER) == "Jane Doe" and getjob_forced_owner(PILOT, legacy=True) is None
    assert may_update_jobs(PILOT, legacy=True) and not may_update_jobs(PILOT, legacy=False)
    assert may_submit_jobs(OWNER, {"user"}) and not may_submit_jobs(OWNER, {"user", "managed"})
    assert may_kill_job(PRODUCTION, owner="Jane Doe", label="user", working_group=None, code=91)
    assert not may_kill_job(PRODUCTION, owner="Jane Doe", label="panda", working_group=None, code=None)
    assert may_kill_job_by_email(STRANGER, email="x@y", owner="x@y", label="user", working_group=None, code=None)
    assert debug_mode_limit(WG_PRODUCTION, owner="Jane Doe", working_group="phys-higgs") == DEBUG_LIMIT_WORKING_GROUP
    assert debug_mode_limit(OWNER, owner="Jane Doe", working_group=None) == DEBUG_LIMIT_OWNER
    assert debug_mode_limit(PRODUCTION, owner="Jane Doe", working_group=None) is None
    assert debug_mode_limit(ANONYMOUS, owner="", working_group=None) == 0
    assert may_manage_harvester(PRODUCTION) and not may_manage_harvester(PILOT)
    assert may_report_harvester(PILOT) and not may_report_harvester(ANONYMOUS)
    assert acts_for_others(PRODUCTION) and not acts_for_others(OWNER)
