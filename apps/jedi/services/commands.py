"""Task commands from clients: queueing them for the TaskCommando, and the direct task changes.

The return codes and messages are protocol.md §10.3; the rules are states.md §8 and the
permission matrix of iam.md §11 (:func:`apps.accounts.permissions.may_command_task`).

Queued commands (``kill``, ``finish``, ``retry``, ``incexec``, ``reassign``, ``pause``, ``resume``,
``avalanche``, ``release``) become one :class:`~apps.jedi.models.TaskCommand` row; at most one
command per task waits at a time, a second one is refused until the first has run.

**The task's state does not change when a command is queued.** States.md §8 says commands are
queued and executed by JEDI's TaskCommando, and upstream's TaskCommando is also the one that
moves the task into the command's intermediate state (``aborting``, ``finishing``, ``toretry``…)
when it picks the command up (apps/jedi/services/commando.py). Queueing is a pure insert, so it
never races the agent that holds the task's lease; the acceptance checks (state, transition)
are repeated at execution time, and the TaskCommando holds the task's lease while it acts.

A ``retry`` of a task that is still active is not queued (code 5 of §10.3): the failed inputs get
5 more attempts at once and the answer is code 0 (3 when ``new_parameters`` were given, which
are not applied then). Upstream also "finalizes pending failed jobs" there; in this project a
failed job is archived at once and the job-completion feedback has already released its files,
so there are no pending failed jobs and raising the attempts is the whole step.

A ``retry`` of a ``finished`` or ``failed`` task with nothing to retry is refused at once (code 4)
rather than queued to fail at execution where nobody sees it: there must be failed input files it
can reset (at their hard failure limit only with ``ignore_hard_exhausted``) or unprocessed ones
(``ready`` files of the master datasets, e.g. left by a soft ``finish``), see
:func:`~apps.jedi.services.attempts.files_to_retry`. An ``exhausted`` task may always be retried,
and a retry with ``new_parameters`` is an incremental execution that looks for new input.

Direct changes (no queue): :func:`task_change_priority` (the task and its queued jobs) and
:func:`task_increase_attempts` (the inputs' ``maxattempt``).
"""

from typing import Any, NamedTuple

from django.db import IntegrityError, transaction

from apps.accounts.identity import Identity
from apps.accounts.permissions import may_command_task, may_ignore_hard_exhausted
from apps.core.timeutil import utcnow
from apps.jedi.models import CommandStatus, Task, TaskCommand
from apps.jedi.services.attempts import files_increase_attempts, files_to_retry
from apps.jedi.states import (
    ACTIVE,
    COMMAND_ALLOWED,
    COMMAND_STATE,
    FROZEN_FOR_CHANGES,
    TRANSITIONS,
    Command,
    TaskStatus,
)
from apps.jobs.models import Job
from apps.jobs.services.kill import QUEUED

OK = 0
SERVER_ERROR = 1
NOT_FOUND = 2
PERMISSION_DENIED = 3
NOT_ALLOWED = 4
STILL_ACTIVE = 5

ACTIVE_RETRY_INCREASE = 5
REASSIGN_MODES = frozenset({"kill", "soft", "nokill"})
PERMISSION_MESSAGE = "Permission denied: not the task owner or no production role"
# Retry/reload qualifiers recorded with the command (upstream's comQualifier).
RETRY_FLAGS = ("no_child_retry", "discard_events", "disable_staging_mode", "keep_gshare_priority")
# increase_attempts has its own codes (panda-client's increase_attempt_nr docstring).
ATTEMPTS_NOT_FOUND = 1
ATTEMPTS_BAD_STATUS = 2
ATTEMPTS_BAD_VALUE = 4
ATTEMPTS_STATUSES = frozenset({TaskStatus.RUNNING, TaskStatus.SCOUTING, TaskStatus.READY})


class CommandOutcome(NamedTuple):
    code: int
    message: str

    @property
    def success(self) -> bool:
        return self.code == OK


