"""The jobs list's filter registry (monitor.md §2, §3, §5): every Job column plus the special keys.

Special keys: ranges (``priorityrange=lo:hi``, ``jobsetrange``, ``durationmin=lo-hi``,
``neventsrange``, ``minramcount=2-4GB``, ``reqid_from``/``reqid_to``), ``jobtype``,
``errorcategory``, ``jobparam``, stuck jobs (``statenotupdated``, ``transferringnotupdated``), queue
attributes (``queue<attr>``, ``region``, ``site``) and Harvester (``harvesterid``/``harvesterinstance``,
``workerid``, ``harvesterce``) through the worker <-> job mapping; ``user`` and ``username`` are
BigPanDA's names of ``produsername``.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import DurationField, Exists, ExpressionWrapper, F, OuterRef, Q

from apps.jedi.models import JobRetryHistory
from apps.jobs.models import FileType, Job, JobFile
from apps.jobs.states import ACTIVE_GROUP, DEFINED_GROUP
from apps.monitor.filters.error_categories import ERROR_CATEGORIES
from apps.monitor.filters.parser import FilterError, ParseContext, int_range
from apps.monitor.filters.registry import (
    INT,
    NUMBER_OPERATORS,
    STR,
    TEXT_OPERATORS,
    FilterField,
    KeyGroup,
    Registry,
    SortOption,
    SpecialKey,
    model_fields,
)
from apps.monitor.filters.values import NOT_SPECIFIED, ValueError400, value_q
from apps.sites.models import PandaQueue
from apps.workers.models import JobWorker, Worker

# monitor.md §5; ``priorityrange`` and ``minramcount`` are bucketed facets (apps/monitor/selectors/jobs.py).
JOB_FACETS = (
    "processingtype",
    "computingsite",
    "jobstatus",
    "prodsourcelabel",
    "produsername",
    "jeditaskid",
    "workinggroup",
    "transformation",
    "cloud",
    "homepackage",
    "inputfileproject",
    "inputfiletype",
    "outputfiletype",
    "attemptnr",
    "specialhandling",
    "reqid",
    "eventservice",
    "jobsubstatus",
    "nucleus",
    "gshare",
    "resource_type",
)
NON_FINAL_STATES = frozenset(str(state) for state in DEFINED_GROUP | ACTIVE_GROUP)

ANALYSIS_LABELS = ("panda", "user", "rc_alrb", "rc_test2")
PRODUCTION_LABELS = ("managed", "prod_test", "ptest", "rc_alrb", "rc_test2")
JOBTYPE_ALIASES = {"analy": "analysis", "anal": "analysis", "user": "analysis", "prod": "production"}
JOBTYPES = ("analysis", "production", "groupproduction", "eventservice", "esmerge", "test")


def jobtype_q(name: str) -> Q:
    """monitor.md §2; the ATLAS transformation conditions only with PANDA_MONITOR_ATLAS_JOBTYPES."""
    atlas = settings.PANDA_MONITOR_ATLAS_JOBTYPES
    if name == "analysis":
        q = Q(prodsourcelabel__in=ANALYSIS_LABELS)
        return q & Q(transformation__startswith="http") if atlas else q
    if name == "production":
        q = Q(prodsourcelabel__in=PRODUCTION_LABELS)
        return q & Q(transformation__endswith=".py") if atlas else q
    if name == "groupproduction":
        return Q(prodsourcelabel="managed", workinggroup__isnull=False) & ~Q(workinggroup="")
    if name == "eventservice":
        return Q(eventservice=1)
    if name == "esmerge":
        return Q(eventservice=2)
    return Q(prodsourcelabel__icontains="test")


def jobtype_names(raw: str) -> list[str]:
    names = []
    for chunk in raw.replace(",", "|").split("|"):
        name = chunk.strip().lower()
        name = JOBTYPE_ALIASES.get(name, name)
        if name not in JOBTYPES:
            raise ValueError400(f"unknown job type {chunk.strip()!r}; one of {', '.join(JOBTYPES)}")
        names.append(name)
    return names


def handle_jobtype(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    q = Q()
    names = jobtype_names(raw)
    for name in names:
        q |= jobtype_q(name)
    return q, "|".join(names)


def handle_priorityrange(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    low, high = int_range("priorityrange", raw, ":")
    return Q(currentpriority__gte=low, currentpriority__lte=high), f"{low}:{high}"


def handle_jobsetrange(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    low, high = int_range("jobsetrange", raw, ":")
    return Q(jobsetid__gte=low, jobsetid__lte=high), f"{low}:{high}"


def handle_neventsrange(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    low, high = int_range("neventsrange", raw, "-")
    return Q(nevents__gte=low, nevents__lte=high), f"{low}-{high}"


def handle_durationmin(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    """Wall time in minutes: end - start for ended jobs, now - start for running ones."""
    low, high = int_range("durationmin", raw, "-")
    shortest, longest = dt.timedelta(minutes=low), dt.timedelta(minutes=high)
    ended = Q(
        endtime__isnull=False,
        endtime__gte=F("starttime") + shortest,
        endtime__lte=F("starttime") + longest,
    )
    running = Q(endtime__isnull=True, starttime__lte=ctx.now - shortest, starttime__gte=ctx.now - longest)
    return ended | running, f"{low}-{high}"


MINRAMCOUNT = FilterField(key="minramcount", path="minramcount", type=INT, operators=NUMBER_OPERATORS)


def handle_minramcount(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    """``2-4GB``: minRamCount (MB) in [2000, 3999]; any other value follows the integer grammar."""
    if raw.upper().endswith("GB"):
        low, high = int_range("minramcount", raw[:-2], "-")
        return Q(minramcount__gte=low * 1000, minramcount__lte=high * 1000 - 1), f"{low}-{high}GB"
    return value_q(MINRAMCOUNT, raw)


def handle_reqid_from(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    return Q(reqid__gte=bound("reqid_from", raw)), raw


def handle_reqid_to(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    return Q(reqid__lte=bound("reqid_to", raw)), raw


def bound(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise FilterError(f"{name} must be an integer, not {raw!r}") from None


def handle_errorcategory(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    q = Q()
    names = [chunk.strip().lower() for chunk in raw.replace(",", "|").split("|")]
    for name in names:
        if name not in ERROR_CATEGORIES:
            raise ValueError400(f"unknown error category {name!r}; one of {', '.join(sorted(ERROR_CATEGORIES))}")
        for field_name, codes in ERROR_CATEGORIES[name].items():
            q |= Q(**{f"{field_name}__in": list(codes)})
    return q, "|".join(names)


JOBPARAM = FilterField(key="jobparam", path="params__jobparameters", type=STR, operators=TEXT_OPERATORS)


def handle_jobparam(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    """A wildcard search in the job parameters; a value without ``*`` matches anywhere in them."""
    terms = []
    for chunk in raw.split("|"):
        chunk = chunk.strip()
        negated = chunk.startswith("!")
        body = chunk.lstrip("!").strip()
        if body and "*" not in body and body.lower() != NOT_SPECIFIED.lower():
            body = f"*{body}*"
        terms.append(("!" if negated else "") + body)
    return value_q(JOBPARAM, "|".join(terms))


DATASETID = FilterField(key="datasetid", path="datasetid", type=INT, operators=NUMBER_OPERATORS)


def handle_datasetid(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    """Jobs with a file of the task dataset ``datasetid``."""
    q, echo = value_q(DATASETID, raw)
    return Q(pandaid__in=JobFile.objects.filter(q).values("job_id")), echo


def stuck_hours(name: str, raw: str) -> int:
    try:
        hours = int(raw)
    except ValueError:
        raise FilterError(f"{name} must be a number of hours, not {raw!r}") from None
    if hours <= 0:
        raise FilterError(f"{name} must be a positive number of hours, not {raw!r}")
    return hours


def handle_statenotupdated(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    """Jobs in a non-final state whose state has not changed for ``raw`` hours."""
    hours = stuck_hours("statenotupdated", raw)
    cutoff = ctx.now - dt.timedelta(hours=hours)
    return Q(statechangetime__lte=cutoff, jobstatus__in=sorted(NON_FINAL_STATES)), str(hours)


def handle_transferringnotupdated(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    hours = stuck_hours("transferringnotupdated", raw)
    cutoff = ctx.now - dt.timedelta(hours=hours)
    return Q(jobstatus="transferring", statechangetime__lte=cutoff), str(hours)


def handle_resourcetype(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    return value_q(JOB_FIELDS["resource_type"], raw)


def handle_user(raw: str, ctx: ParseContext) -> tuple[Q, str]:
    """``user=`` / ``username=``: BigPanDA's names of ``produsername`` on job lists (bookmarks use both)."""
    return value_q(JOB_FIELDS["produsername"], raw)


