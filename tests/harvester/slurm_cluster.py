"""A real single-node Slurm (slurmctld + slurmd + munged) in a scratch directory, for the Slurm plugin's tests.

Follows the team's recipe (recipes/slurm-single-node.md): Debian's ``slurm-wlm`` and ``munge`` run as
root without systemd or cgroups. Every daemon runs in the foreground as a child of the test process
and is stopped by its own PID; its key, socket, state and logs stay under the scratch directory.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
MISSING = [name for name in BINARIES if shutil.which(name) is None]
SKIP_REASON = (
    "needs a local Slurm: apt-get install -y slurm-wlm munge (missing: " + ", ".join(MISSING) + ")" if MISSING else ""
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()

    def log(self, name: str) -> str:
        path = self.root / "log" / name
        return path.read_text() if path.exists() else ""


def start_slurm(root: Path, *, cpus: int = 4) -> SlurmCluster:
    """Start munged, slurmctld and slurmd under ``root`` and wait until the node is idle."""
    host = socket.gethostname().split(".")[0]
    for name in ("state", "spool", "log", "munge"):
        (root / name).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "munge", 0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    os.chmod(key, 0o400)
    munge_socket = root / "munge" / "munge.socket"
    conf = root / "slurm.conf"
    conf.write_text(
        f"""ClusterName=harvestertest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmUser=root
SlurmdUser=root
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=2
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = SlurmCluster(root=root, conf=conf, env=env)
    log = open(root / "log" / "daemons.out", "ab")  # noqa: SIM115 - shared by the daemons for their lives
    try:
        cluster.processes.append(
            subprocess.Popen(
                ["munged", "--force", "--foreground", f"--key-file={key}", f"--socket={munge_socket}",
                 f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/log/munged.log",
                 f"--seed-file={root}/munge/munged.seed"],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        )  # fmt: skip
        _wait(lambda: munge_socket.exists(), "munged", cluster)
        for daemon in ("slurmctld", "slurmd"):
            cluster.processes.append(
                subprocess.Popen([daemon, "-D", "-f", str(conf)], stdout=log, stderr=subprocess.STDOUT, env=env)
            )
        _wait(lambda: "idle" in cluster.run("sinfo", "-h", "-o", "%t").stdout, "an idle Slurm node", cluster)
    except BaseException:
        cluster.stop()
        raise
    finally:
        log.close()
    return cluster


def _wait(predicate, what: str, cluster: SlurmCluster, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for process in cluster.processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{process.args[0]} exited: {cluster.log('daemons.out')}{cluster.log('slurmctld.log')}"
                )
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}: {cluster.log('slurmctld.log')}{cluster.log('slurmd.log')}")
