"""The configuration file: the instance, the server, the pilots it launches and the queues it serves.

One TOML (``.toml``) or JSON (anything else) file; docs/harvester.md shows a complete example.
Queue knobs keep upstream Harvester's names (``nQueueLimitWorker``, ``maxWorkers``, ...) so that an
operator who knows ``panda_queueconfig.json`` recognises them. Every value is checked here, so a bad
file stops the service at start-up with a message naming the key.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harvester.database import is_postgres_url

MODES = ("PULL", "PUSH", "SHARED_FS")
PILOT_TYPES = {"PR": "managed", "RC": "rc_test2", "PT": "ptest", "ALRB": "rc_alrb"}


class ConfigError(ValueError):
    pass


@dataclass
class PilotConfig:
    """How a worker starts a pilot: ``<python> -m pilot <arguments>`` with ``pythonpath`` on the path."""

    python: str = sys.executable
    pythonpath: str = ""
    url: str = ""  # the server URL the pilots use; default: the Harvester's server_url
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class QueueConfig:
    name: str
    plugin: str = "local"
    plugin_args: dict[str, Any] = field(default_factory=dict)
    mode: str = "PULL"
    n_queue_limit_worker: int = 5  # nQueueLimitWorker: most workers waiting in the batch system
    max_workers: int = 10  # maxWorkers: most live (queued + running) workers
    n_new_workers: int = 0  # nNewWorkers: fixed number of new workers per cycle (0: from the job counts)
    max_new_workers_per_cycle: int = 5  # maxNewWorkersPerCycle
    n_queue_limit_job: int = 10  # nQueueLimitJob (push): most jobs held but not running
    max_submission_attempts: int = 3  # maxSubmissionAttempts
    prod_source_label: str = "managed"  # prodSourceLabel the pilots ask for (-j)
    job_type: str = "managed"  # jobType (--job-type)
    resource_type: str = ""  # resourceType of the workers and of the jobs they take ("": any)
    pilot_type: str = "PR"  # -i
    n_core: int = 1
    true_pilot: bool = True  # truePilot (push): the pilot reports the job itself
    run_mode: str = "self"  # runMode: "slave" follows SET_N_WORKERS_JOBTYPE commands
    max_walltime: int = 0  # seconds a worker may run before the sweeper kills it (0: no limit)
    max_queued_time: int = 0  # seconds a worker may wait in the batch system before it is killed
    pilot_args: list[str] = field(default_factory=list)  # extra pilot arguments for this queue

    @property
    def pull(self) -> bool:
        return self.mode == "PULL"

    @property
    def shared_fs(self) -> bool:
        return self.mode == "SHARED_FS"


@dataclass
class Config:
    harvester_id: str
    server_url: str
    token_file: str = ""
    origin: str = ""
    ca_file: str = ""
    database: str = "harvester.sqlite3"
    workdir: str = "workers"
    cycle_seconds: float = 10.0
    heartbeat_seconds: float = 600.0
    update_interval: float = 60.0  # updateInterval: job/worker re-propagation period (upstream 1800 s)
    stats_interval: float = 60.0
    keep_finished_hours: float = 1.0
    keep_failed_hours: float = 24.0
    kill_grace_seconds: float = 10.0
    # A throw-away instance (the quick start) ends its workers when it stops instead of leaving them running.
    kill_workers_on_stop: bool = False
    http_timeout: float = 60.0
    commands_bulk_size: int = 20
    token_refresh_command: list[str] = field(default_factory=list)
    token_refresh_seconds: float = 3600.0
    # Harvester's own robot token by the OAuth client-credentials grant (harvester/oauth.py).
    token_endpoint: str = ""
    client_id: str = ""
    client_secret_file: str = ""
    token_scope: str = ""
    token_audience: str = ""
    pilot: PilotConfig = field(default_factory=PilotConfig)
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    path: str = ""

    def queue(self, name: str) -> QueueConfig:
        return self.queues[name]


# file key -> (attribute, type)
_HARVESTER_KEYS = {
    "harvester_id": ("harvester_id", str),
    "server_url": ("server_url", str),
    "token_file": ("token_file", str),
    "origin": ("origin", str),
    "ca_file": ("ca_file", str),
    "database": ("database", str),
    "workdir": ("workdir", str),
    "cycle_seconds": ("cycle_seconds", float),
    "heartbeat_seconds": ("heartbeat_seconds", float),
    "update_interval": ("update_interval", float),
    "stats_interval": ("stats_interval", float),
    "keep_finished_hours": ("keep_finished_hours", float),
    "keep_failed_hours": ("keep_failed_hours", float),
    "kill_grace_seconds": ("kill_grace_seconds", float),
    "kill_workers_on_stop": ("kill_workers_on_stop", bool),
    "http_timeout": ("http_timeout", float),
    "commands_bulk_size": ("commands_bulk_size", int),
    "token_refresh_command": ("token_refresh_command", list),
    "token_refresh_seconds": ("token_refresh_seconds", float),
    "token_endpoint": ("token_endpoint", str),
    "client_id": ("client_id", str),
    "client_secret_file": ("client_secret_file", str),
    "token_scope": ("token_scope", str),
    "token_audience": ("token_audience", str),
}
_QUEUE_KEYS = {
    "mode": ("mode", str),
    "nQueueLimitWorker": ("n_queue_limit_worker", int),
    "maxWorkers": ("max_workers", int),
    "nNewWorkers": ("n_new_workers", int),
    "maxNewWorkersPerCycle": ("max_new_workers_per_cycle", int),
    "nQueueLimitJob": ("n_queue_limit_job", int),
    "maxSubmissionAttempts": ("max_submission_attempts", int),
    "prodSourceLabel": ("prod_source_label", str),
    "jobType": ("job_type", str),
    "resourceType": ("resource_type", str),
    "pilotType": ("pilot_type", str),
    "nCore": ("n_core", int),
    "truePilot": ("true_pilot", bool),
    "runMode": ("run_mode", str),
    "maxWalltime": ("max_walltime", int),
    "maxQueuedTime": ("max_queued_time", int),
    "pilotArgs": ("pilot_args", list),
}


def _typed(where: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where} must be a list of strings")
        return value
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{where} must be a {kind.__name__}, got {value!r}")
    return value


def _section(data: dict, name: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand(value: str) -> str:
    """``${NAME}`` and ``${NAME:-default}`` from the environment, so one file serves several set-ups."""
    return _VARIABLE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)


def _resolve(base: str, path: str) -> str:
    """Relative paths in the file are relative to the file, so the service can start from anywhere."""
    if not path:
        return path
    path = os.path.expanduser(expand(path))
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def _database(base_dir: str, value: str) -> str:
    """``postgresql://user@host:port/dbname`` (or ``postgres://``) is PostgreSQL; anything else an SQLite path."""
    if not is_postgres_url(expand(value)):
        return _resolve(base_dir, value)
    value = expand(value)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ConfigError(f"harvester.database: not a PostgreSQL URL ({exc})") from None
    if not parts.path.strip("/"):
        raise ConfigError("harvester.database: the PostgreSQL URL must name a database (postgresql://user@host/dbname)")
    return value


