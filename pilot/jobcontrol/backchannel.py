"""The ``command`` field of updateJob answers (pilot-harvester.md §7, protocol.md §6.3)."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from typing import TYPE_CHECKING

from pilot import errors

if TYPE_CHECKING:
    from pilot.jobrunner import JobRun

logger = logging.getLogger(__name__)

ALLOWED_DEBUG_VERBS = ("tail", "ls", "ps", "du", "gdb")
_SHELL_META = set(";&|<>`$\n\\")


def handle_command(run: JobRun, command: str) -> None:
    if not command:
        return
    parts = [part.strip() for part in command.split(",") if part.strip()]
    for part in parts:
        if " " in part:
            _set_debug_command(run, part)
        elif part == "tobekilled":
            logger.warning("server command tobekilled for job %s", run.job.jobid)
            run.ctx.abort.set()  # fetch no more jobs
            run.killed_by_server = True
            run.kill.trip(errors.PANDAKILL)
        elif part == "softkill":
            logger.info("server command softkill (event service only): ignored by the generic workflow")
        elif part == "debug":
            if not run.job.debug:
                logger.info("debug mode switched on by the server")
            run.job.debug = True
        elif part == "debugoff":
            logger.info("debug mode switched off by the server")
            run.job.debug = False
            run.job.debug_command = ""
        elif part == "nocleanup":
            logger.info("server command nocleanup: the work dir will be kept")
            run.ctx.args.cleanup = False
        elif part == "alreadydone":
            logger.info("server says job %s is already done: no more updates", run.job.jobid)
            run.job.updates_stopped = True
        else:
            logger.warning("unknown server command %r ignored", part)


def validate_debug_command(command: str) -> list[str] | None:
    """The safe subset: one allowed verb, no shell syntax, no ``rm``, paths inside the job dir."""
    if any(ch in _SHELL_META for ch in command) or "&#59" in command:
        return None
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if not argv or argv[0] not in ALLOWED_DEBUG_VERBS or "rm" in argv:
        return None
    for arg in argv[1:]:
        if not arg.startswith("-") and (os.path.isabs(arg) or ".." in arg.split("/")) and argv[0] != "gdb":
            return None
    return argv


def _set_debug_command(run: JobRun, command: str) -> None:
    argv = validate_debug_command(command)
    if argv is None:
        logger.warning("refused debug command %r", command)
        return
    run.job.debug = True
    run.job.debug_command = command


def run_debug_command(run: JobRun) -> str:
    """Output of the job's debug command (sent as ``stdout`` with the next heartbeat)."""
    command = run.job.debug_command
    argv = validate_debug_command(command) if command else None
    if not argv:
        return ""
    try:
        result = subprocess.run(  # noqa: S603 - validated verb and arguments, no shell
            argv, cwd=run.job.workdir, capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"debug command failed: {exc}"
    return (result.stdout + result.stderr).decode("utf-8", errors="replace")[-2048:]