# --- queue attributes: jobs whose computingsite is a queue with these attributes --------------------
QUEUE_FIELDS = {
    key: spec
    for key, spec in model_fields(PandaQueue, exclude=("id", "last_modified"), prefix="queue").items()
    if spec.type != "datetime"
}
REGION = FilterField(key="region", path="cloud", type=STR, operators=TEXT_OPERATORS)
SITE = FilterField(key="site", path="site__name", type=STR, operators=TEXT_OPERATORS)
QUEUE_KEYS = tuple(sorted(QUEUE_FIELDS)) + ("region", "site")


def handle_queue_group(given: dict[str, str], ctx: ParseContext) -> tuple[Q, dict[str, str]]:
    inner = Q()
    echo = {}
    for key in QUEUE_KEYS:
        if key not in given:
            continue
        spec = {"region": REGION, "site": SITE}.get(key) or QUEUE_FIELDS[key]
        try:
            q, echo[key] = value_q(spec, given[key])
        except ValueError400 as exc:
            raise ValueError400(f"{key}: {exc}") from None
        inner &= q
    return Q(computingsite__in=PandaQueue.objects.filter(inner).values("name")), echo


# --- Harvester: jobs a worker ran (JobWorker) ------------------------------------------------------
HARVESTERID = FilterField(key="harvesterid", path="harvesterid", type=STR, operators=TEXT_OPERATORS)
WORKERID = FilterField(key="workerid", path="workerid", type=INT, operators=NUMBER_OPERATORS)
HARVESTERCE = FilterField(key="harvesterce", path="computingelement", type=STR, operators=TEXT_OPERATORS)
HARVESTER_KEYS = ("harvesterid", "harvesterinstance", "workerid", "harvesterce")


