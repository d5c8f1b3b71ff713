"""State shared by the pilot's components for the pilot's whole life."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pilot.cli import Args
from pilot.comm.server import PandaServer
from pilot.info.queuedata import QueueData
from pilot.info.storage import StorageData
from pilot.settings import Settings

if TYPE_CHECKING:
    from pilot.jobrunner import JobRun


@dataclass
class PilotContext:
    args: Args
    settings: Settings
    pilot_home: str
    base_dir: str  # the -a dir (or cwd): survives restarts, holds the final-update spool
    pilot_log: str
    queuedata: QueueData | None = None
    storage: StorageData = field(default_factory=lambda: StorageData({}))
    server: PandaServer | None = None
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    abort: threading.Event = field(default_factory=threading.Event)
    exit_error: int = 0  # pilot-level error; decides the shell exit code
    last_server_contact: float = field(default_factory=time.monotonic)
    current: JobRun | None = None
    jobs_done: int = 0

    def server_contact(self) -> None:
        self.last_server_contact = time.monotonic()

    def set_exit_error(self, code: int) -> None:
        if not self.exit_error:
            self.exit_error = code

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def lifetime(self) -> float:
        """``min(-l, maxtime x pilot_walltime_grace)`` (pilot-harvester.md §2)."""
        lifetime = float(self.args.lifetime)
        if self.queuedata and self.queuedata.maxtime > 0:
            lifetime = min(lifetime, self.queuedata.maxtime * self.queuedata.pilot_walltime_grace)
        return lifetime

    def remaining(self) -> float:
        return self.lifetime() - self.elapsed()
