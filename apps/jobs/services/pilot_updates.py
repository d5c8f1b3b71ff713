"""Pilot and Harvester job updates: updateJob / ``pilot/update_job`` (protocol.md §6, states.md §3).

This is the heartbeat hot path. A plain ``running`` heartbeat costs two statements: one read of the
few columns the update rules need and one conditional ``UPDATE ... WHERE pandaid=? AND
jobstatus=<state seen>``. Status changes go through :func:`job_change_status` (status-log row);
same-state heartbeats write no log row. A lost race (the row left the state we read) is retried
once with a fresh read.
"""

import functools
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, models, transaction

from apps.core.timeutil import WIRE_FORMAT, parse_wire_time, utcnow
from apps.core.values import as_str, is_null
from apps.jobs.models import Job, JobMetadata, JobOutputReport, JobText
from apps.jobs.services.transitions import StaleStatus, job_change_status, truncate_diags
from apps.jobs.states import ACTIVE_GROUP, ARCHIVED_GROUP, TRANSITIONS, JobStatus

log = logging.getLogger(__name__)

S = JobStatus
VALID_STATES = ("running", "starting", "holding", "transferring", "finished", "failed")
FINAL_STATES = frozenset({"finished", "failed"})
STDOUT_MAX = 2048
# Numeric columns are NUMBER(10)/(11) upstream; the pilot's byte counters can exceed that.
METRIC_CAP = 10**10 - 1
CHI2_CAP = 10**11 - 1
INVALID_BATCH_ID = 1  # supervisor error code (states.md §9.2)

TOBEKILLED = "tobekilled"
ALREADYDONE = "alreadydone"

# The columns the update rules read; kept small because every heartbeat reads them.
_RULE_COLUMNS = (
    "pandaid",
    "jobstatus",
    "attemptnr",
    "commandtopilot",
    "specialhandling",
    "endtime",
    "batchid",
    "jobdispatchererrordiag",
    "computingsite",
    "prodsourcelabel",
)


class Result:
    """What happened to one update (the wire answer is derived from it)."""

    APPLIED = "applied"  # fields (and maybe the state) written
    UNCHANGED = "unchanged"  # accepted, nothing written, normal command
    TOBEKILLED = "tobekilled"  # refused: not found / not active / attempt or batch-ID mismatch
    ALREADYDONE = "alreadydone"  # refused: the final state was already reported
    METADATA_FAILED = "metadata_failed"  # the job report could not be stored (unknown job)
    DB_ERROR = "db_error"


@dataclass(frozen=True)
class UpdateOutcome:
    result: str
    command: str | None = None  # the ``command`` field; None is NULL (legacy) / null (v1)
    status_code: int = 0  # protocol.md §3.4
    job_status: str | None = None  # the job's state after the update, when known


# --- §6.1 value conversions -------------------------------------------------------------------

# Legacy (camelCase) wire name -> (column, maximum length).
_TEXT_FIELDS = {
    "node": ("modificationhost", 128),
    "schedulerID": ("schedulerid", 128),
    "pilotID": ("pilotid", 200),
    "batchID": ("batchid", 80),
    "pilotErrorDiag": ("piloterrordiag", 500),
    "exeErrorDiag": ("exeerrordiag", 500),
    "cpuConsumptionUnit": ("cpuconsumptionunit", 128),
    "cpu_architecture_level": ("cpu_architecture_level", 20),
    "jobSubStatus": ("jobsubstatus", 80),
    "jobMetrics": ("jobmetrics", 500),
    "pilotTiming": ("pilottiming", 100),
    "grid": ("grid", 50),
    "source_site": ("sourcesite", 36),
    "destination_site": ("destinationsite", 36),
}
_INT32 = 2**31 - 1
_INT64 = 2**63 - 1
# Codes: "integers (ignored if not integer)" - no float truncation.
_CODE_FIELDS = {"transExitCode": "transexitcode", "pilotErrorCode": "piloterrorcode", "exeErrorCode": "exeerrorcode"}
# Counters and memory (kB): int(float(x)).
_INT_FIELDS = {
    "cpuConsumptionTime": ("cpuconsumptiontime", _INT64),
    "nEvents": ("nevents", _INT64),
    "nInputFiles": ("ninputfiles", _INT32),
    "coreCount": ("actualcorecount", _INT32),
    "maxRSS": ("maxrss", _INT64),
    "maxVMEM": ("maxvmem", _INT64),
    "maxSWAP": ("maxswap", _INT64),
    "maxPSS": ("maxpss", _INT64),
    "avgRSS": ("avgrss", _INT64),
    "avgVMEM": ("avgvmem", _INT64),
    "avgSWAP": ("avgswap", _INT64),
    "avgPSS": ("avgpss", _INT64),
}
_FLOAT_FIELDS = {"cpuConversionFactor": "cpuconversion", "meanCoreCount": "meancorecount"}
_BYTES_FIELDS = {"totRCHAR": "totrchar", "totWCHAR": "totwchar", "totRBYTES": "totrbytes", "totWBYTES": "totwbytes"}
_RATE_FIELDS = {
    "rateRCHAR": "raterchar",
    "rateWCHAR": "ratewchar",
    "rateRBYTES": "raterbytes",
    "rateWBYTES": "ratewbytes",
}
_TIME_FIELDS = {"startTime": "starttime", "endTime": "endtime"}
_LEAK = re.compile(r"leak=(-?\d+(?:\.\d+)?)")
_CHI2 = re.compile(r"chi2=(-?\d+(?:\.\d+)?)")


