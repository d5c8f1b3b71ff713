"""Parse and validate a task parameter map (jedi.md §3, §5) into what the refiner stores.

Pure: no database. :func:`parse_task_params` turns the submitted JSON object into a
:class:`ParsedTask` — the ``jedi_tasks`` column values, the split rule, the datasets with their
output file-name templates, and the job-parameter template — or raises :class:`TaskParamError`
naming the first problem. Submission calls it to refuse a bad map before anything is stored; the
TaskRefiner calls it again on the stored map; the ContentsFeeder reads the feeding options
(``maxAttempt``, ``nFiles``, ``noInput``, ``pfnList``, ...) from the same result.

Split rule (``Task.splitrule``): upstream's compact ``CODE=value,CODE=value`` string with
upstream's two-letter codes, so tools that read upstream's split rules read ours:

=====  =======================  =====  =======================
code   task parameter           code   task parameter
=====  =======================  =====  =======================
NF     nFilesPerJob             NE     nEventsPerJob
NG     nGBPerJob                MF     nMaxFilesPerJob
MX     maxEventsPerJob          EI     nEventsPerInputFile
TN     tgtMaxOutputForNG        MW     maxWalltime
CC     maxCoreCount             DR     disableAutoRetry
US     useScout (1 unless       DM     debugMode
       ``skipScout``)
EJ     encJobParams             ST     useSecrets
LC     noLoopingCheck           WF     writeInputToFile
MS     multiStepExec            IS     inputPreStaging
MO     mergeOutput              UB     useBuild (``buildSpec``)
PL     pfnList                  RS     randomSeed offset
FT     firstEvent offset        RX     retryRamOffset
RY     retryRamStep             DI     disableReassign
UX     useExhausted             FG     failGoalUnreached
ZF     nFilesPerMergeJob        ZG     nGBPerMergeJob
ZE     nEventsPerMergeJob       ZM     nMaxFilesPerMergeJob
=====  =======================  =====  =======================

and four codes upstream does not have (it keeps these values elsewhere): ``TE``
tgtNumEventsPerJob, ``NX`` nFiles, ``NV`` nEvents, ``MA`` maxAttempt. Values are integers.
:func:`split_rule_format` / :func:`split_rule_parse` convert between the string and a dict keyed
by the task-parameter names above.

Datasets: input items (``param_type: input``) in ``jobParameters`` give input datasets; the first
input item is the master (stream ``IN`` or its placeholder name), later ones are secondaries
whose stream is their placeholder name and whose ``master`` is the master's stream. Names are
stored as ``scope:name``. ``noInput`` adds a ``pseudo_input`` dataset (stream None), ``pfnList`` a
``pseudo_input`` stream ``IN`` (unless an input item names one). Output items become ``OUTPUT<k>``
(k counting output datasets from 0) and the ``log`` item ``LOG0``; the LFN template of an output
item is the text after its last ``=`` (or, without ``=``, its last word), quotes removed, and that
text is replaced by ``${OUTPUT<k>}`` in the job parameters. ``mergeOutput`` adds a ``tmpl_output`` /
``tmpl_log`` dataset ``panda.um.<name>`` per output/log dataset, ``buildSpec`` a ``lib`` dataset.

Job-parameter template: the ``value`` of every ``jobParameters`` item except ``hidden`` ones,
joined with one space (none after an item with ``padding: false``); ``es_only`` items are wrapped
in ``<PANDA_ES_ONLY>…</PANDA_ES_ONLY>``. Every placeholder in it must be known
(:func:`apps.jedi.placeholders.unknown_placeholders`).
"""

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.ddm.interface import DDMError
from apps.ddm.names import did_split
from apps.jedi.placeholders import find_placeholders, unknown_placeholders

DEFAULT_MAX_ATTEMPT = 3
DEFAULT_CPU_EFFICIENCY = 90
DEFAULT_BASE_WALLTIME = 600
RAM_UNITS = ("MBPerCore", "MBPerCoreFixed", "MB")
PSEUDO_DATASET = "pseudo_dataset"
UNMERGED_PREFIX = "panda.um."


class TaskParamError(ValueError):
    """The task parameter map is not acceptable; ``str()`` says which key and why."""


