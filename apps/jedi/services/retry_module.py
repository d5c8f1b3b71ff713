"""The server-side retry module (jedi.md §7): rules that change how a failed job's inputs are retried.

The feedback agent calls :func:`retry_module_apply` for every failed job before it applies the
file rules, in the same transaction, so what a rule changes (``maxattempt``, ``ramcount``) decides
whether the files go back to ``ready``.

Matching, as upstream's retry module does it: the job's errors are taken in the order ``pilot``,
``exe``, ``sup``, ``ddm``, ``brokerage``, ``jobDispatcher``, ``taskBuffer`` (non-zero codes only);
the first error that has applicable rules is acted on and the others are ignored. A rule applies
when its source and code equal the error's, its ``errordiag`` regular expression (if any) is found
in the error's diag, and its scope (if set) equals the job's ``cmtconfig`` (architecture),
``atlasrelease`` (release) and ``workqueue_id``. Among the applicable rules: every ``no_retry``,
the first of each of ``increase_memory``, ``increase_memory_xtimes``, ``increase_cputime`` and
``reduce_input_per_job``, and the narrowest ``limit_retry`` (most scope fields set; the smallest
``maxAttempt`` on a tie). Inactive rules are only logged.

Actions (every one is idempotent, so a job whose files are fed back in two batches is safe):

* ``no_retry``: the files' ``maxattempt = attemptnr``: the failure uses up the last attempt.
* ``limit_retry``: ``maxattempt`` lowered to ``parameters["maxAttempt"]``.
* ``increase_memory``: the files' ``ramcount`` (the task's RAM unit, per core for ``MBPerCore``)
  raised above what the job asked for or used (``minramcount``, ``maxpss``): with the task split
  rule ``RX`` (retryRamOffset) and ``RY`` (retryRamStep), to ``RX`` and then in steps of ``RY``;
  without them, to the next of 1000, 2000, 3000, 4000, 6000, 8000 MB per core. Nothing for
  ``MBPerCoreFixed`` tasks or when the ladder is exhausted.
* ``increase_memory_xtimes``: ``ramcount`` = current × ``parameters["factor"]`` (default 2), capped
  by ``parameters["maxRamCount"]`` if given.
* ``increase_cputime``: the task's ``walltime`` raised to the job's ``maxcpucount`` ×
  ``parameters["factor"]`` (default 1.5) and its ``cputime`` by the same factor, only while the
  task's walltime is below that (so many failed jobs of one generation raise it once).
* ``reduce_input_per_job``: the task's ``nEventsPerJob`` (``NE``) when it splits by events, else
  ``nFilesPerJob`` (``NF``), set to half of what the failed job had (at least 1), written in the
  task's split rule when that is lower than the current value.

The JobGenerator honours the files' ``ramcount`` and the task's new split rule for the next jobs.
"""

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q

from apps.jedi.models import INPUT_TYPES, DatasetContent, RetryAction, RetryRule, Task
from apps.jedi.taskparams import SPLIT_RULE_CODES
from apps.jobs.models import Job, JobFile

log = logging.getLogger(__name__)

# Error source -> (code field, diag field) on the job, in the order the errors are examined.
ERROR_SOURCES: dict[str, tuple[str, str]] = {
    "pilot": ("piloterrorcode", "piloterrordiag"),
    "exe": ("exeerrorcode", "exeerrordiag"),
    "sup": ("superrorcode", "superrordiag"),
    "ddm": ("ddmerrorcode", "ddmerrordiag"),
    "brokerage": ("brokerageerrorcode", "brokerageerrordiag"),
    "jobDispatcher": ("jobdispatchererrorcode", "jobdispatchererrordiag"),
    "taskBuffer": ("taskbuffererrorcode", "taskbuffererrordiag"),
}
# Upstream's rule tables name the sources after the job columns; both spellings are accepted.
_SOURCE_ALIASES = {name.lower(): name for name in ERROR_SOURCES} | {
    f"{name}errorcode".lower(): name for name in ERROR_SOURCES
}

# Default RAM ladder (MB per core) when the task has no retryRamOffset split rule.
RAM_LADDER = (1000, 2000, 3000, 4000, 6000, 8000)
DEFAULT_XTIMES_FACTOR = 2.0
DEFAULT_CPUTIME_FACTOR = 1.5

_ONE_PER_ACTION = (
    RetryAction.INCREASE_MEMORY,
    RetryAction.INCREASE_MEMORY_XTIMES,
    RetryAction.INCREASE_CPUTIME,
    RetryAction.REDUCE_INPUT_PER_JOB,
)


class RetryRuleError(ValueError):
    """A retry rule definition is invalid; ``str()`` says which field and why."""


# --- split rules (upstream's compact "CODE=value,...", codes in apps.jedi.taskparams) ------------
# Read and rewritten here code by code, so codes this server does not know survive a rewrite.