def _number(value) -> float | None:
    kind = type(value)  # JSON bodies carry exact ints and floats: no null-like or bool checks for them
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    if is_null(value) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _code(value) -> int | None:
    if isinstance(value, bool) or is_null(value):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            return None
        number = int(value)
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            return None
    return number if abs(number) <= _INT32 else None


def _time(value):
    try:
        return parse_wire_time(value)
    except (OverflowError, OSError, ValueError):
        return None


def pilot_update_changes(values: Mapping[str, Any], *, rates_in_bytes: bool = False) -> dict[str, Any]:
    """Job columns from the update parameters of protocol.md §6.1, keyed by their legacy wire names.

    Unparsable values are ignored (they never fail the heartbeat). ``rates_in_bytes``: the v1 API
    sends the ``rate*`` counters in bytes like the ``tot*`` ones.
    """
    changes: dict[str, Any] = {}
    for key, (field, length) in _TEXT_FIELDS.items():
        if key in values:
            text = as_str(values[key], length)
            if text is not None:
                changes[field] = text
    for key, field in _CODE_FIELDS.items():
        value = values.get(key)
        if value is None:
            continue
        number = _code(value)
        if number is not None:
            changes[field] = number
    if "piloterrorcode" in changes:
        # The pilot reports some retried errors as negative codes; upstream stores them positive.
        changes["piloterrorcode"] = abs(changes["piloterrorcode"])
    if "transexitcode" in changes:
        changes["transexitcode"] = str(changes["transexitcode"])
    for key, (field, limit) in _INT_FIELDS.items():
        value = values.get(key)
        if value is None:
            continue
        number = _number(value)
        if number is not None and abs(number) <= limit:
            changes[field] = int(number)
    for key, field in _FLOAT_FIELDS.items():
        value = values.get(key)
        if value is None:
            continue
        number = _number(value)
        if number is not None:
            changes[field] = number
    for key, field in _BYTES_FIELDS.items():
        value = values.get(key)
        if value is None:
            continue
        number = _number(value)
        if number is not None:
            changes[field] = int(min(METRIC_CAP, int(number) / 1024))
    for key, field in _RATE_FIELDS.items():
        value = values.get(key)
        if value is None:
            continue
        number = _number(value)
        if number is not None:
            number = int(number) / 1024 if rates_in_bytes else number
            changes[field] = int(min(METRIC_CAP, number))
    for key, field in _TIME_FIELDS.items():
        value = values.get(key)
        if value is None:
            continue
        moment = _time(value)
        if moment is not None:
            changes[field] = moment
    metrics = changes.get("jobmetrics")
    if metrics:
        leak = _LEAK.search(metrics)
        if leak:
            changes["memory_leak"] = int(float(leak.group(1)))
        chi2 = _CHI2.search(metrics)
        if chi2:
            changes["memory_leak_x2"] = min(float(chi2.group(1)), CHI2_CAP)
    return changes


# --- §6.3 the command field -------------------------------------------------------------------


def job_pilot_command(*, specialhandling: str | None, commandtopilot: str | None) -> str | None:
    """``debug`` when the job is in debug mode, then ``commandToPilot``; None when both are empty."""
    parts = []
    if "dm" in (specialhandling or "").split(","):
        parts.append("debug")
    if commandtopilot:
        parts.append(commandtopilot)
    return ",".join(parts) or None