# --- split rule -----------------------------------------------------------------------------------

SPLIT_RULE_CODES: dict[str, str] = {
    "nFilesPerJob": "NF",
    "nEventsPerJob": "NE",
    "nGBPerJob": "NG",
    "nMaxFilesPerJob": "MF",
    "maxEventsPerJob": "MX",
    "nEventsPerInputFile": "EI",
    "tgtMaxOutputForNG": "TN",
    "maxWalltime": "MW",
    "maxCoreCount": "CC",
    "disableAutoRetry": "DR",
    "useScout": "US",
    "debugMode": "DM",
    "encJobParams": "EJ",
    "useSecrets": "ST",
    "noLoopingCheck": "LC",
    "writeInputToFile": "WF",
    "multiStepExec": "MS",
    "inputPreStaging": "IS",
    "mergeOutput": "MO",
    "useBuild": "UB",
    "pfnList": "PL",
    "randomSeed": "RS",
    "firstEvent": "FT",
    "retryRamOffset": "RX",
    "retryRamStep": "RY",
    "disableReassign": "DI",
    "useExhausted": "UX",
    "failGoalUnreached": "FG",
    "nFilesPerMergeJob": "ZF",
    "nGBPerMergeJob": "ZG",
    "nEventsPerMergeJob": "ZE",
    "nMaxFilesPerMergeJob": "ZM",
    # not upstream codes: upstream keeps these in the parameter map or the dataset rows
    "tgtNumEventsPerJob": "TE",
    "nFiles": "NX",
    "nEvents": "NV",
    "maxAttempt": "MA",
}
_NAME_OF_CODE = {code: name for name, code in SPLIT_RULE_CODES.items()}
# Integer rules taken from the parameter map as they are.
_NUMERIC_RULES = (
    "nFilesPerJob",
    "nEventsPerJob",
    "nGBPerJob",
    "nMaxFilesPerJob",
    "maxEventsPerJob",
    "nEventsPerInputFile",
    "tgtNumEventsPerJob",
    "tgtMaxOutputForNG",
    "maxWalltime",
    "maxCoreCount",
    "retryRamOffset",
    "retryRamStep",
    "nFilesPerMergeJob",
    "nGBPerMergeJob",
    "nEventsPerMergeJob",
    "nMaxFilesPerMergeJob",
    "nFiles",
    "nEvents",
)
# Rules that must be at least 1 when given (0 would make no job or divide by zero).
_POSITIVE_RULES = frozenset(
    {
        "nFilesPerJob",
        "nEventsPerJob",
        "nGBPerJob",
        "nMaxFilesPerJob",
        "maxEventsPerJob",
        "nEventsPerInputFile",
        "tgtNumEventsPerJob",
        "nFiles",
        "nEvents",
        "nFilesPerMergeJob",
        "nGBPerMergeJob",
        "nEventsPerMergeJob",
        "nMaxFilesPerMergeJob",
    }
)
# Boolean flags set to 1 when true.
_FLAG_RULES = (
    "disableAutoRetry",
    "debugMode",
    "encJobParams",
    "useSecrets",
    "noLoopingCheck",
    "writeInputToFile",
    "multiStepExec",
    "inputPreStaging",
    "mergeOutput",
    "disableReassign",
    "useExhausted",
)


def split_rule_format(rules: Mapping[str, int | bool]) -> str:
    """``{"nFilesPerJob": 2, "useScout": True}`` -> ``"NF=2,US=1"`` (codes in the order given;
    False/None values are left out). Unknown names raise KeyError."""
    parts = []
    for name, value in rules.items():
        if value is None or value is False:
            continue
        parts.append(f"{SPLIT_RULE_CODES[name]}={int(value)}")
    return ",".join(parts)


def split_rule_parse(text: str | None) -> dict[str, int]:
    """``"NF=2,US=1"`` -> ``{"nFilesPerJob": 2, "useScout": 1}``. Codes this module does not know
    (written by upstream tools) are skipped; a malformed value raises TaskParamError."""
    rules: dict[str, int] = {}
    for part in (text or "").split(","):
        code, sep, value = part.strip().partition("=")
        if not sep or code not in _NAME_OF_CODE:
            continue
        try:
            rules[_NAME_OF_CODE[code]] = int(value)
        except ValueError:
            raise TaskParamError(f"split rule {part!r}: the value is not an integer") from None
    return rules


