"""The job dictionary a pilot receives from getJob (protocol.md §5.5–5.7).

Built only from rows the dispatcher already holds (the claimed job, its parameters, its files and
the cached queue record), so producing it costs no query. The per-file lists are the part a pilot
breaks on: every list of a group has one slot per file in the same order, a missing value is the
string ``NULL`` in its slot, and the log file is always the last entry of the output group.
"""

import base64
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from apps.jobs.models import FileType, Job, JobFile
from apps.sites.models import PandaQueue

NULL = "NULL"
MULTI_STEP_OPEN = "<MULTI_STEP_EXEC>"
MULTI_STEP_CLOSE = "</MULTI_STEP_EXEC>"
# eventService column values (jedi.md §4).
ES_JOB, ES_MERGE, JOB_CLONING, JUMBO, FINE_GRAINED = 1, 2, 3, 4, 6
# Upstream's job-cloning tag ``sc:<n>`` carries the consumer type as a number.
CLONING_TYPES = {"1": "runonce", "2": "storeonce"}
# specialHandling tag -> optional key whose value is "True" (jedi.md §4, protocol.md §5.5).
FLAG_KEYS = {
    "po": "putLogToOS",
    "nc": "noExecStrCnv",
    "if": "inFilePosEvtNum",
    "up": "usePrefetcher",
    "ho": "isHPO",
    "om": "onSiteMerging",
}
# A file's dispatchDBlockToken tag meaning "this output may be missing" (upstream FileSpec).
ALLOW_NO_OUTPUT_TAG = "an"
# A token naming the endpoint itself: dst:<RSE>, or the distributed form ddd:<RSE>.
NAMED_ENDPOINT = re.compile("^(?:dst|ddd):(.+)$")


def _scalar(value):
    return NULL if value is None else value


def _slot(value) -> str:
    return NULL if value is None or value == "" else str(value)


def _checksum(file: JobFile) -> str:
    for value, fallback_prefix in ((file.checksum, None), (file.md5sum, "md5")):
        if not value or value == NULL:
            continue
        if ":" in value:
            return value
        prefix = fallback_prefix or ("ad" if len(value) == 8 else "md5")
        return f"{prefix}:{value}"
    return NULL


def _first_token(token: str | None) -> str | None:
    if not token:
        return None
    return token.split(",")[0]


def _destination_token(token: str | None) -> str:
    first = _first_token(token)
    return NULL if first is None else re.sub("^ddd:", "dst:", first)


@dataclass(frozen=True)
class StorageMap:
    """The queue's storage per activity, as ``ddmEndPointIn/Out`` resolution needs it (§5.6)."""

    associated: frozenset[str]
    read: str
    write: str
    log: str
    space_tokens: dict

    @classmethod
    def of(cls, queue: PandaQueue | None) -> "StorageMap":
        if queue is None:
            return cls(frozenset(), "", "", "", {})
        astorages = queue.astorages if isinstance(queue.astorages, dict) else {}

        def endpoints(*activities: str) -> list[str]:
            for activity in activities:
                value = astorages.get(activity)
                items = [value] if isinstance(value, str) else list(value or [])
                if items:
                    return [str(item) for item in items]
            return []

        associated = frozenset(
            str(item) for value in astorages.values() for item in ([value] if isinstance(value, str) else value or [])
        )
        read = next(iter(endpoints("pr", "read_lan", "default")), "")
        write = next(iter(endpoints("pw", "write_lan", "default")), "")
        log = next(iter(endpoints("pl")), write)
        # CRIC-style {"<space token>": "<ddmendpoint>"}; optional in the queue document.
        tokens = queue.document.get("setokens") if isinstance(queue.document, dict) else None
        return cls(associated, read, write, log, tokens if isinstance(tokens, dict) else {})

    def resolve(self, token: str | None, default: str) -> str:
        first = _first_token(token)
        if first:
            named = NAMED_ENDPOINT.match(first)
            if named and named.group(1) in self.associated:
                return named.group(1)
            if first in self.space_tokens:
                return str(self.space_tokens[first])
        return default