def handle_harvester_group(given: dict[str, str], ctx: ParseContext) -> tuple[Q, dict[str, str]]:
    """``harvesterid=all`` (any worker), ``Not specified`` (no worker) or ids; with workerid and CE."""
    if "harvesterid" in given and "harvesterinstance" in given:
        raise ValueError400("give harvesterid or harvesterinstance, not both")
    echo = {}
    instance_key = "harvesterid" if "harvesterid" in given else "harvesterinstance"
    instance = given.get(instance_key)
    inner = Q()
    if instance is not None:
        if instance.lower() == "all":
            echo[instance_key] = "all"
        elif instance.lower() == NOT_SPECIFIED.lower():
            if len(given) > 1:
                raise ValueError400(f"{instance_key}={NOT_SPECIFIED} takes no workerid or harvesterce")
            echo[instance_key] = NOT_SPECIFIED
            return ~Q(pandaid__in=JobWorker.objects.values("pandaid")), echo
        else:
            try:
                q, echo[instance_key] = value_q(HARVESTERID, instance)
            except ValueError400 as exc:
                raise ValueError400(f"{instance_key}: {exc}") from None
            inner &= q
    if "workerid" in given:
        try:
            q, echo["workerid"] = value_q(WORKERID, given["workerid"])
        except ValueError400 as exc:
            raise ValueError400(f"workerid: {exc}") from None
        inner &= q
    if "harvesterce" in given:
        try:
            ce_q, echo["harvesterce"] = value_q(HARVESTERCE, given["harvesterce"])
        except ValueError400 as exc:
            raise ValueError400(f"harvesterce: {exc}") from None
        workers = Worker.objects.filter(ce_q, harvesterid=OuterRef("harvesterid"), workerid=OuterRef("workerid"))
        inner &= Q(Exists(workers))
    return Q(pandaid__in=JobWorker.objects.filter(inner).values("pandaid")), echo


# --- defaults and drop mode --------------------------------------------------------------------------
def adjust_job_defaults(values: dict[str, str], ctx: ParseContext) -> None:
    """monitor.md §3: 2 days for event-service jobs, 4 days for jobs selected by batchid."""
    if "jobtype" in values and {"eventservice", "esmerge"} & set(jobtype_names(values["jobtype"])):
        ctx.defaults["hours"] = max(ctx.defaults["hours"] or 0, 48)
    if "batchid" in values:
        ctx.defaults["hours"] = max(ctx.defaults["hours"] or 0, 96)


def single_task(values: dict[str, str]) -> bool:
    raw = values.get("jeditaskid") or values.get("taskid")
    return bool(raw) and raw.isdigit()