def split_rule_value(splitrule: str | None, key: str) -> str | None:
    for item in (splitrule or "").split(","):
        name, sep, value = item.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return None


def split_rule_int(splitrule: str | None, key: str) -> int | None:
    value = split_rule_value(splitrule, key)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def split_rule_replace(splitrule: str | None, key: str, value: int | str) -> str:
    items = [item for item in (splitrule or "").split(",") if item and item.partition("=")[0].strip() != key]
    return ",".join([*items, f"{key}={value}"])


# --- rules -----------------------------------------------------------------------------------------


def normalize_source(source: str) -> str:
    """``pilot``, ``pilotErrorCode``, ``PILOT`` ... -> ``pilot``; raises :class:`RetryRuleError`."""
    name = _SOURCE_ALIASES.get(source.lower())
    if name is None:
        raise RetryRuleError(f"errorsource {source!r} is unknown (one of {', '.join(ERROR_SOURCES)})")
    return name


def retry_rule_validate(data: dict) -> dict:
    """Check one rule definition and answer the model fields; raises :class:`RetryRuleError`."""
    if not isinstance(data, dict):
        raise RetryRuleError(f"a rule must be a JSON object, got {type(data).__name__}")
    unknown = set(data) - {f.name for f in RetryRule._meta.fields} - {"id"}
    if unknown:
        raise RetryRuleError(f"unknown field(s) {', '.join(sorted(unknown))}")
    for required in ("errorsource", "errorcode", "action"):
        if data.get(required) in (None, ""):
            raise RetryRuleError(f"{required} is required")
    source = normalize_source(str(data["errorsource"]))
    try:
        code = int(data["errorcode"])
    except (TypeError, ValueError):
        raise RetryRuleError(f"errorcode must be an integer, got {data['errorcode']!r}") from None
    action = data["action"]
    if action not in RetryAction.values:
        raise RetryRuleError(f"action {action!r} is unknown (one of {', '.join(RetryAction.values)})")
    diag = data.get("errordiag") or ""
    try:
        re.compile(diag)
    except re.error as exc:
        raise RetryRuleError(f"errordiag {diag!r} is not a regular expression: {exc}") from None
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RetryRuleError("parameters must be a JSON object")
    _validate_parameters(action, parameters)
    workqueue = data.get("workqueue_id")
    if workqueue not in (None, ""):
        try:
            workqueue = int(workqueue)
        except (TypeError, ValueError):
            raise RetryRuleError(f"workqueue_id must be an integer, got {workqueue!r}") from None
    else:
        workqueue = None
    active = data.get("active", True)
    if not isinstance(active, bool):
        raise RetryRuleError(f"active must be true or false, got {active!r}")
    return {
        "errorsource": source,
        "errorcode": code,
        "errordiag": diag,
        "action": action,
        "parameters": parameters,
        "architecture": data.get("architecture") or "",
        "release": data.get("release") or "",
        "workqueue_id": workqueue,
        "active": active,
        "description": (data.get("description") or "")[:250],
    }


def _positive(parameters: dict, key: str, *, integer: bool, minimum: float) -> None:
    if key not in parameters:
        return
    value = parameters[key]
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise RetryRuleError(f"parameters.{key} must be {kind} >= {minimum}, got {value!r}")


def _validate_parameters(action: str, parameters: dict) -> None:
    if action == RetryAction.LIMIT_RETRY:
        if "maxAttempt" not in parameters:
            raise RetryRuleError("limit_retry needs parameters.maxAttempt")
        _positive(parameters, "maxAttempt", integer=True, minimum=0)
    elif action == RetryAction.INCREASE_MEMORY_XTIMES:
        _positive(parameters, "factor", integer=False, minimum=1)
        _positive(parameters, "maxRamCount", integer=True, minimum=1)
    elif action == RetryAction.INCREASE_CPUTIME:
        _positive(parameters, "factor", integer=False, minimum=1)


def retry_rules_load(rules: Iterable[dict], *, replace: bool = False) -> tuple[int, int]:
    """Store rule definitions (all or none); a rule equal in source, code, diag, action and scope
    to a stored one updates it. ``replace`` deletes the rules not in ``rules``. Answers (created, updated)."""
    cleaned = []
    for index, data in enumerate(rules):
        try:
            cleaned.append(retry_rule_validate(data))
        except RetryRuleError as exc:
            raise RetryRuleError(f"rule #{index + 1}: {exc}") from None
    created = updated = 0
    keep: list[int] = []
    with transaction.atomic():
        for fields in cleaned:
            key = {name: fields[name] for name in _IDENTITY}
            rule = RetryRule.objects.filter(**key).order_by("id").first()
            if rule is None:
                rule = RetryRule.objects.create(**fields)
                created += 1
            else:
                for name, value in fields.items():
                    setattr(rule, name, value)
                rule.save()
                updated += 1
            keep.append(rule.pk)
        if replace:
            RetryRule.objects.exclude(pk__in=keep).delete()
    return created, updated


