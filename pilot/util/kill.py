"""Signalling the payload, and only the payload.

Pilot 3.11 ends jobs by signalling every process of the user whose parent is PID 1. We never scan by
user. The only targets are (pilot-harvester.md §9):

* the payload's process group, signalled with ``killpg`` only while the group leader is our unreaped
  child (so its PID, and therefore the group ID, cannot have been reused);
* processes in the payload's session or below the payload leader, and orphans reparented to the
  pilot (it is a child subreaper) that carry the payload's marker in their environment. Each one is
  re-identified by ``(pid, starttime)`` and its ancestry re-checked immediately before it is signalled.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass

from pilot.util import procfs

logger = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
MARKER_VARIABLE = "PILOT_PAYLOAD_MARKER"

# Children reaped by their Popen object; reap_orphans must leave them alone or Popen loses the exit code.
TRACKED: set[int] = set()


def become_subreaper() -> bool:
    """Orphans of the payload are reparented to the pilot instead of PID 1, so they stay findable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


@dataclass(frozen=True)
class Target:
    pid: int
    starttime: int


def has_marker(pid: int, marker: str) -> bool:
    if not marker:
        return False
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return f"{MARKER_VARIABLE}={marker}".encode() in handle.read().split(b"\0")
    except OSError:
        return False


def payload_targets(leader_pid: int, leader_session: int, marker: str = "") -> list[Target]:
    """Processes the pilot may signal for this payload, identified by (pid, starttime)."""
    me = os.getpid()
    stats = procfs.all_stats()
    found: dict[int, procfs.ProcStat] = {}
    for stat in procfs.descendants(me, stats):
        in_tree = stat.pid == leader_pid or procfs.is_descendant(stat.pid, leader_pid, stats)
        if in_tree or stat.session == leader_session:
            found[stat.pid] = stat
        elif stat.ppid == me and has_marker(stat.pid, marker):
            found[stat.pid] = stat  # an orphan of this payload, reparented to us (subreaper)
    for stat in list(found.values()):
        for child in procfs.descendants(stat.pid, stats):
            found.setdefault(child.pid, child)
    return [Target(s.pid, s.starttime) for s in found.values() if s.state != "Z"]


def _still_ours(target: Target) -> bool:
    stat = procfs.read_stat(target.pid)
    if stat is None or stat.starttime != target.starttime or stat.state == "Z":
        return False
    return procfs.is_descendant(target.pid, os.getpid())


def signal_target(target: Target, sig: int) -> bool:
    if not _still_ours(target):
        return False
    try:
        os.kill(target.pid, sig)
        return True
    except ProcessLookupError:
        return False


class PayloadKiller:
    """TERM, then KILL after a grace period, to one payload started with ``start_new_session=True``."""

    def __init__(self, process: subprocess.Popen[bytes], *, grace: float, marker: str = "") -> None:
        self.process = process
        self.grace = grace
        self.marker = marker
        self.session = process.pid  # the leader of a new session: sid == pgid == pid
        TRACKED.add(process.pid)

    def targets(self) -> list[Target]:
        return payload_targets(self.process.pid, self.session, self.marker)

    def _signal_all(self, sig: int) -> int:
        count = 0
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                count += 1
            except ProcessLookupError:
                pass
        for target in self.targets():
            if signal_target(target, sig):
                count += 1
        return count

    def alive(self) -> bool:
        return self.process.poll() is None or bool(self.targets())

    def _wait_gone(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.alive():
            reap_orphans()
            time.sleep(0.1)

    def kill(self) -> None:
        if not self.alive():
            return
        logger.warning("sending SIGTERM to payload process group %d", self.process.pid)
        self._signal_all(signal.SIGTERM)
        self._wait_gone(self.grace)
        if self.alive():
            logger.warning("payload still alive after %.0f s: sending SIGKILL", self.grace)
            self._signal_all(signal.SIGKILL)
            self._wait_gone(5.0)
        reap_orphans()


def reap_orphans() -> None:
    """Collect zombie orphans reparented to us; children the pilot waits for itself are left alone."""
    me = os.getpid()
    my_session = os.getsid(0)
    for stat in procfs.all_stats().values():
        if stat.ppid == me and stat.state == "Z" and stat.session != my_session and stat.pid not in TRACKED:
            try:
                os.waitpid(stat.pid, os.WNOHANG)
            except ChildProcessError:
                pass