# --- states.md §3 update rules ----------------------------------------------------------------


def _is_numeric_batch_id(batch_id: str) -> bool:
    return re.fullmatch(r"\d+(\.\d+)?", batch_id) is not None


def _batch_id_mismatch(stored: str | None, sent: str | None) -> bool:
    """Both set, both non-numeric and different: another batch job is updating this PandaID."""
    if not stored or not sent or stored == sent:
        return False
    return not _is_numeric_batch_id(stored) and not _is_numeric_batch_id(sent)


def _pilot_marker(state: str) -> str:
    return f"set to {state} by the pilot at "


@dataclass(frozen=True)
class _Apply:
    new: str


def _decide(row: dict, *, requested: str, final: bool, attemptnr: int | None, batchid: str | None):
    """One of the refusal results, :data:`Result.UNCHANGED`, ``"batch"`` or an :class:`_Apply`."""
    stored = row["jobstatus"]
    if attemptnr is not None and attemptnr != row["attemptnr"]:
        return Result.TOBEKILLED
    # ``failed`` is archived in our single table, but states.md §3 gives it its own answer.
    if stored not in ACTIVE_GROUP and stored != S.FAILED:
        return Result.TOBEKILLED
    if _batch_id_mismatch(row["batchid"], batchid):
        return "batch"
    if stored == S.FAILED:
        return Result.ALREADYDONE
    if stored == S.TRANSFERRING and requested == S.HOLDING and final:
        # Harvester and the pilot report ``transferring`` during their own stage-out and then the
        # final state: that report is still awaited. A transferring set by the server (Finisher) is not.
        if (row["jobdispatchererrordiag"] or "").startswith(_pilot_marker(S.TRANSFERRING)):
            return _Apply(S.HOLDING)
        return Result.ALREADYDONE
    if stored == S.TRANSFERRING and requested == S.HOLDING:
        return Result.UNCHANGED
    if stored == S.HOLDING and requested == S.HOLDING:
        if not final:
            return Result.UNCHANGED
        # Only a holding set by the pilot's own ``holding`` heartbeat still awaits the final report.
        if not (row["jobdispatchererrordiag"] or "").startswith(_pilot_marker(S.HOLDING)):
            return Result.ALREADYDONE
        return _Apply(S.HOLDING)
    if stored == S.MERGING:
        return Result.UNCHANGED
    if stored in (S.HOLDING, S.TRANSFERRING) and requested in (S.RUNNING, S.STARTING):
        return Result.UNCHANGED
    if stored == S.HOLDING and requested == S.TRANSFERRING:
        # The update guard ``NOT jobStatus='holding'``: the Adder, not the pilot, leaves holding.
        return Result.UNCHANGED
    if stored == S.RUNNING and requested == S.STARTING:
        return _Apply(S.RUNNING)
    if requested != stored and requested not in TRANSITIONS[stored]:
        # e.g. transferring -> holding or activated -> running: states never go backwards or skip dispatch.
        return Result.UNCHANGED
    return _Apply(requested)


def _read_row(pandaid: int) -> dict | None:
    return Job.objects.filter(pandaid=pandaid).values(*_RULE_COLUMNS).first()


def _timestamps(row: dict, *, new: str, final: bool, changes: dict, now) -> dict:
    old = row["jobstatus"]
    values = {**changes, "modificationtime": now}
    if new != old or final:
        values["statechangetime"] = now
    if (new == S.HOLDING or (new == S.TRANSFERRING and old == S.RUNNING)) and row["endtime"] is None:
        values.setdefault("endtime", now)
    if old in (S.SENT, S.STARTING) and new == S.RUNNING and "starttime" not in changes:
        values["starttime"] = now
    return values


def _store_output_report(*, pandaid: int, attemptnr: int, final_status: str, data: str | None) -> None:
    # ignore_conflicts: a report is stored once per (PandaID, attemptNr), the first one wins.
    JobOutputReport.objects.bulk_create(
        [JobOutputReport(job_id=pandaid, attemptnr=attemptnr, final_status=final_status, data=data or "")],
        ignore_conflicts=True,
    )