_IDENTITY = ("errorsource", "errorcode", "errordiag", "action", "architecture", "release", "workqueue_id")


def retry_rules_index() -> dict[tuple[str, int], list[RetryRule]]:
    """Every rule by (source, code), in id order (what one feedback run loads once)."""
    index: dict[tuple[str, int], list[RetryRule]] = {}
    for rule in RetryRule.objects.order_by("id"):
        index.setdefault((rule.errorsource, rule.errorcode), []).append(rule)
    return index


def job_errors(job: Job) -> list[tuple[str, int, str]]:
    """(source, code, diag) of the job's non-zero error codes, in the order the module examines them."""
    errors = []
    for source, (code_field, diag_field) in ERROR_SOURCES.items():
        code = getattr(job, code_field) or 0
        if code:
            errors.append((source, int(code), getattr(job, diag_field) or ""))
    return errors


def _matches(rule: RetryRule, job: Job, diag: str) -> bool:
    if rule.errordiag:
        try:
            if not re.search(rule.errordiag, diag):
                return False
        except re.error:
            log.error("retry rule %s: bad errordiag %r", rule.pk, rule.errordiag)
            return False
    if rule.architecture and rule.architecture != (job.cmtconfig or ""):
        return False
    if rule.release and rule.release != (job.atlasrelease or ""):
        return False
    return not (rule.workqueue_id is not None and rule.workqueue_id != job.workqueue_id)


def _scope_weight(rule: RetryRule) -> int:
    return bool(rule.architecture) + bool(rule.release) + (rule.workqueue_id is not None)


def _select(rules: Sequence[RetryRule]) -> list[RetryRule]:
    chosen = [rule for rule in rules if rule.action == RetryAction.NO_RETRY]
    for action in _ONE_PER_ACTION:
        first = next((rule for rule in rules if rule.action == action), None)
        if first is not None:
            chosen.append(first)
    limits = [rule for rule in rules if rule.action == RetryAction.LIMIT_RETRY]
    if limits:
        chosen.append(max(limits, key=lambda rule: (_scope_weight(rule), -int(rule.parameters["maxAttempt"]))))
    return chosen


@dataclass(frozen=True)
class RetryContext:
    """What an action needs: the failed job, its task and the in-flight input rows it held."""

    job: Job
    task: Task
    fileids: tuple[int, ...]

    def files(self):
        return DatasetContent.objects.filter(fileid__in=self.fileids)


def retry_module_apply(
    job: Job,
    *,
    task: Task,
    fileids: Sequence[int],
    rules: dict[tuple[str, int], list[RetryRule]] | None = None,
) -> list[str]:
    """Apply the rules that match the failed ``job`` to its input rows ``fileids``; answers the actions taken."""
    index = retry_rules_index() if rules is None else rules
    if not index:
        return []
    context = RetryContext(job=job, task=task, fileids=tuple(fileids))
    for source, code, diag in job_errors(job):
        applicable = [rule for rule in index.get((source, code), []) if _matches(rule, job, diag)]
        if not applicable:
            continue
        done = []
        for rule in _select(applicable):
            if not rule.active:
                log.info("retry rule %s (%s) matches PandaID=%s but is inactive", rule.pk, rule.action, job.pandaid)
                continue
            if ACTIONS[rule.action](context, rule.parameters or {}):
                done.append(rule.action)
            log.info(
                "retry module: action=%s PandaID=%s jediTaskID=%s source=%s code=%s rule=%s",
                rule.action,
                job.pandaid,
                job.jeditaskid,
                source,
                code,
                rule.pk,
            )
        return done
    return []


# --- actions: each answers whether it changed anything ---------------------------------------------


def _no_retry(context: RetryContext, parameters: dict) -> bool:
    return context.files().filter(maxattempt__gt=F("attemptnr")).update(maxattempt=F("attemptnr")) > 0


def _limit_retry(context: RetryContext, parameters: dict) -> bool:
    cap = int(parameters["maxAttempt"])
    return context.files().filter(maxattempt__gt=cap).update(maxattempt=cap) > 0


def _job_ram(context: RetryContext) -> float:
    """What the job asked for or used, in the task's RAM unit (per core for MBPerCore)."""
    job, task = context.job, context.task
    used = max(job.minramcount or 0, math.ceil((job.maxpss or 0) / 1024))  # maxPSS is in kB
    if (task.ramunit or "").startswith("MBPerCore"):
        cores = max(job.corecount or task.corecount or 1, 1)
        return max(used - (task.baseramcount or 0), 0) / cores
    return used


