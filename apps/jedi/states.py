"""Task (JEDI) states, the transition table and the command rules of spec/states.md §7–8."""

from django.db import models


class TaskStatus(models.TextChoices):
    REGISTERED = "registered"
    DEFINED = "defined"
    ASSIGNING = "assigning"
    READY = "ready"
    PENDING = "pending"
    SCOUTING = "scouting"
    SCOUTED = "scouted"
    RUNNING = "running"
    THROTTLED = "throttled"
    PAUSED = "paused"
    PREPARED = "prepared"
    DONE = "done"
    FINISHED = "finished"
    FAILED = "failed"
    EXHAUSTED = "exhausted"
    FINISHING = "finishing"
    PASSED = "passed"
    ABORTING = "aborting"
    TOABORT = "toabort"
    ABORTED = "aborted"
    TORETRY = "toretry"
    TOINCEXEC = "toincexec"
    REREFINE = "rerefine"
    TOBROKEN = "tobroken"
    BROKEN = "broken"
    TOPREPROCESS = "topreprocess"
    PREPROCESSING = "preprocessing"
    STAGING = "staging"
    TOREASSIGN = "toreassign"
    REASSIGNING = "reassigning"


T = TaskStatus

FINAL = frozenset({T.DONE, T.FINISHED, T.FAILED, T.BROKEN, T.ABORTED})
# Final plus the resting states that still accept commands.
RESTING = FINAL | frozenset({T.EXHAUSTED, T.PASSED})
# States in which the JobGenerator makes jobs.
GENERATING = frozenset({T.READY, T.SCOUTING, T.SCOUTED, T.RUNNING, T.PREPROCESSING})
# States in which a task still has (or can get) jobs in flight.
ACTIVE = frozenset({T.READY, T.PENDING, T.SCOUTING, T.SCOUTED, T.RUNNING, T.THROTTLED, T.PREPROCESSING})

_NON_FINAL = frozenset(T) - FINAL
# Commands' intermediate states: any non-final task may be killed, finished or paused.
_COMMANDED = frozenset({T.ABORTING, T.FINISHING, T.PAUSED, T.TOREASSIGN})

TRANSITIONS: dict[str, frozenset[str]] = {
    T.REGISTERED: frozenset({T.DEFINED, T.TOPREPROCESS, T.STAGING, T.TOBROKEN}),
    T.TOPREPROCESS: frozenset({T.PREPROCESSING}),
    T.PREPROCESSING: frozenset({T.REGISTERED, T.TOBROKEN}),
    T.STAGING: frozenset({T.DEFINED, T.READY, T.TOBROKEN}),
    T.DEFINED: frozenset({T.ASSIGNING, T.READY, T.PENDING, T.TOBROKEN, T.FINISHING, T.PREPARED}),
    T.ASSIGNING: frozenset({T.READY, T.PENDING, T.TOBROKEN}),
    T.READY: frozenset({T.SCOUTING, T.RUNNING, T.PENDING, T.TOBROKEN, T.PREPARED, T.THROTTLED, T.ASSIGNING}),
    T.SCOUTING: frozenset({T.SCOUTED, T.RUNNING, T.PENDING, T.TOBROKEN, T.PREPARED, T.EXHAUSTED, T.THROTTLED}),
    T.SCOUTED: frozenset({T.RUNNING, T.PENDING, T.PREPARED}),
    T.RUNNING: frozenset({T.PREPARED, T.PENDING, T.THROTTLED, T.TOBROKEN, T.EXHAUSTED}),
    T.THROTTLED: frozenset({T.RUNNING, T.READY, T.SCOUTING, T.PREPARED}),
    T.PENDING: frozenset({T.DEFINED, T.READY, T.SCOUTING, T.RUNNING, T.ASSIGNING, T.EXHAUSTED, T.PREPARED}),
    T.PREPARED: frozenset({T.DONE, T.FINISHED, T.FAILED, T.EXHAUSTED, T.READY, T.RUNNING, T.SCOUTING}),
    T.EXHAUSTED: frozenset({T.FINISHING, T.TORETRY, T.TOINCEXEC, T.RUNNING, T.READY}),
    T.FINISHING: frozenset({T.PASSED, T.PREPARED}),
    T.PASSED: frozenset({T.DONE, T.FINISHED, T.FAILED}),
    T.ABORTING: frozenset({T.TOABORT}),
    T.TOABORT: frozenset({T.ABORTED}),
    T.ABORTED: frozenset({T.TOINCEXEC}),
    T.TORETRY: frozenset({T.READY, T.RUNNING}),
    T.TOINCEXEC: frozenset({T.REREFINE}),
    T.REREFINE: frozenset({T.DEFINED, T.READY, T.TOBROKEN}),
    T.TOBROKEN: frozenset({T.BROKEN}),
    T.BROKEN: frozenset(),
    T.DONE: frozenset({T.TORETRY, T.TOINCEXEC}),
    T.FINISHED: frozenset({T.TORETRY, T.TOINCEXEC}),
    T.FAILED: frozenset({T.TORETRY, T.TOINCEXEC}),
    T.PAUSED: frozenset(),  # resume returns to oldstatus (added below)
    T.TOREASSIGN: frozenset({T.REASSIGNING}),
    T.REASSIGNING: frozenset({T.READY, T.RUNNING, T.SCOUTING, T.PENDING}),
}