# --- result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputTemplateSpec:
    streamname: str
    filenametemplate: str
    serialnr: int = 1  # first ${SN}: 1 + the item's ``offset``


@dataclass(frozen=True)
class DatasetSpec:
    """One ``jedi_datasets`` row to be. ``master`` is the master's stream for secondary inputs."""

    type: str
    datasetname: str
    streamname: str | None
    containername: str | None = None
    attributes: str = ""
    master: str | None = None
    storagetoken: str | None = None
    destination: str | None = None
    expand: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    nfilesperjob: int | None = None
    templates: tuple[OutputTemplateSpec, ...] = ()

    @property
    def is_input(self) -> bool:
        return self.type in ("input", "pseudo_input")


@dataclass(frozen=True)
class ParsedTask:
    columns: dict[str, Any]  # Task field -> value (includes splitrule)
    rules: dict[str, int]
    datasets: tuple[DatasetSpec, ...]
    jobparams_template: str
    max_attempt: int = DEFAULT_MAX_ATTEMPT
    max_failure: int | None = None
    no_input: bool = False
    pfn_list: tuple[str, ...] = ()
    unique_task_name: bool = False
    streams: tuple[str, ...] = field(default=())

    @property
    def splitrule(self) -> str:
        return self.columns["splitrule"]

    def inputs(self) -> list[DatasetSpec]:
        return [ds for ds in self.datasets if ds.is_input]

    def rule(self, name: str) -> int | None:
        return self.rules.get(name)


# --- value checks ---------------------------------------------------------------------------------

# Task fields whose maximum length is checked: parameter key -> (column, max length).
_STRING_COLUMNS = {
    "taskName": ("taskname", 255),
    "userName": ("username", 128),
    "vo": ("vo", 16),
    "prodSourceLabel": ("prodsourcelabel", 20),
    "taskType": ("tasktype", 64),
    "workingGroup": ("workinggroup", 32),
    "processingType": ("processingtype", 64),
    "campaign": ("campaign", 72),
    "transPath": ("transpath", 250),
    "transHome": ("transhome", 128),
    "transUses": ("transuses", 64),
    "architecture": ("architecture", 256),
    "container_name": ("container_name", 200),
    "cloud": ("cloud", 50),
    "site": ("site", 250),
    "nucleus": ("nucleus", 52),
    "countryGroup": ("countrygroup", 20),
    "walltimeUnit": ("walltimeunit", 32),
    "cpuTimeUnit": ("cputimeunit", 32),
    "outDiskUnit": ("outdiskunit", 32),
    "workDiskUnit": ("workdiskunit", 32),
    "ioIntensityUnit": ("iointensityunit", 32),
    "osInfo": ("termcondition", 100),
}


def _present(params: Mapping, key: str) -> bool:
    return params.get(key) is not None


def _string(params: Mapping, key: str, *, required: bool = False, default: str | None = None) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise TaskParamError(f"{key} is required")
        return default
    if not isinstance(value, str):
        raise TaskParamError(f"{key} must be a string, got {type(value).__name__}")
    limit = _STRING_COLUMNS.get(key, (None, None))[1]
    if limit and len(value) > limit:
        raise TaskParamError(f"{key} is longer than {limit} characters")
    return value