def _queue(name: str, raw: Any) -> QueueConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"[queues.{name}] must be a table")
    queue = QueueConfig(name=name)
    plugin = raw.get("plugin", "local")
    if isinstance(plugin, str):
        queue.plugin = plugin
    elif isinstance(plugin, dict) and isinstance(plugin.get("name"), str):
        queue.plugin = plugin["name"]
        queue.plugin_args = {k: v for k, v in plugin.items() if k != "name"}
    else:
        raise ConfigError(f"queues.{name}.plugin must be a plugin name or a table with a name")
    for key, value in raw.items():
        if key == "plugin":
            continue
        if key not in _QUEUE_KEYS:
            raise ConfigError(f"queues.{name}: unknown key {key!r}")
        attribute, kind = _QUEUE_KEYS[key]
        setattr(queue, attribute, _typed(f"queues.{name}.{key}", value, kind))
    queue.mode = queue.mode.upper()
    if queue.mode not in MODES:
        raise ConfigError(f"queues.{name}.mode must be one of {', '.join(MODES)}, got {queue.mode!r}")
    if queue.pilot_type not in PILOT_TYPES:
        raise ConfigError(f"queues.{name}.pilotType must be one of {', '.join(PILOT_TYPES)}")
    if queue.run_mode not in ("self", "slave"):
        raise ConfigError(f"queues.{name}.runMode must be self or slave")
    for attribute in ("n_queue_limit_worker", "max_workers", "max_new_workers_per_cycle", "n_core"):
        if getattr(queue, attribute) < 0 or (attribute == "n_core" and queue.n_core < 1):
            raise ConfigError(f"queues.{name}: {attribute} must not be negative")
    return queue


