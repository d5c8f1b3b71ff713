"""Run the payload in its own session under the job dir; stdout/stderr to payload.stdout/.stderr."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
from dataclasses import dataclass

from pilot.util.kill import MARKER_VARIABLE, TRACKED, PayloadKiller

logger = logging.getLogger(__name__)

STDOUT = "payload.stdout"
STDERR = "payload.stderr"

# Environment variables the payload must not inherit: they point at the pilot's own credentials.
_PRIVATE_ENV = (
    "OIDC_AUTH_TOKEN",
    "PANDA_AUTH_TOKEN",
    "OIDC_AUTH_ORIGIN",
    "PANDA_AUTH_ORIGIN",
    "OIDC_AUTH_DIR",
    "PANDA_AUTH_TOKEN_KEY",
)


@dataclass
class Payload:
    process: subprocess.Popen[bytes]
    killer: PayloadKiller
    command: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is not None:
            TRACKED.discard(self.process.pid)
        return code


def payload_environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
    env.update(extra)
    return env


def start_payload(*, command: str, jobdir: str, env: dict[str, str], kill_grace: float) -> Payload:
    """``bash -c <command>`` as a new session leader, so its whole process group can be signalled."""
    marker = secrets.token_hex(8)
    env = {**env, MARKER_VARIABLE: marker}
    with open(os.path.join(jobdir, STDOUT), "ab") as out, open(os.path.join(jobdir, STDERR), "ab") as err:
        process = subprocess.Popen(  # noqa: S603 - the command comes from the job definition, by design
            ["/bin/bash", "-c", command],
            cwd=jobdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    logger.info("payload started: pid=%d command=%s", process.pid, command)
    return Payload(process=process, killer=PayloadKiller(process, grace=kill_grace, marker=marker), command=command)