# Commands: kill/finish/pause from any non-final state; paused/reassigning return to any state.
for _state in _NON_FINAL:
    targets = set(TRANSITIONS[_state])
    if _state not in (T.ABORTING, T.TOABORT, T.PREPARED, T.FINISHING, T.PASSED, T.TOBROKEN):
        targets |= {T.ABORTING, T.FINISHING}
    if _state not in (T.PAUSED, T.ABORTING, T.TOABORT):
        targets.add(T.PAUSED)
    if _state not in (T.TOREASSIGN, T.REASSIGNING, T.ABORTING, T.TOABORT):
        targets.add(T.TOREASSIGN)
    TRANSITIONS[_state] = frozenset(targets - {_state})
TRANSITIONS[T.PAUSED] = frozenset(set(T) - FINAL - {T.PAUSED}) | frozenset({T.ABORTING, T.FINISHING})
TRANSITIONS[T.REASSIGNING] = TRANSITIONS[T.REASSIGNING] | frozenset({T.ABORTING, T.FINISHING, T.PAUSED})


class Command(models.TextChoices):
    KILL = "kill"
    FINISH = "finish"
    RETRY = "retry"
    INCEXEC = "incexec"
    REASSIGN = "reassign"
    PAUSE = "pause"
    RESUME = "resume"
    AVALANCHE = "avalanche"
    RELEASE = "release"


_NOT_KILLABLE = frozenset({T.FINISHED, T.DONE, T.PREPARED, T.BROKEN, T.ABORTED, T.TOABORT, T.ABORTING, T.FAILED})

# states.md §8: the states a command is accepted in. None means "any non-final state".
COMMAND_ALLOWED: dict[str, frozenset[str]] = {
    Command.KILL: frozenset(T) - _NOT_KILLABLE,
    Command.FINISH: frozenset(T) - _NOT_KILLABLE,
    Command.RETRY: frozenset({T.FINISHED, T.FAILED}),  # + exhausted for production (see commands)
    Command.INCEXEC: frozenset({T.FINISHED, T.FAILED, T.ABORTED, T.DONE, T.EXHAUSTED}),
    Command.REASSIGN: _NON_FINAL,
    Command.PAUSE: frozenset(T) - {T.FINISHED, T.FAILED, T.DONE, T.ABORTED, T.BROKEN, T.PAUSED},
    Command.RESUME: _NON_FINAL,
    Command.AVALANCHE: _NON_FINAL,
    Command.RELEASE: _NON_FINAL,
}

# The state a task enters when the command is queued (None: no state change at queueing time).
COMMAND_STATE: dict[str, str | None] = {
    Command.KILL: T.ABORTING,
    Command.FINISH: T.FINISHING,
    Command.RETRY: T.TORETRY,
    Command.INCEXEC: T.TOINCEXEC,
    Command.REASSIGN: T.TOREASSIGN,
    Command.PAUSE: T.PAUSED,
    Command.RESUME: None,
    Command.AVALANCHE: None,
    Command.RELEASE: None,
}

# External changes are refused (code 4) in these states unless COMMAND_ALLOWED says otherwise.
FROZEN_FOR_CHANGES = frozenset(
    {T.FINISHED, T.DONE, T.PREPARED, T.BROKEN, T.TOBROKEN, T.ABORTED, T.TOABORT, T.ABORTING, T.FAILED, T.PASSED}
)