def _integer(params: Mapping, key: str, *, minimum: int | None = 0, default: int | None = None) -> int | None:
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TaskParamError(f"{key} must be an integer, got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise TaskParamError(f"{key} must be an integer, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise TaskParamError(f"{key} must be an integer, got {value!r}")
    number = int(number)
    if minimum is not None and number < minimum:
        raise TaskParamError(f"{key} must be at least {minimum}, got {number}")
    if abs(number) > 2**62:
        raise TaskParamError(f"{key} is too large")
    return number


def _number(params: Mapping, key: str, *, minimum: float = 0.0) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TaskParamError(f"{key} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise TaskParamError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < minimum:
        raise TaskParamError(f"{key} must be a number of at least {minimum:g}, got {value!r}")
    return number


def _flag(params: Mapping, key: str) -> bool:
    value = params.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", ""):
        return value.lower() in ("true", "1")
    raise TaskParamError(f"{key} must be a boolean, got {value!r}")


def trans_home(value: str | None) -> str | None:
    """``AtlasProduction-17.2.11`` -> ``AtlasProduction/17.2.11``: the first ``-<digits>.``."""
    if not value:
        return value
    return re.sub(r"-(\d+\.)", r"/\1", value, count=1)


def scoped_name(name: str, *, what: str) -> str:
    """``scope:name`` of a DID (the trailing ``/`` of a container kept)."""
    try:
        scope, bare = did_split(name)
    except DDMError as exc:
        raise TaskParamError(f"{what}: {exc}") from None
    return f"{scope}:{bare}{'/' if name.endswith('/') else ''}"


# --- parsing --------------------------------------------------------------------------------------


def load_task_params(text: str | bytes) -> dict:
    """The stored JSON text as a dict; TaskParamError when it is not a JSON object."""
    try:
        params = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise TaskParamError(f"the task parameters are not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise TaskParamError("the task parameters must be a JSON object")
    return params


def parse_task_params(params: Mapping[str, Any]) -> ParsedTask:
    """The structured task, or TaskParamError naming the first problem."""
    if not isinstance(params, Mapping):
        raise TaskParamError("the task parameters must be a JSON object")
    columns = _columns(params)
    rules = _rules(params)
    _check_resources(params, columns, rules)
    layout = _Layout(params)
    template, streams = layout.build()
    _check_fillable(template, rules, no_input=_flag(params, "noInput"))
    if layout.rndm_offset is not None:
        rules["randomSeed"] = layout.rndm_offset
    if layout.first_event_offset is not None:
        rules["firstEvent"] = layout.first_event_offset
    max_attempt = _integer(params, "maxAttempt", minimum=1) or DEFAULT_MAX_ATTEMPT
    if rules.get("disableAutoRetry"):
        max_attempt = 1
    rules["maxAttempt"] = max_attempt
    columns["splitrule"] = split_rule_format(rules)
    if len(columns["splitrule"]) > 500:
        raise TaskParamError("the split rules are longer than 500 characters")
    return ParsedTask(
        columns=columns,
        rules=rules,
        datasets=tuple(layout.datasets),
        jobparams_template=template,
        max_attempt=max_attempt,
        max_failure=_integer(params, "maxFailure", minimum=1),
        no_input=_flag(params, "noInput"),
        pfn_list=tuple(layout.pfn_list),
        unique_task_name=_flag(params, "uniqueTaskName"),
        streams=tuple(streams),
    )


def _columns(params: Mapping) -> dict[str, Any]:
    label = _string(params, "prodSourceLabel", default="user")
    task_type = _string(params, "taskType", default="anal" if label in ("user", "panda") else "prod")
    priority = _integer(params, "taskPriority", minimum=None, default=1000)
    ram_unit = _string(params, "ramCountUnit") or _string(params, "ramUnit")
    if ram_unit is not None and ram_unit not in RAM_UNITS:
        raise TaskParamError(f"ramCountUnit must be one of {', '.join(RAM_UNITS)}, got {ram_unit!r}")
    columns: dict[str, Any] = {
        "taskname": _string(params, "taskName", required=True),
        "username": _string(params, "userName", required=True),
        "vo": _string(params, "vo", default="atlas"),
        "prodsourcelabel": label,
        "tasktype": task_type,
        "taskpriority": priority,
        "currentpriority": _integer(params, "currentPriority", minimum=None, default=priority),
        "workinggroup": _string(params, "workingGroup"),
        "countrygroup": _string(params, "countryGroup"),
        "processingtype": _string(params, "processingType"),
        "campaign": _string(params, "campaign"),
        "transpath": _string(params, "transPath"),
        "transhome": trans_home(_string(params, "transHome")),
        "transuses": _string(params, "transUses"),
        "architecture": _string(params, "architecture"),
        "container_name": _string(params, "container_name"),
        "cloud": _string(params, "cloud"),
        "site": _string(params, "site"),
        "nucleus": _string(params, "nucleus"),
        "termcondition": _string(params, "osInfo"),
        "corecount": _integer(params, "coreCount", default=1),
        "ramcount": _integer(params, "ramCount", default=0),
        "ramunit": ram_unit,
        "baseramcount": _integer(params, "baseRamCount", default=0),
        "walltime": _integer(params, "walltime", default=0),
        "walltimeunit": _string(params, "walltimeUnit"),
        "basewalltime": _integer(params, "baseWalltime", default=DEFAULT_BASE_WALLTIME),
        "cputime": _number(params, "cpuTime"),
        "cputimeunit": _string(params, "cpuTimeUnit"),
        "cpuefficiency": _integer(params, "cpuEfficiency", default=DEFAULT_CPU_EFFICIENCY),
        "outdiskcount": _number(params, "outDiskCount") or 0.0,
        "outdiskunit": _string(params, "outDiskUnit"),
        "workdiskcount": _integer(params, "workDiskCount", default=0),
        "workdiskunit": _string(params, "workDiskUnit"),
        "iointensity": _integer(params, "ioIntensity"),
        "iointensityunit": _string(params, "ioIntensityUnit"),
        "reqid": _integer(params, "reqID", minimum=1),
        "goal": _goal(params),
        "job_label": "user" if task_type == "anal" else "managed",
        "eventservice": 0,
    }
    if columns["cpuefficiency"] > 100:
        raise TaskParamError(f"cpuEfficiency is a percentage: at most 100, got {columns['cpuefficiency']}")
    if columns["site"]:
        try:
            re.compile(columns["site"])
        except re.error as exc:
            raise TaskParamError(f"site {columns['site']!r} is not a valid queue name or pattern: {exc}") from None
    return columns


def _goal(params: Mapping) -> int | None:
    goal = _number(params, "goal")
    if goal is None:
        return None
    if not 0 < goal <= 100:
        raise TaskParamError(f"goal is a percentage of the input: between 0 and 100, got {goal:g}")
    return int(goal * 10)


def _rules(params: Mapping) -> dict[str, int]:
    rules: dict[str, int] = {}
    for name in _NUMERIC_RULES:
        value = _integer(params, name, minimum=1 if name in _POSITIVE_RULES else 0)
        if value is not None:
            rules[name] = value
    for name in _FLAG_RULES:
        if _flag(params, name):
            rules[name] = 1
    if not _flag(params, "skipScout"):
        rules["useScout"] = 1
    if _flag(params, "failWhenGoalUnreached"):
        rules["failGoalUnreached"] = 1
    if params.get("buildSpec") is not None:
        rules["useBuild"] = 1
    if params.get("pfnList") is not None:
        rules["pfnList"] = 1
    if rules.get("nMaxFilesPerJob") and rules.get("nFilesPerJob", 0) > rules["nMaxFilesPerJob"]:
        raise TaskParamError(
            f"nFilesPerJob ({rules['nFilesPerJob']}) is larger than nMaxFilesPerJob ({rules['nMaxFilesPerJob']})"
        )
    return rules


def _check_fillable(template: str, rules: Mapping, *, no_input: bool) -> None:
    """Refuse placeholders no job of this task can ever have a value for: ``${FIRSTEVENT}`` is set
    only for jobs cut by ``nEventsPerJob``, ``${SEQNUMBER}`` only for the pseudo files of
    ``noInput`` tasks. The generator would otherwise send the task ``tobroken`` at its first job."""
    for ph in find_placeholders(template):
        if ph.name == "FIRSTEVENT" and not rules.get("nEventsPerJob"):
            raise TaskParamError(f"jobParameters: {ph.raw} needs nEventsPerJob (only jobs cut by events have one)")
        if ph.name == "SEQNUMBER" and not no_input:
            raise TaskParamError(f"jobParameters: {ph.raw} needs noInput (only noInput jobs have a sequence number)")


def _check_resources(params: Mapping, columns: dict, rules: dict) -> None:
    cores = columns["corecount"]
    if rules.get("maxCoreCount") and cores > rules["maxCoreCount"]:
        raise TaskParamError(f"coreCount ({cores}) is larger than maxCoreCount ({rules['maxCoreCount']})")
    if rules.get("maxWalltime") and columns["walltime"] > rules["maxWalltime"]:
        raise TaskParamError(f"walltime ({columns['walltime']}) is larger than maxWalltime ({rules['maxWalltime']})")
    if columns["cputime"] is not None and not columns["cputimeunit"]:
        raise TaskParamError("cpuTime needs cpuTimeUnit (e.g. HS06sPerEvent)")
    if _flag(params, "noInput") and not (rules.get("nEvents") or rules.get("nFiles")):
        raise TaskParamError("a noInput task needs nEvents or nFiles (how many jobs to make)")


class _Layout:
    """Walks ``jobParameters`` and ``log``: datasets, output templates, the job-parameter template."""

    def __init__(self, params: Mapping):
        self.params = params
        self.datasets: list[DatasetSpec] = []
        self.pfn_list: list[str] = []
        self.rndm_offset: int | None = None
        self.first_event_offset: int | None = None
        self._n_outputs = 0
        self._outputs: dict[tuple[str, str], int] = {}  # (type, name) -> index in self.datasets
        self._master: str | None = None
        self._input_streams: list[str] = []

    def build(self) -> tuple[str, list[str]]:
        params = self.params
        items = params.get("jobParameters")
        if items is None:
            raise TaskParamError("jobParameters is required")
        if not isinstance(items, list) or not items:
            raise TaskParamError("jobParameters must be a non-empty list of items")
        log = params.get("log")
        if log is None:
            raise TaskParamError("log is required: every job writes one log file")
        if not isinstance(log, dict):
            raise TaskParamError("log must be an object with type, param_type, dataset and value")
        merge = _flag(params, "mergeOutput")
        self._pseudo_inputs()
        pieces: list[str] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise TaskParamError(f"jobParameters[{index}] must be an object")
            value = self._item(item, f"jobParameters[{index}]", merge)
            if value is None or _flag(item, "hidden"):
                continue
            if _flag(item, "es_only"):
                value = f"<PANDA_ES_ONLY>{value}</PANDA_ES_ONLY>"
            pieces.append(value + ("" if item.get("padding") is False else " "))
        log_item = dict(log)
        log_item.setdefault("param_type", "log")
        if log_item.get("param_type") != "log":
            raise TaskParamError("log must have param_type log")
        self._item(log_item, "log", merge)
        if "log" not in {ds.type for ds in self.datasets}:
            raise TaskParamError("log must name a dataset")
        self._lib()
        if self._master is None and not self.datasets_of("pseudo_input"):
            raise TaskParamError("the task has no input: give an input item in jobParameters, noInput or pfnList")
        template = "".join(pieces)
        if template.endswith(" "):
            template = template[:-1]
        streams = [*self._input_streams, *(ds.streamname for ds in self.datasets if ds.type in ("output", "log"))]
        streams += [t.streamname for ds in self.datasets for t in ds.templates]
        extra = ["LIB"] if self.datasets_of("lib") else []
        problems = unknown_placeholders(template, streams, extra_names=extra)
        if problems:
            raise TaskParamError(f"jobParameters: {problems[0]}")
        return template, sorted(set(s for s in streams if s))

    def datasets_of(self, kind: str) -> list[DatasetSpec]:
        return [ds for ds in self.datasets if ds.type == kind]

    # -- items --------------------------------------------------------------------------------

    def _item(self, item: dict, where: str, merge: bool) -> str | None:
        kind = item.get("type")
        if kind not in ("constant", "template"):
            raise TaskParamError(f"{where}: type must be constant or template, got {kind!r}")
        value = item.get("value", "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise TaskParamError(f"{where}: value must be a string")
        if kind == "constant":
            return value
        param_type = item.get("param_type")
        if param_type == "input":
            self._input(item, where, value)
            return value
        if param_type in ("output", "log"):
            return self._output(item, where, value, param_type, merge)
        if param_type == "number":
            offset = _integer(item, "offset", default=0)
            if "${RNDMSEED}" in value:
                self.rndm_offset = offset
            elif "${FIRSTEVENT}" in value:
                self.first_event_offset = offset
            return value
        if param_type == "pseudo_input":
            return value
        raise TaskParamError(f"{where}: param_type must be input, output, log or number, got {param_type!r}")

    def _dataset_name(self, item: dict, where: str) -> str:
        name = item.get("dataset")
        if not isinstance(name, str) or not name.strip():
            raise TaskParamError(f"{where}: dataset is required")
        return name.strip()

    def _input(self, item: dict, where: str, value: str) -> None:
        names = [n.strip() for n in self._dataset_name(item, where).split(",") if n.strip()]
        placeholders = find_placeholders(value)
        stream = placeholders[0].name if placeholders else None
        is_master = self._master is None
        if stream is None:
            if not is_master:
                raise TaskParamError(f"{where}: a secondary input needs a ${{<stream>}} placeholder in its value")
            stream = "IN"
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,19}", stream) or stream.startswith(("OUTPUT", "LOG")):
            raise TaskParamError(f"{where}: {stream!r} cannot name an input stream")
        if stream in self._input_streams:
            raise TaskParamError(f"{where}: input stream {stream} is declared twice")
        attributes = item.get("attributes", "")
        if isinstance(attributes, list):
            attributes = ",".join(str(a) for a in attributes)
        if not isinstance(attributes, str) or len(attributes) > 100:
            raise TaskParamError(f"{where}: attributes must be a string of at most 100 characters")
        pseudo = _flag(self.params, "pfnList") or self.params.get("pfnList") is not None
        kind = "pseudo_input" if pseudo and is_master else "input"
        for name in names:
            scoped = name if kind == "pseudo_input" else scoped_name(name, what=f"{where}: dataset {name!r}")
            self.datasets.append(
                DatasetSpec(
                    type=kind,
                    datasetname=scoped,
                    streamname=stream,
                    containername=scoped if name.endswith("/") or _flag(item, "expand") else None,
                    attributes=attributes,
                    master=None if is_master else self._master,
                    expand=_flag(item, "expand"),
                    include=_patterns(item, "include", where),
                    exclude=_patterns(item, "exclude", where),
                    files=_file_list(item, where),
                    nfilesperjob=_integer(item, "nFilesPerJob", minimum=1),
                )
            )
        self._input_streams.append(stream)
        if is_master:
            self._master = stream

    def _output(self, item: dict, where: str, value: str, kind: str, merge: bool) -> str:
        name = self._dataset_name(item, where)
        stream = f"{kind.upper()}{self._count(kind)}"
        lfn_template, value = _extract_template(value, stream, where)
        offset = _integer(item, "offset", default=0)
        template = OutputTemplateSpec(streamname=stream, filenametemplate=lfn_template, serialnr=1 + offset)
        if len(lfn_template) > 256:
            raise TaskParamError(f"{where}: the file name template is longer than 256 characters")
        key = (kind, name)
        if key in self._outputs:
            # several files of one job go to the same dataset: one dataset, one template per stream
            index = self._outputs[key]
            ds = self.datasets[index]
            self.datasets[index] = _replace(ds, templates=(*ds.templates, template))
            if merge:
                self._add_unmerged_template(kind, name, stream, lfn_template)
            return value
        self._outputs[key] = len(self.datasets)
        self.datasets.append(
            DatasetSpec(
                type=kind,
                datasetname=name,
                streamname=stream,
                storagetoken=_opt_str(item, "token", where, 60),
                destination=_opt_str(item, "destination", where, 60),
                attributes="allowNoOutput" if _flag(item, "allowNoOutput") else "",
                templates=(template,),
            )
        )
        if merge:
            unmerged = OutputTemplateSpec(streamname=stream, filenametemplate=UNMERGED_PREFIX + lfn_template)
            self.datasets.append(
                DatasetSpec(
                    type=f"tmpl_{kind}",
                    datasetname=UNMERGED_PREFIX + name,
                    streamname=stream,
                    storagetoken="TOMERGE",
                    templates=(unmerged,),
                )
            )
        return value

    def _add_unmerged_template(self, kind: str, name: str, stream: str, lfn_template: str) -> None:
        for index, ds in enumerate(self.datasets):
            if ds.type == f"tmpl_{kind}" and ds.datasetname == UNMERGED_PREFIX + name:
                if any(t.streamname == stream for t in ds.templates):
                    return
                extra = OutputTemplateSpec(streamname=stream, filenametemplate=UNMERGED_PREFIX + lfn_template)
                self.datasets[index] = _replace(ds, templates=(*ds.templates, extra))
                return

    def _count(self, kind: str) -> int:
        if kind == "log":
            if any(ds.type == "log" for ds in self.datasets):
                raise TaskParamError("only one log stream is allowed (log)")
            return 0
        number = self._n_outputs
        self._n_outputs += 1
        return number

    def _pseudo_inputs(self) -> None:
        params = self.params
        pfns = params.get("pfnList")
        if pfns is not None:
            if not isinstance(pfns, list) or not pfns or not all(isinstance(p, str) and p for p in pfns):
                raise TaskParamError("pfnList must be a non-empty list of file names")
            if any(len(p) > 256 for p in pfns):
                raise TaskParamError("pfnList: a file name is longer than 256 characters")
            self.pfn_list = list(pfns)
            if not any(
                isinstance(i, dict) and i.get("param_type") == "input" for i in params.get("jobParameters") or []
            ):
                self.datasets.append(DatasetSpec(type="pseudo_input", datasetname=PSEUDO_DATASET, streamname="IN"))
                self._input_streams.append("IN")
                self._master = "IN"
        elif _flag(params, "noInput"):
            self.datasets.append(DatasetSpec(type="pseudo_input", datasetname=PSEUDO_DATASET, streamname=None))

    def _lib(self) -> None:
        spec = self.params.get("buildSpec")
        if spec is None:
            return
        if not isinstance(spec, dict):
            raise TaskParamError("buildSpec must be an object")
        log = self.datasets_of("log")[0]
        name = log.datasetname.rstrip("/") + ".lib"
        self.datasets.append(
            DatasetSpec(
                type="lib",
                datasetname=name,
                streamname="LIB",
                templates=(OutputTemplateSpec(streamname="LIB", filenametemplate=f"{name}._${{SN}}.lib.tgz"),),
            )
        )


def _replace(ds: DatasetSpec, **changes) -> DatasetSpec:
    return dataclasses.replace(ds, **changes)


def _opt_str(item: dict, key: str, where: str, limit: int) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise TaskParamError(f"{where}: {key} must be a string of at most {limit} characters")
    return value


def _patterns(item: dict, key: str, where: str) -> tuple[str, ...]:
    value = item.get(key)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaskParamError(f"{where}: {key} must be a comma-separated string of patterns")
    patterns = tuple(v.strip() for v in value if v.strip())
    for pattern in patterns:
        try:
            re.compile(pattern_regex(pattern))
        except re.error as exc:
            raise TaskParamError(f"{where}: {key} pattern {pattern!r} is invalid: {exc}") from None
    return patterns


def pattern_regex(pattern: str) -> str:
    """Upstream's include/exclude patterns: ``*`` is any text, the rest a regular expression."""
    return pattern.replace("*", ".*")


def _file_list(item: dict, where: str) -> tuple[str, ...]:
    files = item.get("files")
    if files is None:
        return ()
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise TaskParamError(f"{where}: files must be a list of file names")
    return tuple(files)


def _extract_template(value: str, stream: str, where: str) -> tuple[str, str]:
    """(LFN template, value with the template replaced by ``${<stream>}``)."""
    if "=" in value:
        raw = value.split("=")[-1]
    else:
        words = value.split()
        raw = words[-1] if words else ""
    template = raw.replace("'", "").replace('"', "").strip()
    if not template:
        raise TaskParamError(f"{where}: value must end with the output file name template")
    for ph in find_placeholders(template):
        if ph.name not in ("SN", "JEDITASKID"):
            raise TaskParamError(f"{where}: {ph.raw} is not allowed in an output file name (only ${{SN}}, $JEDITASKID)")
    return template, value.replace(template, f"${{{stream}}}")
