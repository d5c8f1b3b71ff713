"""How a worker starts its pilot: arguments and environment of pilot-harvester.md §11.

``-s {computingSite} -r {computingSite} -q {pandaQueueName} -j {prodSourceLabel} -i {pilotType} -t
-w generic --pilot-user generic --url <server> -d --harvester-submit-mode PULL --allow-same-user=False
--job-type={jobType} [--resource-type ...]``, environment ``PANDA_JSID=harvester-{harvesterID}``,
``HARVESTER_ID``, ``HARVESTER_WORKER_ID``, ``GTAG={logURL}`` and the token file.

The pilot's work directory is the worker's access point (``-a``), so every file of the worker, the
pilot's included, lives in one directory Harvester can inspect and remove.
"""

from __future__ import annotations

import os
import shlex

from harvester.config import Config, QueueConfig
from harvester.store import WorkSpec

PILOT_STDOUT = "pilot.stdout"
PILOT_STDERR = "pilot.stderr"
EXIT_CODE_FILE = "exit_code"
QUEUEDATA_FILE = "queuedata.json"
STORAGEDATA_FILE = "ddmendpoints.json"
JOB_DATA_FILE = "pandaJobData.out"  # push: the job the pilot runs (pilot-harvester.md §12)


def pilot_arguments(config: Config, queue: QueueConfig, worker: WorkSpec) -> list[str]:
    args = [
        "-s", queue.name, "-r", queue.name, "-q", queue.name,
        "-j", queue.prod_source_label, "-i", queue.pilot_type,
        "-t", "-w", "generic", "--pilot-user", "generic",
        "-a", worker.access_point,
    ]  # fmt: skip
    if queue.shared_fs:
        # No server access at all: documents and the job come from files Harvester placed.
        args += [
            "-z",
            "--harvester-submit-mode", "PUSH",
            "--harvester-workdir", worker.access_point,
            "--harvester-datadir", worker.access_point,
            "--queuedata-url", os.path.join(worker.access_point, QUEUEDATA_FILE),
            "--storagedata-url", os.path.join(worker.access_point, STORAGEDATA_FILE),
            # Transformations are checked against the server's URL, then copied from the access point.
            "--baseurls", config.pilot.url,
        ]  # fmt: skip
    else:
        args += ["--url", config.pilot.url, "-d"]
        if queue.pull:
            args += ["--harvester-submit-mode", "PULL", "--allow-same-user=False"]
        else:
            args += ["--harvester-submit-mode", "PUSH", "--harvester-datadir", worker.access_point]
    args.append(f"--job-type={queue.job_type}")
    if queue.resource_type:
        args += ["--resource-type", queue.resource_type]
    return args + list(config.pilot.extra_args) + list(queue.pilot_args)


def pilot_environment(config: Config, queue: QueueConfig, worker: WorkSpec) -> dict[str, str]:
    """Only what the pilot needs on top of the submitting environment (the batch system's own)."""
    env = {
        "PANDA_JSID": f"harvester-{config.harvester_id}",
        "HARVESTER_ID": config.harvester_id,
        "HARVESTER_WORKER_ID": str(worker.worker_id),
        "GTAG": "file://" + os.path.join(worker.access_point, PILOT_STDOUT),
    }
    if queue.shared_fs:
        env["HARVESTER_WORKDIR"] = worker.access_point
    elif config.token_file:
        env["OIDC_AUTH_TOKEN"] = config.token_file
        if config.origin:
            env["OIDC_AUTH_ORIGIN"] = config.origin
    if config.pilot.pythonpath:
        env["PYTHONPATH"] = config.pilot.pythonpath
    env.update(config.pilot.env)
    return env


def pilot_script(config: Config, queue: QueueConfig, worker: WorkSpec, *, header: str = "") -> str:
    """A ``/bin/sh`` script that runs the pilot in the access point and records its exit code.

    The exit code file is written atomically after the pilot ends, so a monitor (this Harvester or
    the next one after a restart) learns the outcome even without being the pilot's parent.
    """
    exports = "\n".join(
        f"export {name}={shlex.quote(value)}" for name, value in pilot_environment(config, queue, worker).items()
    )
    command = shlex.join([config.pilot.python, "-m", "pilot", *pilot_arguments(config, queue, worker)])
    return (
        "#!/bin/sh\n"
        f"{header}"
        f"# Harvester {config.harvester_id}, worker {worker.worker_id}, queue {queue.name}\n"
        f"cd {shlex.quote(worker.access_point)} || exit 66\n"
        f"{exports}\n"
        f"{command} >{PILOT_STDOUT} 2>{PILOT_STDERR} </dev/null\n"
        "code=$?\n"
        f'echo "$code" >{EXIT_CODE_FILE}.tmp && mv {EXIT_CODE_FILE}.tmp {EXIT_CODE_FILE}\n'
        'exit "$code"\n'
    )


def read_exit_code(access_point: str) -> int | None:
    try:
        with open(os.path.join(access_point, EXIT_CODE_FILE), encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None