def _apply(row: dict, *, new: str, values: dict, report: dict | None) -> bool:
    """Write the update; False when the row left the state it was read in (caller re-reads)."""
    old = row["jobstatus"]
    if new == old:
        if report is None:
            return Job.objects.filter(pandaid=row["pandaid"], jobstatus=old).update(**values) == 1
        with transaction.atomic():
            if Job.objects.filter(pandaid=row["pandaid"], jobstatus=old).update(**values) != 1:
                return False
            _store_output_report(**report)
        return True
    job = Job(**{key: row[key] for key in ("pandaid", "jobstatus", "computingsite", "prodsourcelabel")})
    try:
        with transaction.atomic():
            job_change_status(job, new=new, changes=values, reason="pilot update")
            if report is not None:
                _store_output_report(**report)
    except StaleStatus:
        return False
    return True


def _store_texts(*, pandaid: int, jobstatus: str, metadata, pilot_log, stdout) -> None:
    """pilotLog, metaData and stdout: steps 2-4 of protocol.md §6.2."""
    now = utcnow()
    if pilot_log:
        JobText.objects.update_or_create(
            job_id=pandaid, kind=JobText.Kind.PILOT_LOG, defaults={"text": pilot_log, "modificationtime": now}
        )
    if metadata and jobstatus not in ARCHIVED_GROUP:
        # The first job report is kept (upstream skips duplicates), so a replayed final update cannot replace it.
        try:
            with transaction.atomic():
                JobMetadata.objects.get_or_create(
                    job_id=pandaid, defaults={"metadata": metadata, "modificationtime": now}
                )
        except IntegrityError:
            pass
    if stdout:
        JobText.objects.update_or_create(
            job_id=pandaid, kind=JobText.Kind.STDOUT, defaults={"text": stdout[:STDOUT_MAX], "modificationtime": now}
        )


def job_update_from_pilot(
    *,
    pandaid: int,
    state: str,
    attemptnr: int | None = None,
    changes: Mapping[str, Any] | None = None,
    output_report: str | None = None,
    metadata: str | None = None,
    pilot_log: str | None = None,
    stdout: str | None = None,
) -> UpdateOutcome:
    """Apply one pilot/Harvester update (protocol.md §6.2) and say what to answer.

    ``state`` is the state the pilot sent (one of :data:`VALID_STATES`); ``changes`` are job
    columns from :func:`pilot_update_changes`, whose ``batchid`` also feeds the batch-ID rule.
    """
    if state not in VALID_STATES:
        raise ValueError(f"invalid job state {state!r}")
    final = state in FINAL_STATES
    requested = S.HOLDING if final else state
    now = utcnow()
    fields = dict(changes or {})
    if final:
        fields["jobdispatchererrordiag"] = None
    elif state in (S.HOLDING, S.TRANSFERRING):
        fields["jobdispatchererrordiag"] = f"{_pilot_marker(state)}{now.strftime(WIRE_FORMAT)}"
    truncate_diags(fields)
    try:
        if state == S.RUNNING and not (metadata or pilot_log or stdout) and _fast_path_allowed(fields):
            outcome = _running_heartbeat(pandaid=pandaid, attemptnr=attemptnr, fields=fields, now=now)
            if outcome is not None:
                return outcome
        row = _read_row(pandaid)
        if row is None:
            if metadata:
                return UpdateOutcome(Result.METADATA_FAILED, status_code=30)
            return UpdateOutcome(Result.TOBEKILLED, command=TOBEKILLED)
        if metadata or pilot_log or stdout:
            _store_texts(
                pandaid=pandaid, jobstatus=row["jobstatus"], metadata=metadata, pilot_log=pilot_log, stdout=stdout
            )
        return _update(
            row,
            requested=requested,
            state=state,
            final=final,
            attemptnr=attemptnr,
            fields=fields,
            output_report=output_report,
            now=now,
        )
    except DatabaseError:
        log.exception("updateJob PandaID=%s state=%s failed", pandaid, state)
        return UpdateOutcome(Result.DB_ERROR, status_code=30)


def _fast_path_allowed(fields: dict) -> bool:
    # The batch-ID rule needs the stored value only when the sent one is non-numeric.
    batchid = fields.get("batchid")
    return batchid is None or _is_numeric_batch_id(batchid)


# Field classes whose get_db_prep_save() is the identity for a value of exactly this Python type
# (CharField.to_python(str), FloatField's float(float)), and the integer fields, whose preparation
# for an exact int is only the backend's adapt_integerfield_value (psycopg's Int4/Int8 wrappers).
_IDENTITY_PREP = {models.CharField: str, models.TextField: str, models.FloatField: float}
_INTEGER_FIELDS = (models.IntegerField, models.BigIntegerField, models.SmallIntegerField)


