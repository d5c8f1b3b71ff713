"""Task actions from the monitor's task page: the same services and permission rules as the API.

Kill, finish, retry, pause and resume are queued for the TaskCommando through
:func:`apps.jedi.services.commands.task_command_enqueue`; a priority change goes through
:func:`~apps.jedi.services.commands.task_change_priority`. Who may do what is
:func:`apps.accounts.permissions.check_task_command` (owner or production; production only for
pause, resume and priority), so the page offers exactly what the API would accept.
"""

from dataclasses import dataclass

from apps.accounts.identity import Identity
from apps.accounts.permissions import check_task_command
from apps.jedi.services.commands import (
    NOT_ALLOWED,
    CommandOutcome,
    InvalidCommand,
    command_allowed,
    task_change_priority,
    task_command_enqueue,
)
from apps.jedi.states import ACTIVE, FROZEN_FOR_CHANGES

# action -> label, in the order the page shows them.
TASK_ACTIONS = {
    "kill": "Kill",
    "finish": "Finish",
    "retry": "Retry",
    "pause": "Pause",
    "resume": "Resume",
    "change_priority": "Change priority",
}
BAD_REQUEST = 400


@dataclass(frozen=True)
class OfferedAction:
    name: str
    label: str
    applicable: bool  # the task's state accepts it now
    note: str


def _applicable(action: str, status: str) -> tuple[bool, str]:
    if action == "change_priority":
        ok = status not in FROZEN_FOR_CHANGES
    elif action == "retry":
        ok = status in ACTIVE or command_allowed(action, status)
    else:
        ok = command_allowed(action, status)
    return ok, "" if ok else f"not accepted while the task is {status}"


def task_actions_offered(identity: Identity, *, task_owner: str, task_status: str) -> list[OfferedAction]:
    """The actions this caller may take on the task (others are hidden), with whether the state accepts them."""
    offered = []
    for name, label in TASK_ACTIONS.items():
        if not check_task_command(identity, command=name, task_owner=task_owner, task_status=task_status).allowed:
            continue
        applicable, note = _applicable(name, task_status)
        offered.append(OfferedAction(name=name, label=label, applicable=applicable, note=note))
    return offered


def task_action_perform(
    identity: Identity, *, jeditaskid: int, action: str, priority: str | None = None, comment: str = ""
) -> CommandOutcome:
    """Run ``action`` for the caller; the outcome's code and message are the API's (protocol.md §10.3).

    Bad input (unknown action, missing or non-integer priority) is code :data:`BAD_REQUEST` and changes nothing.
    """
    if action not in TASK_ACTIONS:
        return CommandOutcome(BAD_REQUEST, f"unknown task action {action!r}: expected one of {', '.join(TASK_ACTIONS)}")
    if action == "change_priority":
        try:
            value = int(str(priority).strip())
        except (TypeError, ValueError):
            return CommandOutcome(BAD_REQUEST, f"priority must be an integer, got {priority!r}")
        return task_change_priority(identity, jeditaskid, value)
    try:
        return task_command_enqueue(identity, jeditaskid, action, comment=comment)
    except InvalidCommand as exc:
        return CommandOutcome(NOT_ALLOWED, str(exc))
