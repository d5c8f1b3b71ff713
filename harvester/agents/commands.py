"""CommandManager: heartbeat, then the server's commands (pilot-harvester.md §10.1).

``KILL_WORKERS`` (params ``status``, ``computingSite``, ``computingElement``, ``submissionHost``: an
empty or missing filter matches everything) and ``SYNC_WORKERS_KILL`` (a list of worker IDs) mark
workers for the sweeper; ``SET_N_WORKERS_JOBTYPE`` (``{jobType: {resourceType: n}}``, the queue in
the command name ``SET_N_WORKERS_JOBTYPE:<queue>`` or in ``params["queue"]``) sets how many new
workers a ``runMode: slave`` queue gets; ``REPORT_WORKER_STATS`` sends the statistics now. Commands
are kept in the store between retrieval and acknowledgement, so none is lost to a restart.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from harvester import __version__
from harvester.agents.submitter import COMMANDED_KEY
from harvester.communicator import CommunicationError
from harvester.context import Harvester
from harvester.states import LIVE
from harvester.store import TIME_FORMAT, utcnow

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "heartbeat_at"
KILL_WORKERS = "KILL_WORKERS"
SYNC_WORKERS_KILL = "SYNC_WORKERS_KILL"
SET_N_WORKERS = "SET_N_WORKERS_JOBTYPE"
REPORT_WORKER_STATS = "REPORT_WORKER_STATS"


def commands_run(h: Harvester, *, started: dt.datetime) -> None:
    _heartbeat(h, started)
    _retrieve(h)
    for command in h.store.commands("new"):
        try:
            _execute(h, command)
        except Exception:
            log.exception("command %s (%s) failed", command["command_id"], command["command"])
        h.store.command_set_status([command["command_id"]], "processed")
    _acknowledge(h)


def _heartbeat(h: Harvester, started: dt.datetime) -> None:
    last = h.store.state_get(HEARTBEAT_KEY)
    if last and dt.datetime.strptime(last, TIME_FORMAT) > utcnow() - dt.timedelta(seconds=h.config.heartbeat_seconds):
        return
    data = {"startTime": "datetime/" + started.strftime(TIME_FORMAT), "sw_version": __version__, "commit_stamp": ""}
    try:
        answer = h.comm.heartbeat(data)
    except CommunicationError as exc:
        log.warning("heartbeat not sent: %s", exc)
        return
    if answer.success:
        h.store.state_set(HEARTBEAT_KEY, utcnow().strftime(TIME_FORMAT))
    else:
        log.warning("heartbeat refused: %s", answer.message)


def _retrieve(h: Harvester) -> None:
    while True:
        try:
            commands = h.comm.acquire_commands(h.config.commands_bulk_size)
        except CommunicationError as exc:
            log.warning("commands not retrieved: %s", exc)
            return
        for command in commands:
            h.store.command_insert(
                command_id=int(command["command_id"]),
                command=str(command["command"]),
                params=command.get("params"),
                ack_requested=bool(command.get("ack_requested")),
            )
        if len(commands) < h.config.commands_bulk_size:
            return


def _acknowledge(h: Harvester) -> None:
    ids = [command["command_id"] for command in h.store.commands("processed")]
    if not ids:
        return
    try:
        if h.comm.acknowledge_commands(ids):
            h.store.commands_delete("processed")
    except CommunicationError as exc:
        log.warning("commands not acknowledged: %s", exc)


def _listed(values: Any) -> list[str] | None:
    """A filter value: None (or "ALL", or empty) matches everything."""
    if values in (None, "ALL", [], ""):
        return None
    if isinstance(values, str):
        return [values]
    return [str(value) for value in values]


def _execute(h: Harvester, command: dict[str, Any]) -> None:
    name, params = command["command"], command["params"]
    log.info("command %s: %s %s", command["command_id"], name, params)
    if name == KILL_WORKERS:
        _kill_workers(h, params if isinstance(params, dict) else {})
    elif name == SYNC_WORKERS_KILL:
        ids = params.get("workerIDs", params.get("worker_ids", [])) if isinstance(params, dict) else params
        for worker in h.store.workers(worker_ids=[int(i) for i in ids or []], statuses=LIVE):
            h.store.worker_update(worker.worker_id, kill_requested=True, diag="killed by a SYNC_WORKERS_KILL command")
    elif name.startswith(SET_N_WORKERS):
        _set_n_workers(h, name, params if isinstance(params, dict) else {})
    elif name == REPORT_WORKER_STATS:
        h.report_stats_now = True
    else:
        log.warning("command %s not understood", name)


def _kill_workers(h: Harvester, params: dict[str, Any]) -> None:
    statuses = _listed(params.get("status"))
    queues = _listed(params.get("computingSite"))
    elements = _listed(params.get("computingElement"))
    hosts = _listed(params.get("submissionHost"))
    if hosts is not None and h.hostname not in hosts:
        return
    for worker in h.store.workers(statuses=LIVE):
        if statuses is not None and worker.status not in statuses:
            continue
        if queues is not None and worker.queue not in queues:
            continue
        if elements is not None and f"{worker.plugin}://{h.hostname}" not in elements:
            continue
        h.store.worker_update(worker.worker_id, kill_requested=True, diag="killed by a KILL_WORKERS command")


def _set_n_workers(h: Harvester, name: str, params: dict[str, Any]) -> None:
    target = name.partition(":")[2] or params.get("queue") or params.get("computingSite")
    queues = [h.queue(target)] if target in h.config.queues else list(h.config.queues.values()) if not target else []
    for queue in queues:
        if queue.run_mode != "slave":
            continue
        per_resource = params.get(queue.job_type) or {}
        count = per_resource.get(queue.resource_type, 0) if isinstance(per_resource, dict) else 0
        h.store.state_set(COMMANDED_KEY.format(queue=queue.name), str(int(count)))