@functools.cache
def _assignment(name: str):
    """(field, ``"column" = %s``, Python type prepared as is, internal type of an integer field)."""
    field = Job._meta.get_field(name)
    integer = field.get_internal_type() if type(field) in _INTEGER_FIELDS else None
    return field, f'"{field.column}" = %s', _IDENTITY_PREP.get(type(field)), integer


def _running_heartbeat(*, pandaid: int, attemptnr: int | None, fields: dict, now) -> UpdateOutcome | None:
    """The common heartbeat (running -> running) as ONE conditional UPDATE ... RETURNING.

    It only matches a job that is running with the same attempt number, where every rule of
    states.md §3 says "applied" without reading the row first; anything else returns None and takes
    the general path (read, decide, apply).
    """
    values = {**fields, "modificationtime": now}
    db = connections[DEFAULT_DB_ALIAS]  # one lookup: the proxy's per-attribute cost adds up here
    assignments, params = [], []
    adapt_integer = db.ops.adapt_integerfield_value
    for name, value in values.items():
        # field.get_db_prep_save(value, db), without the ORM's call chain for the plain values pilots send.
        field, assignment, identity_type, integer = _assignment(name)
        assignments.append(assignment)
        kind = type(value)
        if kind is identity_type:
            params.append(value)
        elif integer is not None and kind is int:
            params.append(adapt_integer(value, integer))
        else:
            params.append(field.get_db_prep_save(value, db))
    sql = f"UPDATE jobs SET {', '.join(assignments)} WHERE pandaid = %s AND jobstatus = %s"
    params += [pandaid, S.RUNNING.value]
    if attemptnr is not None:
        sql += " AND attemptnr = %s"
        params.append(attemptnr)
    with db.cursor() as cursor:
        cursor.execute(sql + " RETURNING specialhandling, commandtopilot", params)
        row = cursor.fetchone()
    if row is None:
        return None
    return UpdateOutcome(
        Result.APPLIED, command=job_pilot_command(specialhandling=row[0], commandtopilot=row[1]), job_status=S.RUNNING
    )


def _update(row, *, requested, state, final, attemptnr, fields, output_report, now) -> UpdateOutcome:
    for _ in range(2):
        command = job_pilot_command(specialhandling=row["specialhandling"], commandtopilot=row["commandtopilot"])
        decision = _decide(row, requested=requested, final=final, attemptnr=attemptnr, batchid=fields.get("batchid"))
        if decision == "batch":
            Job.objects.filter(pandaid=row["pandaid"]).update(
                superrorcode=INVALID_BATCH_ID,
                superrordiag=f"got an update request with invalid batchID={fields['batchid']}".replace("\n", "")[:250],
            )
            log.info("PandaID=%s batchID mismatch: %r vs %r", row["pandaid"], row["batchid"], fields["batchid"])
            return UpdateOutcome(Result.TOBEKILLED, command=TOBEKILLED, job_status=row["jobstatus"])
        if decision == Result.TOBEKILLED:
            return UpdateOutcome(Result.TOBEKILLED, command=TOBEKILLED, job_status=row["jobstatus"])
        if decision == Result.ALREADYDONE:
            return UpdateOutcome(Result.ALREADYDONE, command=ALREADYDONE, job_status=row["jobstatus"])
        if decision == Result.UNCHANGED:
            return UpdateOutcome(Result.UNCHANGED, command=command, job_status=row["jobstatus"])
        values = _timestamps(row, new=decision.new, final=final, changes=fields, now=now)
        report = None
        if final and decision.new == S.HOLDING:
            report = {
                "pandaid": row["pandaid"],
                "attemptnr": row["attemptnr"],
                "final_status": state,
                "data": output_report,
            }
        if _apply(row, new=decision.new, values=values, report=report):
            return UpdateOutcome(Result.APPLIED, command=command, job_status=decision.new)
        # Lost a race with another writer: decide again on what is stored now.
        row = _read_row(row["pandaid"])
        if row is None:
            return UpdateOutcome(Result.TOBEKILLED, command=TOBEKILLED)
    log.warning("PandaID=%s changed state twice during one update", row["pandaid"])
    return UpdateOutcome(Result.DB_ERROR, status_code=30)
