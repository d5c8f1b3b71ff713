"""What a job's error codes mean: the components of states.md §9.1 and the descriptions of their codes.

One table for every page that explains an error (the job page, the error summary). Pilot codes come
from the pilot's own table (:mod:`pilot.errors`, pilot-harvester.md §8.2) so the two never drift;
server-side codes are states.md §9.2. A code nobody documented gets an empty description.
"""

from dataclasses import dataclass

from pilot import errors as pilot_errors


@dataclass(frozen=True)
class Component:
    name: str  # the monitor's name, also the ``<name>errorcode=`` filter prefix's component
    code_field: str
    diag_field: str | None


# states.md §9.1, in the order the monitor lists them.
COMPONENTS: tuple[Component, ...] = (
    Component("pilot", "piloterrorcode", "piloterrordiag"),
    Component("exe", "exeerrorcode", "exeerrordiag"),
    Component("transform", "transexitcode", None),
    Component("ddm", "ddmerrorcode", "ddmerrordiag"),
    Component("jobdispatcher", "jobdispatchererrorcode", "jobdispatchererrordiag"),
    Component("taskbuffer", "taskbuffererrorcode", "taskbuffererrordiag"),
    Component("sup", "superrorcode", "superrordiag"),
    Component("brokerage", "brokerageerrorcode", "brokerageerrordiag"),
)
COMPONENT_BY_NAME = {component.name: component for component in COMPONENTS}
ERROR_FIELDS = tuple(field for c in COMPONENTS for field in (c.code_field, c.diag_field) if field)

_TASKBUFFER_ES = {
    111: "event service: retried",
    112: "event service: merge",
    113: "event service: merge failed",
    114: "event service: maximum attempts reached",
    115: "event service: waiting for other consumers",
    116: "event service: unused",
    117: "event service: no events processed",
    118: "event service: last consumer unprocessed",
    119: "event service: all event ranges failed",
    120: "event service: kill OK",
    121: "event service: kill NG",
    122: "event service: preemption",
    123: "event service: no event",
    124: "event service: inconsistent input",
    125: "event service: no event-service queues",
    126: "event service: bad status",
}

SERVER_DESCRIPTIONS: dict[str, dict[int, str]] = {
    "jobdispatcher": {
        100: "lost heartbeat: the pilot stopped sending updates (Watcher)",
        101: "job recovery failed",
        102: "sent job without pilot reply",
        103: "timeout in holding",
        104: "timeout in transferring",
        105: "timeout in another state",
    },
    "taskbuffer": {
        100: "killed (EC_Kill)",
        101: "transfer timeout",
        102: "expired",
        103: "aborted",
        104: "wait timeout",
        105: "reassigned by rebrokerage",
        106: "retried by the server",
        107: "retried by the pilot",
        110: "lost file",
        **_TASKBUFFER_ES,
        130: "fast rebrokerage (overloaded queue)",
        200: "job-cloning semaphore not obtained",
        300: "worker done before job",
    },
    "ddm": {
        100: "Setupper failure: input could not be shipped to the queue",
        101: "GUID problem",
        200: "Adder: bad or missing output report entry",
        201: "subscription failure",
        203: "location registration failure",
        204: "missing nEvents",
        205: "inconsistent GUID",
        206: "wrong storage (RSE) configuration",
    },
    "sup": {
        1: "INVALID_BATCH_ID: the worker's batch id is not valid",
        2: "WORKER_ALREADY_DONE: the worker ended before the job",
    },
}

# Payload exit codes with a meaning of their own (pilot-harvester.md §8.1).
TRANSFORM_DESCRIPTIONS = {
    2: "setup timed out (pilot error 1378 LSETUPTIMEDOUT)",
    3: "remote file open timed out (pilot error 1368 REMOTEFILEOPENTIMEDOUT)",
    251: "unknown transform failure (pilot error 1315)",
    -1: "unknown transform failure (pilot error 1315)",
    1367: "command timed out (pilot error 1367)",
}


def error_description(component: str, code: int | str | None) -> str:
    """The description of ``code`` of ``component``; empty when unknown or not an error."""
    try:
        number = int(code) if code not in (None, "") else 0
    except (TypeError, ValueError):
        return ""
    if not number:
        return ""
    if component == "pilot":
        # Negated stage-out codes ask for a retry (pilot-harvester.md §8.1): same meaning.
        name = pilot_errors.name(number)
        return "" if name == "UNKNOWN" else f"{name}: {pilot_errors.message(number)}"
    if component in ("transform", "exe"):
        return TRANSFORM_DESCRIPTIONS.get(number, "payload exit code" if component == "transform" else "")
    return SERVER_DESCRIPTIONS.get(component, {}).get(number, "")


def _is_error(value) -> bool:
    if value in (None, ""):
        return False
    try:
        return int(value) != 0
    except (TypeError, ValueError):
        return True  # a non-numeric transExitCode is an error text of its own


def job_errors(job) -> list[dict]:
    """The job's non-zero error codes as ``{component, code, diag, description}``, in §9.1 order.

    ``job`` is a :class:`~apps.jobs.models.Job` or a dict with the error fields.
    """
    get = job.get if isinstance(job, dict) else lambda field: getattr(job, field, None)
    found = []
    for component in COMPONENTS:
        code = get(component.code_field)
        if not _is_error(code):
            continue
        found.append(
            {
                "component": component.name,
                "code": code,
                "diag": (get(component.diag_field) or "") if component.diag_field else "",
                "description": error_description(component.name, code),
            }
        )
    return found
