"""The plugin interface of pilot-harvester.md §13, shared by every backend.

A plugin turns workers into something running on a resource and back:

* ``submit_workers(workers)`` -> one ``(ok, diag)`` per worker; on success it sets
  ``worker.batch_id`` (and anything it needs later in ``worker.plugin_data``);
* ``check_workers(workers)`` -> ``(ok, [(status, diag), ...])`` with the new worker status of each
  worker (``harvester.states.WorkerStatus``); it may also set ``native_status``,
  ``native_exit_code``, ``error_code``, ``start_time`` and ``end_time`` on the worker;
* ``kill_worker(worker)`` -> ``(ok, diag)``: stop it (idempotent);
* ``sweep_worker(worker)`` -> ``(ok, diag)``: remove what it left (the access point).

``find_worker(worker)`` recovers a worker recorded as ``pending`` by a Harvester that stopped
between submitting it and recording the submission: it returns True (and sets ``batch_id``) when the
backend knows the worker.
"""

from __future__ import annotations

import os
import shutil
from typing import Protocol

from harvester.config import Config
from harvester.store import WorkSpec


class Plugin(Protocol):
    name: str

    def submit_workers(self, workers: list[WorkSpec]) -> list[tuple[bool, str]]: ...

    def check_workers(self, workers: list[WorkSpec]) -> tuple[bool, list[tuple[str, str]]]: ...

    def kill_worker(self, worker: WorkSpec) -> tuple[bool, str]: ...

    def sweep_worker(self, worker: WorkSpec) -> tuple[bool, str]: ...

    def find_worker(self, worker: WorkSpec) -> bool: ...


def remove_access_point(config: Config, worker: WorkSpec) -> tuple[bool, str]:
    """Remove the worker's directory, refusing anything outside the configured work area."""
    path = worker.access_point
    if not path:
        return True, "no access point"
    base = os.path.realpath(config.workdir)
    real = os.path.realpath(path)
    if os.path.commonpath([base, real]) != base or real == base:
        return False, f"refusing to remove {path}: not inside {config.workdir}"
    try:
        shutil.rmtree(real)
    except FileNotFoundError:
        pass
    except OSError as exc:
        return False, f"cannot remove {path}: {exc}"
    return True, ""
