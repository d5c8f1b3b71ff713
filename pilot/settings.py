"""Timers and limits. Defaults are pilot 3.11's; a config file or options may override them.

The config file is INI with a ``[Pilot]`` section (``--config``, else ``HARVESTER_PILOT_CONFIG``), e.g.::

    [Pilot]
    heartbeat = 1800
    debug_heartbeat = 60
"""

from __future__ import annotations

import configparser
import dataclasses
import os
from dataclasses import dataclass


@dataclass
class Settings:
    heartbeat: float = 1800.0  # s between running heartbeats
    debug_heartbeat: float = 60.0  # s between heartbeats in debug mode
    lost_heartbeat: float = 10800.0  # no successful server update for this long: abort
    http_timeout: float = 120.0
    http_attempts: int = 3  # attempts per server call before it counts as failed
    http_backoff: float = 2.0  # first retry delay (s); doubles, with jitter, up to http_backoff_max
    http_backoff_max: float = 60.0
    update_retry_delay: float = 120.0  # s before a failed heartbeat is retried
    final_update_max_wait: float = 10800.0  # keep resending the final update this long, then leave it on disk
    getjob_nojob_delay_min: float = 60.0  # StatusCode != 0: sleep a random time in [min, max]
    getjob_nojob_delay_max: float = 180.0
    getjob_empty_delay: float = 60.0  # empty answer (10 s in Harvester mode)
    getjob_empty_delay_harvester: float = 10.0
    harvester_job_wait: float = 60.0  # PUSH mode: wait this long for a job definition file
    looping_verification_time: float = 900.0
    looping_limit_default: float = 7200.0
    looping_limit_min_default: float = 7200.0
    memory_check_time: float = 60.0
    disk_check_time: float = 60.0
    process_check_time: float = 300.0
    pilot_heartbeat_time: float = 60.0  # pilot_heartbeat.json refresh
    monitor_poll: float = 1.0  # payload poll / monitor tick
    kill_grace: float = 10.0  # SIGTERM -> SIGKILL
    stageout_reserve: float = 600.0  # stop the payload this long before the pilot lifetime ends
    stdout_size_limit_kb: int = 2097152  # payload.stdout larger than this: 1106
    local_space_limit_mb: int = 2000  # free space below this before a job: 1098
    pilot_log_tail: int = 8192  # characters of pilotlog.txt sent as pilotLog in the final update

    @classmethod
    def load(cls, path: str | None = None) -> Settings:
        settings = cls()
        path = path or os.environ.get("HARVESTER_PILOT_CONFIG")
        if path:
            settings.update_from_file(path)
        return settings

    def update_from_file(self, path: str) -> None:
        parser = configparser.ConfigParser(strict=False)  # a repeated key: the last one wins
        try:
            found = parser.read(path)
        except configparser.Error as exc:
            raise ValueError(f"{path}: {exc}") from None
        if not found:
            raise FileNotFoundError(f"cannot read pilot config file {path}")
        if not parser.has_section("Pilot"):
            return
        types = {f.name: f.type for f in dataclasses.fields(self)}
        for key, raw in parser.items("Pilot"):
            if key not in types:
                continue
            caster = int if types[key] in (int, "int") else float
            try:
                setattr(self, key, caster(raw))
            except ValueError:
                raise ValueError(f"{path}: [Pilot] {key} = {raw!r} is not a number") from None

    def heartbeat_period(self, debug: bool) -> float:
        return self.debug_heartbeat if debug else self.heartbeat