class InvalidCommand(ValueError):
    """Bad command name or parameters: nothing was changed."""


def registered_message(command: str, task_id: int) -> str:
    return f"command={command} is registered for task ID {task_id}. will be executed in a few minutes"


def not_found_message(task_id: int) -> str:
    return f"jediTaskID={task_id} not found"


def not_allowed_message(command: str, status: str) -> str:
    return f"Command rejected: the {command} command is not accepted if the task is in {status} status"


def _checked_parameters(identity: Identity, command: str, parameters: dict | None) -> dict[str, Any]:
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise InvalidCommand(f"parameters must be an object, got {type(parameters).__name__}")
    parameters = dict(parameters)
    new_parameters = parameters.get("new_parameters")
    if new_parameters is not None and not isinstance(new_parameters, dict):
        raise InvalidCommand("new_parameters must be an object of task parameters")
    if command == Command.REASSIGN:
        targets = {key: parameters.get(key) for key in ("site", "cloud", "nucleus")}
        if not any(targets.values()):
            raise InvalidCommand("reassign needs a site, a cloud or a nucleus")
        mode = parameters.get("mode") or "kill"
        if mode not in REASSIGN_MODES:
            raise InvalidCommand(f"mode must be one of {', '.join(sorted(REASSIGN_MODES))}, got {mode!r}")
        parameters["mode"] = mode
    if parameters.get("ignore_hard_exhausted") and not may_ignore_hard_exhausted(identity):
        parameters["ignore_hard_exhausted"] = False
    return parameters


def command_allowed(command: str, status: str) -> bool:
    """states.md §8 plus the transition table: may ``command`` run on a task in ``status``?"""
    allowed = COMMAND_ALLOWED[command] | ({TaskStatus.EXHAUSTED} if command == Command.RETRY else frozenset())
    if status not in allowed:
        return False
    target = COMMAND_STATE[command]
    return target is None or target == status or target in TRANSITIONS.get(status, frozenset())


def task_command_enqueue(
    identity: Identity, task_id: int, command: str, *, parameters: dict | None = None, comment: str = ""
) -> CommandOutcome:
    """Queue ``command`` for the TaskCommando; code and message of protocol.md §10.3."""
    if command not in Command.values:
        raise InvalidCommand(f"unknown task command {command!r}")
    parameters = _checked_parameters(identity, command, parameters)
    task = Task.objects.filter(jeditaskid=task_id).only("jeditaskid", "status", "username").first()
    if task is None:
        return CommandOutcome(NOT_FOUND, not_found_message(task_id))
    if not may_command_task(identity, task.username, command, task_status=task.status):
        return CommandOutcome(PERMISSION_DENIED, PERMISSION_MESSAGE)
    if command == Command.RETRY and task.status in ACTIVE:
        return _retry_active(task, with_new_parameters=bool(parameters.get("new_parameters")))
    if not command_allowed(command, task.status):
        return CommandOutcome(NOT_ALLOWED, not_allowed_message(command, task.status))
    if command == Command.RETRY and (refused := _nothing_to_retry(task, parameters)) is not None:
        return refused
    waiting = TaskCommand.objects.filter(task_id=task_id, status=CommandStatus.QUEUED).values_list("command", flat=True)
    if (queued := waiting.first()) is not None:
        return CommandOutcome(NOT_ALLOWED, _busy_message(queued, task_id))
    try:
        with transaction.atomic():
            TaskCommand.objects.create(
                task_id=task_id,
                command=command,
                owner=identity.compact_name[:250],
                comment=(comment or "")[:500],
                parameters=parameters,
            )
    except IntegrityError:
        # Another request queued a command for this task between our check and our insert.
        return CommandOutcome(NOT_ALLOWED, _busy_message(waiting.first() or "another command", task_id))
    return CommandOutcome(OK, registered_message(command, task_id))


def _busy_message(queued: str, task_id: int) -> str:
    return (
        f"Command rejected: command={queued} is already registered for task ID {task_id} and not yet executed;"
        " try again in a few minutes"
    )


