"""The job as the pilot holds it, parsed from the getJob dictionary (protocol.md §5.5, §5.6)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from pilot import errors
from pilot.errors import PilotError

NULLS = ("", "NULL", "None", None)


def _split(value: Any) -> list[str]:
    if value in NULLS:
        return []
    return str(value).split(",")


def _null(value: str) -> str:
    return "" if value in NULLS else value


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def parse_checksum(value: str) -> dict[str, str]:
    """``ad:0a1b2c3d`` / ``md5:<hex>`` / bare 8-hex adler32 -> {type: value}."""
    value = _null(value)
    if not value:
        return {}
    if ":" in value:
        kind, _, digest = value.partition(":")
        kind = {"ad": "adler32", "adler32": "adler32", "md5": "md5"}.get(kind.lower(), kind.lower())
        return {kind: digest.lower()}
    return {"adler32": value.lower()} if len(value) <= 8 else {"md5": value.lower()}


@dataclass
class FileSpec:
    lfn: str
    filetype: str  # input | output | log
    scope: str = ""
    guid: str = ""
    filesize: int = 0
    checksum: dict[str, str] = field(default_factory=dict)
    dataset: str = ""
    ddmendpoint: str = ""
    storage_token: str = ""
    status: str = ""  # "" -> transferred / failed / missing / not_transferred
    surl: str = ""
    endpoint: str = ""
    path: str = ""  # where the file is on this host after its transfer
    allow_missing: bool = False

    @property
    def adler32(self) -> str:
        return self.checksum.get("adler32", "")


@dataclass
class Job:
    jobid: str
    definition: dict[str, Any]
    taskid: str = ""
    jobsetid: str = ""
    attemptnr: int = 0
    transformation: str = ""
    jobpars: str = ""
    homepackage: str = ""
    swrelease: str = ""
    platform: str = ""
    prodsourcelabel: str = ""
    processingtype: str = ""
    corecount: int = 1
    minramcount: int = 0
    maxdiskcount: int = 0
    maxwalltime: int = 0
    maxcpucount: int = 0
    looping_check: bool = True
    debug: bool = False
    indata: list[FileSpec] = field(default_factory=list)
    outdata: list[FileSpec] = field(default_factory=list)
    logdata: list[FileSpec] = field(default_factory=list)
    # runtime state
    workdir: str = ""
    state: str = "starting"
    server_state: str = ""
    completed: bool = False  # the final update has been acknowledged (or written in no-network mode)
    updates_stopped: bool = False  # "alreadydone" from the server
    piloterrorcodes: list[int] = field(default_factory=list)
    piloterrordiags: list[str] = field(default_factory=list)
    transexitcode: int = 0
    exeerrorcode: int = 0
    exeerrordiag: str = ""
    nevents: int = 0
    debug_command: str = ""
    debug_stdout: str = ""
    metadata: str = ""
    pid: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_analysis(self) -> bool:
        return self.prodsourcelabel in ("user", "panda")

    @property
    def piloterrorcode(self) -> int:
        return self.piloterrorcodes[0] if self.piloterrorcodes else 0

    @property
    def piloterrordiag(self) -> str:
        return self.piloterrordiags[0] if self.piloterrordiags else ""

    def add_error(self, code: int, detail: str = "", *, diag: str | None = None) -> None:
        """Record a pilot error; only the first one is reported (pilot-harvester.md §8.1)."""
        with self.lock:
            if code in self.piloterrorcodes:
                return
            self.piloterrorcodes.append(code)
            self.piloterrordiags.append(diag if diag is not None else errors.diag(code, detail))

    @classmethod
    def from_definition(cls, d: dict[str, Any]) -> Job:
        jobid = str(d.get("PandaID") or d.get("jobid") or "")
        if jobid in NULLS:
            raise PilotError(errors.UNKNOWNEXCEPTION, "job definition without PandaID")
        job = cls(
            jobid=jobid,
            definition=d,
            taskid=_null(str(d.get("taskID", ""))),
            jobsetid=_null(str(d.get("jobsetID", ""))),
            attemptnr=_int(d.get("attemptNr")),
            transformation=_null(str(d.get("transformation", ""))),
            jobpars=_null(str(d.get("jobPars", ""))),
            homepackage=_null(str(d.get("homepackage", ""))),
            swrelease=_null(str(d.get("swRelease", ""))),
            platform=_null(str(d.get("cmtConfig", ""))),
            prodsourcelabel=_null(str(d.get("prodSourceLabel", ""))),
            processingtype=_null(str(d.get("processingType", ""))),
            corecount=_int(d.get("coreCount"), 1) or 1,
            minramcount=_int(d.get("minRamCount")),
            maxdiskcount=_int(d.get("maxDiskCount")),
            maxwalltime=_int(d.get("maxWalltime")),
            maxcpucount=_int(d.get("maxCpuCount")),
            looping_check=str(d.get("loopingCheck", "true")).lower() not in ("false", "0"),
            debug=str(d.get("debug", "")).lower() == "true",
        )
        job.indata = _input_files(d)
        job.outdata, job.logdata = _output_files(d)
        allowed = set(_split(d.get("allowNoOutput")))
        for spec in job.outdata:
            spec.allow_missing = spec.lfn in allowed
        return job


def _column(d: dict[str, Any], key: str, n: int) -> list[str]:
    values = _split(d.get(key))
    if values and len(values) != n:
        raise PilotError(errors.NOTSAMELENGTH, f"{key} has {len(values)} entries for {n} files")
    return [_null(v) for v in values] if values else [""] * n


def _input_files(d: dict[str, Any]) -> list[FileSpec]:
    lfns = _split(d.get("inFiles"))
    n = len(lfns)
    cols = {
        key: _column(d, key, n)
        for key in ("GUID", "fsize", "checksum", "scopeIn", "realDatasetsIn", "prodDBlockToken", "ddmEndPointIn")
    }
    files = []
    for i, lfn in enumerate(lfns):
        if _null(lfn) == "":
            continue
        files.append(
            FileSpec(
                lfn=lfn,
                filetype="input",
                scope=cols["scopeIn"][i],
                guid=cols["GUID"][i],
                filesize=_int(cols["fsize"][i]),
                checksum=parse_checksum(cols["checksum"][i]),
                dataset=cols["realDatasetsIn"][i],
                storage_token=cols["prodDBlockToken"][i],
                ddmendpoint=cols["ddmEndPointIn"][i],
            )
        )
    return files


def _output_files(d: dict[str, Any]) -> tuple[list[FileSpec], list[FileSpec]]:
    lfns = _split(d.get("outFiles"))
    n = len(lfns)
    log_lfn = _null(str(d.get("logFile", "")))
    # scopeOut has no entry for the log: insert scopeLog at the log's position
    scopes = [_null(s) for s in _split(d.get("scopeOut"))]
    if log_lfn in lfns:
        scopes.insert(lfns.index(log_lfn), _null(str(d.get("scopeLog", ""))))
    if len(scopes) < n:
        scopes += [scopes[-1] if scopes else ""] * (n - len(scopes))
    cols = {
        key: _column(d, key, n)
        for key in ("realDatasets", "destinationDBlockToken", "ddmEndPointOut", "destinationDblock")
    }
    outputs: list[FileSpec] = []
    logs: list[FileSpec] = []
    for i, lfn in enumerate(lfns):
        if _null(lfn) == "":
            continue
        is_log = lfn == log_lfn
        spec = FileSpec(
            lfn=lfn,
            filetype="log" if is_log else "output",
            scope=scopes[i],
            guid=_null(str(d.get("logGUID", ""))) if is_log else "",
            dataset=cols["realDatasets"][i] or cols["destinationDblock"][i],
            storage_token=cols["destinationDBlockToken"][i],
            ddmendpoint=cols["ddmEndPointOut"][i],
        )
        if not spec.guid:
            spec.guid = str(uuid.uuid4()).upper()
        (logs if is_log else outputs).append(spec)
    if log_lfn and not logs:
        logs.append(
            FileSpec(
                lfn=log_lfn,
                filetype="log",
                scope=_null(str(d.get("scopeLog", ""))),
                guid=_null(str(d.get("logGUID", ""))) or str(uuid.uuid4()).upper(),
            )
        )
    return outputs, logs
