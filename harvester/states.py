"""Worker and job states (pilot-harvester.md §10.2) and the pilot exit-code table (§8.3)."""

from __future__ import annotations


class WorkerStatus:
    PENDING = "pending"  # recorded, not yet accepted by the batch system
    SUBMITTED = "submitted"
    READY = "ready"
    RUNNING = "running"
    IDLE = "idle"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"


W = WorkerStatus
LIVE = frozenset({W.PENDING, W.SUBMITTED, W.READY, W.RUNNING, W.IDLE})
QUEUED = frozenset({W.PENDING, W.SUBMITTED, W.READY})
FINAL = frozenset({W.FINISHED, W.FAILED, W.CANCELLED, W.MISSED})
ALL = LIVE | FINAL


class JobStatus:
    """A job's sub-status inside Harvester (push modes)."""

    FETCHED = "fetched"  # taken from the server, no worker yet
    SUBMITTED = "submitted"  # bound to a worker waiting in the batch system
    RUNNING = "running"
    TO_TRANSFER = "to_transfer"  # the worker ended; outputs and the final update are pending
    DONE = "done"  # the final update was accepted (or the server no longer wants one)


J = JobStatus
HELD = frozenset({J.FETCHED, J.SUBMITTED, J.RUNNING, J.TO_TRANSFER})


def job_status_for_worker(worker_status: str) -> tuple[str, str | None]:
    """What PanDA is told about a push job of a worker: (job status, jobSubStatus)."""
    if worker_status in (W.PENDING, W.SUBMITTED, W.READY):
        return "starting", None
    if worker_status in (W.FINISHED, W.FAILED):
        return worker_status, None
    if worker_status == W.CANCELLED:
        return "failed", "cancelled"
    if worker_status == W.MISSED:
        return "failed", "missed"
    return "running", None


# Pilot shell exit code -> pilot error code (the inverse of pilot-harvester.md §8.3).
EXIT_TO_PILOT_ERROR = {
    64: 1377,
    65: 1008,
    66: 1199,
    67: 1103,
    68: 1177,
    69: 1098,
    70: 1301,
    71: 1116,
    72: 1117,
    73: 1186,
    74: 1330,
    75: 1332,
    76: 1342,
    77: 1331,
    78: 1359,
    79: 1318,
    80: 1382,
    81: 1213,
    82: 1385,
    83: 1386,
    130: 1208,
    131: 1202,
    135: 1206,
    137: 1200,
    138: 1207,
    139: 1203,
    143: 1201,
    152: 1204,
}
NO_JOBS_EXIT = 82


def pilot_error_for_exit(exit_code: int) -> int:
    if exit_code == 0:
        return 0
    return EXIT_TO_PILOT_ERROR.get(exit_code, -1)


def worker_outcome(exit_code: int) -> tuple[str, int, str]:
    """(worker status, errorCode, diag) for a pilot that exited with ``exit_code``.

    A pilot that found no job (82) did its job: the worker is ``finished`` without an error.
    """
    if exit_code == 0:
        return W.FINISHED, 0, ""
    if exit_code == NO_JOBS_EXIT:
        return W.FINISHED, 0, "pilot found no job"
    error = pilot_error_for_exit(exit_code)
    return W.FAILED, error, f"pilot exited with {exit_code} (pilot error {error})"
