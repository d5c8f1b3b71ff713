"""Stage-in and stage-out of a job's files through the queue's copytools (pilot-harvester.md §6)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from pilot import errors
from pilot.datacontrol import checksum
from pilot.datacontrol.copytools import get_copytool
from pilot.datacontrol.copytools.base import Copytool, TransferContext
from pilot.errors import PilotError
from pilot.info.queuedata import QueueData
from pilot.info.storage import StorageData
from pilot.jobcontrol.jobspec import FileSpec, Job

logger = logging.getLogger(__name__)

ShouldStop = Callable[[], bool]


class TransferAborted(Exception):
    """The job is being killed: stop transferring."""


def activities(kind: str, *, analysis: bool) -> list[str]:
    if kind == "input":
        return (["read_lan_analysis"] if analysis else []) + ["pr", "read_lan", "default"]
    if kind == "log":
        return ["pl", "pls", "pw", "write_lan", "w", "default"]
    return (["write_lan_analysis"] if analysis else []) + ["pw", "write_lan", "w", "default"]


def copytool_names(queuedata: QueueData, acts: list[str]) -> list[str]:
    for activity in acts:
        names = queuedata.acopytools.get(activity)
        if names:
            return list(names)
    if queuedata.copytools:
        return list(queuedata.copytools)
    raise PilotError(errors.UNKNOWNCOPYTOOL, "queue defines no copytools")


def default_endpoint(queuedata: QueueData, acts: list[str]) -> str:
    for activity in acts:
        endpoints = queuedata.astorages.get(activity)
        if endpoints:
            return endpoints[0]
    return ""


class Transfers:
    def __init__(
        self,
        *,
        job: Job,
        queuedata: QueueData,
        storage: StorageData,
        pilot_home: str,
        should_stop: ShouldStop,
        stageout_attempts: int = 1,
    ) -> None:
        self.job = job
        self.queuedata = queuedata
        self.storage = storage
        self.pilot_home = pilot_home
        self.should_stop = should_stop
        self.stageout_attempts = max(1, stageout_attempts)

    def _tool(self, name: str) -> Copytool:
        cls = get_copytool(name)
        options = self.queuedata.copytools.get(name) or {}
        context = TransferContext(
            jobdir=self.job.workdir,
            pilot_home=self.pilot_home,
            storage=self.storage,
            options=options if isinstance(options, dict) else {},
        )
        return cls(context)

    def _surl(self, spec: FileSpec, acts: list[str], protocol_activities: list[str]) -> tuple[str, str]:
        endpoint_name = spec.ddmendpoint or default_endpoint(self.queuedata, acts)
        if not endpoint_name:
            raise PilotError(errors.NOSTORAGE, f"no storage endpoint for {spec.lfn}")
        endpoint = self.storage.get(endpoint_name)
        last: PilotError | None = None
        for activity in protocol_activities:
            try:
                surl, _ = endpoint.surl(scope=spec.scope, lfn=spec.lfn, activity=activity)
                return surl, endpoint_name
            except PilotError as exc:
                last = exc
        raise last or PilotError(errors.NOSTORAGEPROTOCOL, endpoint_name)

    # -- stage-in ------------------------------------------------------------------------------------
    def stage_in(self) -> None:
        acts = activities("input", analysis=self.job.is_analysis)
        names = copytool_names(self.queuedata, acts)
        for spec in self.job.indata:
            if self.should_stop():
                raise TransferAborted()
            if spec.storage_token == "local":
                logger.info("%s has prodDBlockToken=local: not copied", spec.lfn)
                spec.status = "no_transfer"
                continue
            self._stage_in_file(spec, names, acts)

    def _stage_in_file(self, spec: FileSpec, names: list[str], acts: list[str]) -> None:
        last: PilotError | None = None
        for name in names:
            tool = self._tool(name)
            try:
                surl = ""
                if tool.needs_storage:
                    surl, spec.endpoint = self._surl(spec, acts, ["read_lan", "read_wan"])
                    if not tool.supports(surl):
                        continue
                local = tool.stage_in(spec, surl)
                spec.path = local
                verify_input(spec, local)
            except PilotError as exc:
                logger.warning("stage-in of %s with %s failed: %s", spec.lfn, name, exc)
                last = exc
                continue
            spec.status = "transferred"
            spec.surl = surl
            logger.info("staged in %s with %s", spec.lfn, name)
            return
        spec.status = "failed"
        raise last or PilotError(errors.STAGEINFAILED, f"no copytool could stage in {spec.lfn}")

    # -- stage-out -----------------------------------------------------------------------------------
    def stage_out(self, specs: list[FileSpec], *, kind: str) -> None:
        acts = activities(kind, analysis=self.job.is_analysis)
        names = copytool_names(self.queuedata, acts)
        for spec in specs:
            if kind != "log" and self.should_stop():
                raise TransferAborted()
            local = os.path.join(self.job.workdir, spec.lfn)
            if not os.path.isfile(local):
                if spec.allow_missing:
                    spec.status = "missing"
                    logger.info("output %s is allowed to be missing", spec.lfn)
                    continue
                spec.status = "failed"
                raise PilotError(errors.MISSINGOUTPUTFILE, spec.lfn)
            spec.filesize = os.path.getsize(local)
            try:
                spec.checksum = {"adler32": checksum.adler32(local)}
            except OSError as exc:
                raise PilotError(errors.CHECKSUMCALCFAILURE, f"{spec.lfn}: {exc}") from None
            self._stage_out_file(spec, local, names, acts)

    def _stage_out_file(self, spec: FileSpec, local: str, names: list[str], acts: list[str]) -> None:
        last: PilotError | None = None
        for _attempt in range(self.stageout_attempts):
            for name in names:
                tool = self._tool(name)
                try:
                    surl, endpoint = self._destination(spec, acts, tool)
                    if tool.needs_storage and not tool.supports(surl):
                        continue
                    spec.path = tool.stage_out(spec, local, surl)
                    if tool.needs_storage:
                        verify_output(spec, surl)
                except PilotError as exc:
                    logger.warning("stage-out of %s with %s failed: %s", spec.lfn, name, exc)
                    last = exc
                    continue
                spec.status, spec.surl, spec.endpoint = "transferred", surl, endpoint
                logger.info("staged out %s to %s", spec.lfn, surl)
                return
        spec.status = "failed"
        raise last or PilotError(errors.STAGEOUTFAILED, f"no copytool could stage out {spec.lfn}")

    def _destination(self, spec: FileSpec, acts: list[str], tool: Copytool) -> tuple[str, str]:
        try:
            return self._surl(spec, acts, ["write_lan", "write_wan"])
        except PilotError:
            if tool.needs_storage:
                raise
        # the mv copytool works without storage data: the file stays in PILOT_HOME for an agent
        return f"file://{os.path.join(os.path.abspath(self.pilot_home), spec.lfn)}", spec.ddmendpoint


def verify_input(spec: FileSpec, local: str) -> None:
    try:
        size = os.path.getsize(local)
    except OSError as exc:
        raise PilotError(errors.STAGEINFAILED, f"{spec.lfn}: {exc}") from None
    if spec.filesize and size != spec.filesize:
        _discard(local)
        raise PilotError(errors.STAGEINFAILED, f"{spec.lfn}: size {size} != expected {spec.filesize}")
    if "adler32" in spec.checksum:
        found = checksum.adler32(local)
        if found != spec.checksum["adler32"].zfill(8):
            _discard(local)
            raise PilotError(errors.GETADMISMATCH, f"{spec.lfn}: adler32 {found} != {spec.checksum['adler32']}")
    elif "md5" in spec.checksum:
        found = checksum.md5(local)
        if found != spec.checksum["md5"]:
            _discard(local)
            raise PilotError(errors.GETMD5MISMATCH, f"{spec.lfn}: md5 {found} != {spec.checksum['md5']}")


def verify_output(spec: FileSpec, surl: str) -> None:
    from pilot.info.storage import local_path

    if not surl.startswith("file:"):
        return
    path = local_path(surl)
    if os.path.getsize(path) != spec.filesize:
        raise PilotError(errors.STAGEOUTFAILED, f"{spec.lfn}: size at destination differs")
    if checksum.adler32(path) != spec.adler32:
        raise PilotError(errors.PUTADMISMATCH, f"{spec.lfn}: adler32 at destination differs")


def _discard(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def output_report(job: Job) -> dict[str, dict[str, object]]:
    """The ``xml`` / ``job_output_report`` JSON: every transferred output and the log (protocol.md §7)."""
    report: dict[str, dict[str, object]] = {}
    for spec in job.outdata + job.logdata:
        if spec.status != "transferred":
            continue
        report[spec.lfn] = {
            "guid": spec.guid,
            "fsize": spec.filesize,
            "adler32": spec.adler32,
            "surl": spec.surl,
            "endpoint": spec.endpoint,
        }
    return report
