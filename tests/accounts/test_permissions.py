import pytest

from apps.accounts.identity import ANONYMOUS, Identity
from apps.accounts.permissions import may_command_task, may_ignore_hard_exhausted

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