def _split_multi_step(parameters: str) -> tuple[str, dict | None]:
    if MULTI_STEP_OPEN in parameters and MULTI_STEP_CLOSE in parameters:
        head, tail = parameters.split(MULTI_STEP_OPEN, 1)
        try:
            steps = json.loads(tail.split(MULTI_STEP_CLOSE, 1)[0])
        except ValueError:
            return parameters, None
        if isinstance(steps, dict):
            return head, steps
    return parameters, None


def _unique_inputs(files: Iterable[JobFile]) -> list[JobFile]:
    seen: set[str] = set()
    inputs = []
    for file in files:
        if file.type == FileType.INPUT and file.lfn not in seen:
            seen.add(file.lfn)
            inputs.append(file)
    return inputs


def _input_lists(inputs: Sequence[JobFile], storage: StorageMap) -> dict:
    def joined(values) -> str:
        return ",".join(values)

    return {
        "inFiles": joined(f.lfn for f in inputs),
        "dispatchDblock": joined(_slot(f.dispatchdblock) for f in inputs),
        "dispatchDBlockToken": joined(_slot(f.dispatchdblocktoken) for f in inputs),
        "prodDBlocks": joined(_slot(f.proddblock) for f in inputs),
        "prodDBlockToken": joined(_slot(f.proddblocktoken) for f in inputs),
        "GUID": joined(_slot(f.guid) for f in inputs),
        "realDatasetsIn": joined(_slot(f.dataset) for f in inputs),
        "fsize": joined(str(f.fsize or 0) for f in inputs),
        "checksum": joined(_checksum(f) for f in inputs),
        "scopeIn": joined(_slot(f.scope) for f in inputs),
        "ddmEndPointIn": joined(storage.resolve(f.dispatchdblocktoken, storage.read) for f in inputs),
    }


def _output_lists(outputs: Sequence[JobFile], log: JobFile | None, storage: StorageMap) -> dict:
    # The pilot puts scopeLog back at the log's position in outFiles, so the log goes last and
    # scopeOut has one entry per non-log output only.
    group = [*outputs, *([log] if log else [])]

    def endpoint(file: JobFile) -> str:
        return storage.resolve(file.destinationdblocktoken, storage.log if file is log else storage.write)

    return {
        "outFiles": ",".join(f.lfn for f in group),
        "destinationDblock": ",".join(_slot(f.destinationdblock) for f in group),
        "destinationDBlockToken": ",".join(_destination_token(f.destinationdblocktoken) for f in group),
        "realDatasets": ",".join(_slot(f.dataset) for f in group),
        "fileDestinationSE": ",".join(_slot(f.destinationse) for f in group),
        "dispatchDBlockTokenForOut": ",".join(_slot(f.dispatchdblocktoken) for f in group),
        "ddmEndPointOut": ",".join(endpoint(f) for f in group),
        "scopeOut": ",".join(_slot(f.scope) for f in outputs),
        "logFile": log.lfn if log else "",
        "logGUID": _slot(log.guid) if log else "",
        "scopeLog": _slot(log.scope) if log else "",
    }


def _write_to_file(inputs: Sequence[JobFile]) -> str:
    by_dataset: dict[str, list[str]] = {}
    for file in inputs:
        name = (file.dataset or "").rstrip("/").split(":")[-1]
        by_dataset.setdefault(name, []).append(file.lfn)
    return "^".join(f"tmpin_{name}:{','.join(lfns)}" for name, lfns in by_dataset.items())