def _check_token_source(config: Config) -> None:
    config.token_endpoint = expand(config.token_endpoint)
    if not config.token_endpoint:
        if config.client_id or config.client_secret_file:
            raise ConfigError("harvester.client_id and client_secret_file need harvester.token_endpoint")
        return
    if not config.token_endpoint.startswith(("https://", "http://")):
        raise ConfigError(f"harvester.token_endpoint must be an http(s) URL, got {config.token_endpoint!r}")
    for key in ("client_id", "client_secret_file", "token_file"):
        if not getattr(config, key):
            raise ConfigError(f"harvester.token_endpoint needs harvester.{key}")
    if config.token_refresh_command:
        raise ConfigError("harvester.token_endpoint and harvester.token_refresh_command exclude each other")


def config_from_dict(data: dict, *, base_dir: str = ".") -> Config:
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a table")
    section = _section(data, "harvester")
    for required in ("harvester_id", "server_url"):
        if not section.get(required):
            raise ConfigError(f"harvester.{required} is required")
    values = {}
    for key, value in section.items():
        if key not in _HARVESTER_KEYS:
            raise ConfigError(f"harvester: unknown key {key!r}")
        attribute, kind = _HARVESTER_KEYS[key]
        values[attribute] = _typed(f"harvester.{key}", value, kind)
    config = Config(**values)
    if len(config.harvester_id) > 50:
        raise ConfigError("harvester.harvester_id must have at most 50 characters")
    config.server_url = expand(config.server_url).rstrip("/")
    for attribute in ("token_file", "ca_file", "workdir", "client_secret_file"):
        setattr(config, attribute, _resolve(base_dir, getattr(config, attribute)))
    _check_token_source(config)
    config.database = _database(base_dir, config.database)
    pilot = _section(data, "pilot")
    for key, value in pilot.items():
        if key in ("python", "pythonpath", "url"):
            setattr(config.pilot, key, _typed(f"pilot.{key}", value, str))
        elif key == "extra_args":
            config.pilot.extra_args = _typed("pilot.extra_args", value, list)
        elif key == "env":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError("pilot.env must be a table of strings")
            config.pilot.env = dict(value)
        else:
            raise ConfigError(f"pilot: unknown key {key!r}")
    config.pilot.pythonpath = _resolve(base_dir, config.pilot.pythonpath)
    config.pilot.url = (expand(config.pilot.url) or config.server_url).rstrip("/")
    config.pilot.python = expand(config.pilot.python)
    queues = _section(data, "queues")
    if not queues:
        raise ConfigError("at least one [queues.<name>] is required")
    config.queues = {name: _queue(name, raw) for name, raw in queues.items()}
    return config


def config_load(path: str) -> Config:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode()) if path.endswith(".toml") else json.loads(raw)
    except (tomllib.TOMLDecodeError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    config = config_from_dict(data, base_dir=os.path.dirname(os.path.abspath(path)))
    config.path = os.path.abspath(path)
    return config