def superseded_jobs() -> Exists:
    """A job whose input file was taken again by a later attempt in the same task, or that was retried."""
    later_attempt = JobFile.objects.filter(
        jeditaskid=OuterRef("jeditaskid"),
        fileid=OuterRef("fileid"),
        type__in=(FileType.INPUT, FileType.PSEUDO_INPUT),
        attemptnr__gt=OuterRef("attemptnr"),
    )
    retried_input = JobFile.objects.filter(
        Exists(later_attempt),
        job=OuterRef("pandaid"),
        type__in=(FileType.INPUT, FileType.PSEUDO_INPUT),
        fileid__isnull=False,
    )
    retried = JobRetryHistory.objects.filter(
        oldpandaid=OuterRef("pandaid"), jeditaskid=OuterRef("jeditaskid"), relationtype="retry"
    )
    return Exists(retried_input) | Exists(retried)


def finish_jobs(ctx: ParseContext) -> None:
    """``mode=drop`` by default on one task's list (not for event-service jobs): hide superseded jobs."""
    mode = ctx.extra.get("mode") or ctx.defaults.get("mode")
    if mode is None and single_task(ctx.params):
        es = "jobtype" in ctx.params and {"eventservice", "esmerge"} & set(jobtype_names(ctx.params["jobtype"]))
        mode = "nodrop" if es else "drop"
    if mode:
        ctx.extra["mode"] = mode
    if mode == "drop":
        ctx.conditions.append(~superseded_jobs())
        ctx.extra["dropped"] = superseded_jobs()


JOB_FIELDS = model_fields(Job, facets=JOB_FACETS, exclude=("minramcount",))

DURATION = ExpressionWrapper(F("endtime") - F("starttime"), output_field=DurationField())
QUEUETIME = ExpressionWrapper(F("starttime") - F("creationtime"), output_field=DurationField())

JOB_FILTERS = Registry(
    name="jobs",
    model=Job,
    fields=JOB_FIELDS,
    special={
        special.key: special
        for special in (
            SpecialKey("jobtype", handle_jobtype, "analysis|production|groupproduction|eventservice|esmerge|test"),
            SpecialKey("priorityrange", handle_priorityrange, "currentpriority lo:hi"),
            SpecialKey("jobsetrange", handle_jobsetrange, "jobsetid lo:hi"),
            SpecialKey("durationmin", handle_durationmin, "wall time lo-hi minutes"),
            SpecialKey("neventsrange", handle_neventsrange, "nevents lo-hi"),
            SpecialKey("minramcount", handle_minramcount, "MB, or lo-hiGB"),
            SpecialKey("reqid_from", handle_reqid_from, "reqid >="),
            SpecialKey("reqid_to", handle_reqid_to, "reqid <="),
            SpecialKey("errorcategory", handle_errorcategory, "predefined (component, code) lists"),
            SpecialKey("jobparam", handle_jobparam, "wildcard in the job parameters"),
            SpecialKey("statenotupdated", handle_statenotupdated, "hours", drops_window=True),
            SpecialKey("transferringnotupdated", handle_transferringnotupdated, "hours", drops_window=True),
            SpecialKey("resourcetype", handle_resourcetype, "resource_type"),
            SpecialKey("user", handle_user, "produsername"),
            SpecialKey("username", handle_user, "produsername"),
            SpecialKey("datasetid", handle_datasetid, "a task dataset's id"),
        )
    },
    groups=(KeyGroup(QUEUE_KEYS, handle_queue_group), KeyGroup(HARVESTER_KEYS, handle_harvester_group)),
    window_field="modificationtime",
    default_hours=12,
    default_limit=20_000,
    default_display_limit=100,
    deep_limit=200_000,
    sort_options={
        option.name: option
        for option in (
            SortOption("time", ("modificationtime", "pandaid")),
            SortOption("create", ("creationtime", "pandaid")),
            SortOption("statetime", ("statechangetime", "pandaid")),
            SortOption("priority", ("currentpriority", "pandaid")),
            SortOption("duration", ("duration", "pandaid"), {"duration": DURATION}),
            SortOption("attemptnr", ("attemptnr", "pandaid")),
            SortOption("pandaid", ("pandaid",)),
            SortOption("queuetime", ("queuetime", "pandaid"), {"queuetime": QUEUETIME}),
        )
    },
    default_sort="time-descending",
    single_object_keys=frozenset({"jeditaskid", "taskid", "pandaid", "jobname", "datasetid"}),
    status_key="jobstatus",
    active_states=NON_FINAL_STATES,
    adjust_defaults=adjust_job_defaults,
    finish=finish_jobs,
)