def _optional_keys(job: Job, inputs: Sequence[JobFile], outputs: Sequence[JobFile], group: Sequence[JobFile]) -> dict:
    flags = job.special_handling_flags
    extra: dict = {}
    if "lc" in flags:
        extra["loopingCheck"] = False
    if "dm" in flags:
        extra["debug"] = "True"
    if job.eventservice == JOB_CLONING:
        tags = [flag.split(":", 1)[1] for flag in flags if flag.startswith("sc:")]
        extra["cloneJob"] = CLONING_TYPES.get(tags[0], "") if tags else ""
    elif job.eventservice in (ES_JOB, JUMBO):
        extra["eventService"] = "True"
        extra["prodDBlockTokenForOutput"] = ",".join(_slot(f.proddblocktoken) for f in group)
    elif job.eventservice == FINE_GRAINED:
        extra["eventService"] = "True"
    if job.eventservice == ES_MERGE:
        extra["eventServiceMerge"] = "True"
    elif "wf" in flags:
        extra["writeToFile"] = _write_to_file(inputs)
    no_output = [f.lfn for f in outputs if ALLOW_NO_OUTPUT_TAG in (f.dispatchdblocktoken or "").split(",")]
    if no_output:
        extra["allowNoOutput"] = ",".join(no_output)
    alt_stage_out = [flag.split(":", 1)[1] for flag in flags if flag.startswith("ao:")]
    if alt_stage_out:
        extra["altStageOut"] = alt_stage_out[0]
    for tag, key in FLAG_KEYS.items():
        if tag in flags:
            extra[key] = "True"
    if job.container_name:
        extra["container_name"] = job.container_name
    return extra


def job_dispatch_dict(
    *, job: Job, files: Sequence[JobFile], job_parameters: str | None, queue: PandaQueue | None
) -> dict:
    """The dict for one dispatched job; ``files`` in file (row) order, ``queue`` may be unknown."""
    storage = StorageMap.of(queue)
    inputs = _unique_inputs(files)
    outputs = [f for f in files if f.type == FileType.OUTPUT]
    logs = [f for f in files if f.type == FileType.LOG]
    log = logs[-1] if logs else None
    job_pars, steps = _split_multi_step(job_parameters or "")
    if "ej" in job.special_handling_flags:
        job_pars = base64.b64encode(job_pars.encode()).decode()
    cmt_config = "" if steps is not None and not job.cmtconfig else _scalar(job.cmtconfig)

    data = {
        "StatusCode": 0,
        "PandaID": job.pandaid,
        "prodSourceLabel": _scalar(job.prodsourcelabel),
        "swRelease": _scalar(job.atlasrelease),
        "homepackage": _scalar(job.homepackage),
        "transformation": _scalar(job.transformation),
        "jobName": _scalar(job.jobname),
        "jobDefinitionID": _scalar(job.jobdefinitionid),
        "cloud": _scalar(job.cloud),
        **_input_lists(inputs, storage),
        **_output_lists(outputs, log, storage),
        "jobPars": job_pars,
        "attemptNr": job.attemptnr,
        "destinationSE": _scalar(job.destinationse),
        "prodUserID": _scalar(job.produserid),
        "maxCpuCount": job.maxcpucount,
        "minRamCount": job.minramcount,
        "maxDiskCount": job.maxdiskcount,
        "cmtConfig": cmt_config,
        "processingType": _scalar(job.processingtype),
        "transferType": _scalar(job.transfertype),
        "sourceSite": _scalar(job.sourcesite),
        "currentPriority": job.currentpriority,
        "taskID": _scalar(job.jeditaskid if job.lockedby == "jedi" else job.taskid),
        "coreCount": job.corecount if job.corecount is not None else 1,
        "jobsetID": _scalar(job.jobsetid),
        "reqID": _scalar(job.reqid),
        "nucleus": _scalar(job.nucleus),
        "maxWalltime": _scalar(job.maxwalltime),
        "resource_type": _scalar(job.resource_type),
        # Task attributes; the task model does not carry them yet.
        "ioIntensity": None,
        "ioIntensityUnit": None,
    }
    if steps:
        data.update(steps)
    data.update(_optional_keys(job, inputs, outputs, [*outputs, *([log] if log else [])]))
    return data
