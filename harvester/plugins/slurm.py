"""Slurm: each worker is a batch job running the pilot script (``sbatch``, ``squeue``, ``scontrol``, ``scancel``).

The batch script is the same one the local plugin runs, with ``#SBATCH`` lines: it runs the pilot in
the worker's access point and records the pilot's exit code there. The worker's status comes from
``squeue --states=all`` (which still lists ended jobs for ``MinJobAge``); the pilot's own exit code,
read from the access point, decides between ``finished`` and ``failed``, because a Slurm job that ran
an unsuccessful pilot is still ``COMPLETED`` or ``FAILED`` for reasons Slurm does not know. Without
accounting storage nothing else remembers a purged job: such a worker is ``missed``.

Plugin arguments (``plugin = {name = "slurm", ...}``): ``partition``, ``account``, ``qos``,
``time_limit`` (sbatch ``--time``), ``memory_mb`` (per job), ``sbatch_args`` (a list of extra
arguments), ``slurm_conf`` (``SLURM_CONF`` for the commands) and ``command_timeout`` in seconds.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess

from harvester.config import Config
from harvester.launch import pilot_script, read_exit_code
from harvester.plugins.base import remove_access_point
from harvester.states import WorkerStatus as W
from harvester.states import worker_outcome
from harvester.store import WorkSpec, utcnow

log = logging.getLogger(__name__)

SCRIPT = "run_pilot.sbatch"
QUEUED_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
FAILED_STATES = {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
_BATCH_ID = re.compile(r"^(\d+)")


class SlurmError(RuntimeError):
    pass


class SlurmPlugin:
    name = "slurm"

    def __init__(
        self,
        config: Config,
        *,
        partition: str = "",
        account: str = "",
        qos: str = "",
        time_limit: str = "",
        memory_mb: int = 0,
        sbatch_args: list[str] | None = None,
        slurm_conf: str = "",
        command_timeout: float = 60,
    ):
        self.config = config
        self.partition = partition
        self.account = account
        self.qos = qos
        self.time_limit = time_limit
        self.memory_mb = memory_mb
        self.sbatch_args = list(sbatch_args or [])
        self.env = {**os.environ, **({"SLURM_CONF": slurm_conf} if slurm_conf else {})}
        self.timeout = command_timeout

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlurmError(f"{argv[0]}: {exc}") from None

    def job_name(self, worker: WorkSpec) -> str:
        return f"harvester-{self.config.harvester_id}-{worker.worker_id}"

    # --- submission --------------------------------------------------------------------------------

    def _directives(self, worker: WorkSpec) -> list[str]:
        lines = [
            f"--job-name={self.job_name(worker)}",
            f"--chdir={worker.access_point}",
            f"--output={worker.access_point}/slurm-%j.out",
            "--ntasks=1",
            f"--cpus-per-task={worker.n_core}",
        ]
        for option, value in (
            ("partition", self.partition),
            ("account", self.account),
            ("qos", self.qos),
            ("time", self.time_limit),
        ):
            if value:
                lines.append(f"--{option}={value}")
        if self.memory_mb:
            lines.append(f"--mem={self.memory_mb}M")
        return lines

    def submit_workers(self, workers: list[WorkSpec]) -> list[tuple[bool, str]]:
        return [self._submit(worker) for worker in workers]

    def _submit(self, worker: WorkSpec) -> tuple[bool, str]:
        queue = self.config.queue(worker.queue)
        header = "".join(f"#SBATCH {line}\n" for line in self._directives(worker))
        try:
            os.makedirs(worker.access_point, exist_ok=True)
            script = os.path.join(worker.access_point, SCRIPT)
            with open(script, "w", encoding="utf-8") as handle:
                handle.write(pilot_script(self.config, queue, worker, header=header))
            result = self._run("sbatch", "--parsable", *self.sbatch_args, script)
        except (OSError, SlurmError) as exc:
            return False, str(exc)
        match = _BATCH_ID.match(result.stdout.strip())
        if result.returncode != 0 or match is None:
            return False, f"sbatch failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
        worker.batch_id = match.group(1)
        worker.submit_time = worker.submit_time or utcnow()
        return True, ""

    def find_worker(self, worker: WorkSpec) -> bool:
        try:
            result = self._run("squeue", "-h", "--states=all", f"--name={self.job_name(worker)}", "-o", "%i")
        except SlurmError:
            return False
        ids = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if result.returncode != 0 or not ids:
            return False
        worker.batch_id = ids[-1]
        return True

    # --- monitoring --------------------------------------------------------------------------------

    def _states(self, batch_ids: list[str]) -> dict[str, tuple[str, str]] | None:
        """batch ID -> (Slurm state, reason) of the jobs Slurm still knows; None when squeue failed."""
        result = self._run("squeue", "-h", "--states=all", "-j", ",".join(batch_ids), "-o", "%i|%T|%r")
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            log.warning("squeue failed: %s", result.stderr.strip())
            return None
        states = {}
        for line in result.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 3:
                states[parts[0]] = (parts[1], parts[2])
        if result.returncode != 0:  # one unknown ID makes squeue refuse them all: ask one by one
            for batch_id in batch_ids:
                single = self._run("squeue", "-h", "--states=all", "-j", batch_id, "-o", "%i|%T|%r")
                for line in single.stdout.splitlines():
                    parts = line.strip().split("|")
                    if len(parts) == 3:
                        states[parts[0]] = (parts[1], parts[2])
        return states

    def check_workers(self, workers: list[WorkSpec]) -> tuple[bool, list[tuple[str, str]]]:
        batch_ids = [worker.batch_id for worker in workers if worker.batch_id]
        try:
            states = self._states(batch_ids) if batch_ids else {}
        except SlurmError as exc:
            log.warning("cannot check Slurm jobs: %s", exc)
            return False, []
        if states is None:
            return False, []
        return True, [self._status(worker, states.get(worker.batch_id or "")) for worker in workers]

    def _status(self, worker: WorkSpec, state: tuple[str, str] | None) -> tuple[str, str]:
        if not worker.batch_id:
            return worker.status, ""
        slurm_state, reason = state if state else ("", "")
        if slurm_state:
            worker.native_status = slurm_state
        if slurm_state in QUEUED_STATES:
            return W.SUBMITTED, ""
        if slurm_state in RUNNING_STATES:
            worker.start_time = worker.start_time or utcnow()
            return W.RUNNING, ""
        exit_code = read_exit_code(worker.access_point)
        worker.end_time = worker.end_time or utcnow()
        if slurm_state == "CANCELLED" or worker.kill_requested:
            return W.CANCELLED, f"Slurm job cancelled {reason}".strip()
        if exit_code is not None:
            status, error, diag = worker_outcome(exit_code)
            worker.native_exit_code = exit_code
            worker.error_code = error
            return status, diag
        if slurm_state in FAILED_STATES:
            worker.error_code = -1
            return W.FAILED, f"Slurm job {slurm_state} ({reason}) before the pilot ended"
        if slurm_state == "COMPLETED":
            return W.FAILED, "Slurm job completed without the pilot's exit code"
        return W.MISSED, "Slurm no longer knows the job"

    # --- killing and cleaning ----------------------------------------------------------------------

    def kill_worker(self, worker: WorkSpec) -> tuple[bool, str]:
        if not worker.batch_id:
            return True, "never submitted"
        try:
            result = self._run("scancel", worker.batch_id)
        except SlurmError as exc:
            return False, str(exc)
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            return False, f"scancel failed: {result.stderr.strip()}"
        return True, "cancelled"

    def sweep_worker(self, worker: WorkSpec) -> tuple[bool, str]:
        return remove_access_point(self.config, worker)
