"""Local processes: each worker is a pilot started on this machine (the embedded default).

A worker runs ``/bin/sh <access point>/run_pilot.sh`` in its own session (so its own process group)
and its own directory; the script records the pilot's exit code in the access point. The batch ID
is the wrapper's PID; with it the plugin keeps the process start time read from ``/proc``, and
signals the group only while that PID still names the same process (PIDs are reused). Pilots keep
running while Harvester is down; a restarted Harvester finds them again by PID and start time, or
by their exit-code file once they ended.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time

from harvester.config import Config
from harvester.launch import pilot_script, read_exit_code
from harvester.plugins.base import remove_access_point
from harvester.states import WorkerStatus as W
from harvester.states import worker_outcome
from harvester.store import WorkSpec, utcnow

log = logging.getLogger(__name__)

SCRIPT = "run_pilot.sh"
PID_FILE = "worker.pid"
WRAPPER_LOG = "wrapper.log"


def process_identity(pid: int) -> tuple[int, int] | None:
    """(process group, start time in clock ticks) of a live, non-zombie process; None otherwise."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[2]), int(fields[19])


def _group_alive(pgid: int) -> bool:
    """Whether a live process is still in the group. Zombies do not count: the wrapper's orphans are
    reaped by PID 1 or a subreaper, on their schedule, and a zombie holds nothing."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            identity = process_identity(int(entry))
            if identity is not None and identity[0] == pgid:
                return True
    return False


class LocalPlugin:
    name = "local"

    def __init__(self, config: Config, *, shell: str = "/bin/sh", nice: int = 0):
        self.config = config
        self.shell = shell
        self.nice = nice

    # --- submission --------------------------------------------------------------------------------

    def submit_workers(self, workers: list[WorkSpec]) -> list[tuple[bool, str]]:
        return [self._submit(worker) for worker in workers]

    def _submit(self, worker: WorkSpec) -> tuple[bool, str]:
        queue = self.config.queue(worker.queue)
        try:
            os.makedirs(worker.access_point, exist_ok=True)
            script = os.path.join(worker.access_point, SCRIPT)
            with open(script, "w", encoding="utf-8") as handle:
                handle.write(pilot_script(self.config, queue, worker))
            with open(os.path.join(worker.access_point, WRAPPER_LOG), "ab") as wrapper_log:
                process = subprocess.Popen(
                    [self.shell, script],
                    cwd=worker.access_point,
                    stdin=subprocess.DEVNULL,
                    stdout=wrapper_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None,
                )
        except OSError as exc:
            return False, f"cannot start the pilot: {exc}"
        identity = process_identity(process.pid)
        self._adopt(worker, process.pid, identity[1] if identity else None)
        with open(os.path.join(worker.access_point, PID_FILE), "w", encoding="ascii") as handle:
            handle.write(f"{process.pid} {worker.plugin_data.get('start_ticks') or ''}\n")
        return True, ""

    def _adopt(self, worker: WorkSpec, pid: int, start_ticks: int | None) -> None:
        worker.batch_id = str(pid)
        worker.plugin_data = {**worker.plugin_data, "pid": pid, "start_ticks": start_ticks}
        worker.submit_time = worker.submit_time or utcnow()

    def find_worker(self, worker: WorkSpec) -> bool:
        try:
            with open(os.path.join(worker.access_point, PID_FILE), encoding="ascii") as handle:
                parts = handle.read().split()
        except OSError:
            return False
        if not parts:
            return False
        self._adopt(worker, int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None)
        return True

    # --- monitoring --------------------------------------------------------------------------------

    def _alive(self, worker: WorkSpec) -> bool:
        pid = worker.plugin_data.get("pid")
        if not pid:
            return False
        try:
            # Reap our own exited children; a restarted Harvester is not their parent and cannot.
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        identity = process_identity(pid)
        if identity is None:
            return False
        expected = worker.plugin_data.get("start_ticks")
        return expected is None or identity[1] == expected

    def check_workers(self, workers: list[WorkSpec]) -> tuple[bool, list[tuple[str, str]]]:
        return True, [self._check(worker) for worker in workers]

    def _check(self, worker: WorkSpec) -> tuple[str, str]:
        exit_code = read_exit_code(worker.access_point)
        if exit_code is not None:
            status, error, diag = worker_outcome(exit_code)
            worker.native_exit_code = exit_code
            worker.native_status = "exited"
            worker.error_code = error
            worker.end_time = worker.end_time or utcnow()
            if worker.kill_requested:
                return W.CANCELLED, f"killed by Harvester (pilot exit code {exit_code})"
            return status, diag
        if self._alive(worker):
            worker.native_status = "running"
            worker.start_time = worker.start_time or utcnow()
            return W.RUNNING, ""
        if not worker.batch_id:
            return worker.status, ""
        # Gone without an exit code: killed hard (by us, the OOM killer, a reboot, ...).
        worker.native_status = "vanished"
        worker.end_time = worker.end_time or utcnow()
        if worker.kill_requested:
            return W.CANCELLED, "killed by Harvester"
        return W.MISSED, "the pilot process vanished without an exit code"

    # --- killing and cleaning ----------------------------------------------------------------------

    def kill_worker(self, worker: WorkSpec) -> tuple[bool, str]:
        """SIGTERM to the worker's process group, SIGKILL after the grace period; only while the PID
        still names the process this plugin started.

        The wrapper shell dies at once on SIGTERM while the pilot it started may take the grace period
        to stop its payload and report, so the wait is for the whole group to be gone. A group ID is
        not reused while the group has members, so after the PID check the group is still ours.
        """
        if not self._alive(worker):
            return True, "not running"
        pid = worker.plugin_data["pid"]
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return True, "not running"
        except PermissionError as exc:
            return False, f"cannot signal {pid}: {exc}"
        deadline = time.monotonic() + self.config.kill_grace_seconds
        while time.monotonic() < deadline:
            if not self._alive(worker) and not _group_alive(pid):
                return True, "terminated"
            time.sleep(0.2)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._alive(worker)  # reaps the wrapper when it is our child
        return True, "killed"

    def sweep_worker(self, worker: WorkSpec) -> tuple[bool, str]:
        if self._alive(worker):
            return False, "still running"
        return remove_access_point(self.config, worker)