def _current_ram(context: RetryContext) -> float:
    """The failed job's RAM (its rows' ``ramcount`` went into its ``minramcount``), at least the task's.
    Based on the job, not on the rows, so applying a rule twice for one job raises the RAM once."""
    return max(_job_ram(context), context.task.ramcount or 0)


def _set_ram(context: RetryContext, new: int) -> bool:
    if new <= 0:
        return False
    return context.files().filter(Q(ramcount__isnull=True) | Q(ramcount__lt=new)).update(ramcount=new) > 0


def next_ram(current: float, *, splitrule: str, cores: int = 1, per_core: bool = True) -> int | None:
    """The RAM for the next attempt above ``current``, or None when it cannot be raised."""
    offset = split_rule_int(splitrule, SPLIT_RULE_CODES["retryRamOffset"])
    if offset is not None:
        step = split_rule_int(splitrule, SPLIT_RULE_CODES["retryRamStep"]) or 0
        if current < offset:
            return offset
        if step <= 0:
            return None
        return offset + (math.floor((current - offset) / step) + 1) * step
    scale = 1 if per_core else max(cores, 1)
    return next((limit * scale for limit in RAM_LADDER if limit * scale > current), None)


def _increase_memory(context: RetryContext, parameters: dict) -> bool:
    task = context.task
    if task.ramunit == "MBPerCoreFixed":
        return False
    per_core = (task.ramunit or "").startswith("MBPerCore")
    new = next_ram(
        _current_ram(context),
        splitrule=task.splitrule,
        cores=context.job.corecount or task.corecount or 1,
        per_core=per_core,
    )
    return new is not None and _set_ram(context, new)


def _increase_memory_xtimes(context: RetryContext, parameters: dict) -> bool:
    if context.task.ramunit == "MBPerCoreFixed":
        return False
    factor = float(parameters.get("factor", DEFAULT_XTIMES_FACTOR))
    new = math.ceil(_current_ram(context) * factor)
    if parameters.get("maxRamCount"):
        new = min(new, int(parameters["maxRamCount"]))
    return _set_ram(context, new)


def _increase_cputime(context: RetryContext, parameters: dict) -> bool:
    factor = float(parameters.get("factor", DEFAULT_CPUTIME_FACTOR))
    task, job = context.task, context.job
    base = job.maxcpucount or 0  # the task's walltime when the job was made (jedi.md §4)
    if base <= 0:
        return False
    new_walltime = math.ceil(base * factor)
    changes = {"walltime": new_walltime}
    if task.cputime:
        changes["cputime"] = F("cputime") * factor
    rows = Task.objects.filter(
        Q(walltime__isnull=True) | Q(walltime__lt=new_walltime), jeditaskid=task.jeditaskid
    ).update(**changes)
    if rows:
        task.refresh_from_db(fields=["walltime", "cputime"])
    return rows > 0


def _job_input_count(context: RetryContext) -> int:
    """Primary input files the job had: its rows in master datasets."""
    return DatasetContent.objects.filter(fileid__in=context.fileids, dataset__masterid__isnull=True).count()


def _job_events(context: RetryContext) -> int:
    return context.job.nevents or 0


def _reduce_input_per_job(context: RetryContext, parameters: dict) -> bool:
    task = context.task
    for _attempt in range(3):  # compare-and-swap on the split rule string
        splitrule = task.splitrule or ""
        if split_rule_int(splitrule, SPLIT_RULE_CODES["nEventsPerJob"]):
            key = SPLIT_RULE_CODES["nEventsPerJob"]
            had = _job_events(context) or split_rule_int(splitrule, key)
        else:
            key = SPLIT_RULE_CODES["nFilesPerJob"]
            had = (
                _job_input_count(context)
                or JobFile.objects.filter(job_id=context.job.pandaid, type__in=INPUT_TYPES).count()
            )
        current = split_rule_int(splitrule, key)
        new = max(1, had // 2)
        if current is not None and new >= current:
            return False
        if current is None and had <= 1:
            return False
        updated = split_rule_replace(splitrule, key, new)
        if Task.objects.filter(jeditaskid=task.jeditaskid, splitrule=splitrule).update(splitrule=updated) == 1:
            task.splitrule = updated
            return True
        task.refresh_from_db(fields=["splitrule"])
    return False


ACTIONS = {
    RetryAction.NO_RETRY: _no_retry,
    RetryAction.LIMIT_RETRY: _limit_retry,
    RetryAction.INCREASE_MEMORY: _increase_memory,
    RetryAction.INCREASE_MEMORY_XTIMES: _increase_memory_xtimes,
    RetryAction.INCREASE_CPUTIME: _increase_cputime,
    RetryAction.REDUCE_INPUT_PER_JOB: _reduce_input_per_job,
}