def _nothing_to_retry(task: Task, parameters: dict) -> CommandOutcome | None:
    """Code 4 when a retry of a finished/failed task would find no work (module docstring), else None."""
    if task.status == TaskStatus.EXHAUSTED or parameters.get("new_parameters"):
        return None
    if any(files_to_retry(task, ignore_hard_exhausted=bool(parameters.get("ignore_hard_exhausted")))):
        return None
    return CommandOutcome(
        NOT_ALLOWED,
        f"Command rejected: nothing to retry: the {task.status} task has no failed or unprocessed input files",
    )


def _retry_active(task: Task, *, with_new_parameters: bool) -> CommandOutcome:
    """Code 5 of §10.3: retry the failed inputs of a task that is still running."""
    files_increase_attempts(task, ACTIVE_RETRY_INCREASE)
    message = f"retry has been triggered for failed jobs while the task is still {task.status}"
    return CommandOutcome(PERMISSION_DENIED if with_new_parameters else OK, message)


def task_change_priority(identity: Identity, task_id: int, priority: int) -> CommandOutcome:
    """``task/change_priority``: the task's ``currentpriority`` and its queued jobs' (production only)."""
    task = Task.objects.filter(jeditaskid=task_id).only("jeditaskid", "status", "username").first()
    if task is None:
        return CommandOutcome(NOT_FOUND, not_found_message(task_id))
    if not may_command_task(identity, task.username, "change_priority", task_status=task.status):
        return CommandOutcome(PERMISSION_DENIED, PERMISSION_MESSAGE)
    if task.status in FROZEN_FOR_CHANGES:
        return CommandOutcome(NOT_ALLOWED, not_allowed_message("change_priority", task.status))
    with transaction.atomic():
        changed = (
            Task.objects.filter(jeditaskid=task_id)
            .exclude(status__in=FROZEN_FOR_CHANGES)
            .update(currentpriority=priority, modificationtime=utcnow())
        )
        jobs = 0
        if changed:
            jobs = Job.objects.filter(jeditaskid=task_id, jobstatus__in=QUEUED).update(currentpriority=priority)
    if not changed:
        status = Task.objects.filter(jeditaskid=task_id).values_list("status", flat=True).first()
        return CommandOutcome(NOT_ALLOWED, not_allowed_message("change_priority", status or "unknown"))
    return CommandOutcome(OK, f"{changed} tasks changed; currentPriority={priority} set for {jobs} queued jobs")


def task_increase_attempts(identity: Identity, task_id: int, increase: int) -> CommandOutcome:
    """``task/increase_attempts``: more attempts for the task's unfinished inputs (production only).

    Codes as panda-client documents them: 0 done, 1 unknown task, 2 task status not
    running/scouting/ready (nor paused/pending/throttled from one of them), 3 permission, 4 bad value.
    """
    if isinstance(increase, bool) or not isinstance(increase, int) or increase < 0:
        return CommandOutcome(ATTEMPTS_BAD_VALUE, f"increase must be a positive integer, got {increase}")
    task = Task.objects.filter(jeditaskid=task_id).first()
    if task is None:
        return CommandOutcome(ATTEMPTS_NOT_FOUND, not_found_message(task_id))
    if not may_command_task(identity, task.username, "increase_attempts", task_status=task.status):
        return CommandOutcome(PERMISSION_DENIED, PERMISSION_MESSAGE)
    if task.status in FROZEN_FOR_CHANGES or (
        task.status not in ATTEMPTS_STATUSES and task.oldstatus not in ATTEMPTS_STATUSES
    ):
        return CommandOutcome(
            ATTEMPTS_BAD_STATUS,
            f"command rejected since status={task.status} or oldStatus={task.oldstatus} "
            f"not in {sorted(ATTEMPTS_STATUSES)}",
        )
    increased, reactivated = files_increase_attempts(task, increase)
    return CommandOutcome(OK, f"increased attemptNr for {increased} inputs ({reactivated} reactivated)")
