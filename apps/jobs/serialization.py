"""Job serialisation of panda-client's ``job/submit`` and the job dicts of ``job/get_description``.

Wire form (protocol.md §10.4): one positional array per job holding the 126 job attributes in
:data:`WIRE_ATTRIBUTES` order, then, as the **last** element, the list of file arrays (the 22
:data:`FILE_WIRE_ATTRIBUTES` then a ``null`` owner placeholder). Unset values are the string
``"NULL"``; datetimes are ``{"_datetime_object": "%Y-%m-%d %H:%M:%S.%f"}``. Like upstream's
``__setstate__``, attribute ``i`` is read only when ``i + 1 < len(array)``, so short arrays from
older clients leave the missing trailing attributes unset and the last element is never an attribute.
"""

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from apps.core.timeutil import parse_wire_time
from apps.jobs.models import FILE_WIRE_ATTRIBUTES, WIRE_ATTRIBUTES, Job, JobFile, wire_to_field

DATETIME_KEY = "_datetime_object"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
NULL = "NULL"
# Stored in side tables, not in the jobs row.
SIDE_ATTRIBUTES = ("jobParameters", "metadata")
# Set by the server, never taken from the wire.
FILE_IGNORED = ("row_ID", "PandaID")
# Unset counts, priorities and error codes are stored as 0 (protocol.md §10.4); the model defaults say so too.
ZERO_ATTRIBUTES = (
    "assignedPriority", "currentPriority", "attemptNr", "maxAttempt", "maxCpuCount", "maxDiskCount", "minRamCount",
    "cpuConsumptionTime", "pilotErrorCode", "exeErrorCode", "supErrorCode", "ddmErrorCode", "brokerageErrorCode",
    "jobDispatcherErrorCode", "taskBufferErrorCode", "nEvents", "relocationFlag", "jobExecutionID",
    "nOutputDataFiles", "outputFileBytes",
)  # fmt: skip
FILE_ZERO_ATTRIBUTES = ("fsize",)
# Too-long values of these are cut, as upstream's JobSpec does; any other too-long value is refused.
TRUNCATED = {
    "ddmerrordiag": 500,
    "taskbuffererrordiag": 300,
    "jobdispatchererrordiag": 250,
    "brokerageerrordiag": 250,
    "piloterrordiag": 500,
    "exeerrordiag": 500,
    "jobsubstatus": 80,
    "superrordiag": 250,
    "commandtopilot": 250,
    "inputfiletype": 32,
    "outputfiletype": 32,
    "grid": 50,
    "sourcesite": 36,
    "destinationsite": 36,
}


class WireFormatError(ValueError):
    pass


@dataclass
class JobSpec:
    """One decoded job: model field values, side-table texts, files, and which wire attributes were set."""

    fields: dict[str, Any]
    job_parameters: str | None = None
    metadata: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    given: set[str] = field(default_factory=set)

    def get(self, wire_name: str) -> Any:
        if wire_name == "jobParameters":
            return self.job_parameters
        if wire_name == "metadata":
            return self.metadata
        return self.fields.get(wire_to_field(wire_name))


def _is_null(value: Any) -> bool:
    return value is None or value == NULL


def _decode_datetime(value: Any) -> Any:
    if isinstance(value, dict) and DATETIME_KEY in value:
        text = str(value[DATETIME_KEY])
        for fmt in (DATETIME_FORMAT, "%Y-%m-%d %H:%M:%S"):
            try:
                return dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
        raise WireFormatError(f"bad datetime {text!r}, expected {DATETIME_FORMAT}")
    return value


def _coerce(model_field: models.Field, wire_name: str, value: Any) -> Any:
    """The wire value as the column needs it; ``WireFormatError`` names the attribute otherwise."""
    value = _decode_datetime(value)
    if _is_null(value):
        return None
    if isinstance(model_field, models.DateTimeField):
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)
        parsed = parse_wire_time(value) if isinstance(value, str) else None
        if parsed is None:
            raise WireFormatError(f"{wire_name} must be a datetime, got {value!r}")
        return parsed
    if isinstance(model_field, (models.IntegerField, models.BigIntegerField)):
        if isinstance(value, (bool, dict, list)):
            raise WireFormatError(f"{wire_name} must be an integer, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise WireFormatError(f"{wire_name} must be an integer, got {value!r}") from exc
        if not number.is_integer():
            raise WireFormatError(f"{wire_name} must be an integer, got {value!r}")
        return int(number)
    if isinstance(model_field, models.FloatField):
        if isinstance(value, (bool, dict, list)):
            raise WireFormatError(f"{wire_name} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise WireFormatError(f"{wire_name} must be a number, got {value!r}") from exc
    if isinstance(value, (dict, list)):
        raise WireFormatError(f"{wire_name} must be a string, got {value!r}")
    text = value if isinstance(value, str) else str(value)
    limit = getattr(model_field, "max_length", None)
    if limit and len(text) > limit:
        if model_field.name in TRUNCATED:
            return text[: TRUNCATED[model_field.name]]
        raise WireFormatError(f"{wire_name} is longer than {limit} characters")
    return text


def _positional(array: list, names: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(name, array[i] if i + 1 < len(array) else NULL) for i, name in enumerate(names)]


def _defaulted(model_field: models.Field, value: Any) -> Any:
    """A null for a NOT NULL column becomes the column default (0 for counts and error codes)."""
    if value is None and not model_field.null:
        return model_field.get_default()
    return value


def file_from_wire(array: Any) -> dict[str, Any]:
    if not isinstance(array, list):
        raise WireFormatError(f"a file must be a list of attributes, got {type(array).__name__}")
    values = {}
    for name, raw in _positional(array, FILE_WIRE_ATTRIBUTES):
        if name in FILE_IGNORED:
            continue
        model_field = JobFile._meta.get_field(wire_to_field(name))
        try:
            values[model_field.name] = _defaulted(model_field, _coerce(model_field, name, raw))
        except WireFormatError as exc:
            raise WireFormatError(f"file attribute {exc}") from exc
    if not values.get("lfn"):
        raise WireFormatError("a file has no lfn")
    return values


def job_from_wire(array: Any) -> JobSpec:
    if not isinstance(array, list) or not array:
        raise WireFormatError(f"a job must be a non-empty list of attributes, got {array!r:.80}")
    files = array[-1]
    if not isinstance(files, list):
        raise WireFormatError("the last element of a job must be its list of files")
    spec = JobSpec(fields={})
    for name, raw in _positional(array, WIRE_ATTRIBUTES):
        if not _is_null(raw):
            spec.given.add(name)
        if name in SIDE_ATTRIBUTES:
            value = _decode_datetime(raw)
            if not _is_null(value) and not isinstance(value, str):
                raise WireFormatError(f"{name} must be a string")
            text = None if _is_null(value) else value
            if name == "jobParameters":
                spec.job_parameters = text
            else:
                spec.metadata = text
            continue
        model_field = Job._meta.get_field(wire_to_field(name))
        spec.fields[model_field.name] = _defaulted(model_field, _coerce(model_field, name, raw))
    for index, file_array in enumerate(files):
        try:
            spec.files.append(file_from_wire(file_array))
        except WireFormatError as exc:
            raise WireFormatError(f"file {index}: {exc}") from exc
    return spec


def jobs_from_wire(payload: Any, *, limit: int | None = None) -> list[JobSpec]:
    """Decode ``jobs`` (JSON text or the already parsed list); only the first ``limit`` jobs are read."""
    if isinstance(payload, (str, bytes)):
        try:
            payload = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WireFormatError(f"jobs is not valid JSON: {exc}") from exc
    if not isinstance(payload, list):
        raise WireFormatError(f"jobs must be a JSON list of job arrays, got {type(payload).__name__}")
    if limit is not None:
        payload = payload[:limit]
    specs = []
    for index, array in enumerate(payload):
        try:
            specs.append(job_from_wire(array))
        except WireFormatError as exc:
            raise WireFormatError(f"job {index}: {exc}") from exc
    return specs


def _encode(value: Any) -> Any:
    if value is None:
        return NULL
    if isinstance(value, dt.datetime):
        return {DATETIME_KEY: value.strftime(DATETIME_FORMAT)}
    return value


def file_to_wire(jobfile: JobFile) -> list:
    values = [jobfile.row_id, jobfile.job_id]
    values += [getattr(jobfile, wire_to_field(name)) for name in FILE_WIRE_ATTRIBUTES[2:]]
    return [_encode(value) for value in values] + [None]


def job_to_wire(job: Job, *, files: list[JobFile], job_parameters: str | None, metadata: str | None) -> list:
    side = {"jobParameters": job_parameters, "metadata": metadata}
    values = [side[name] if name in side else getattr(job, wire_to_field(name)) for name in WIRE_ATTRIBUTES]
    return [_encode(value) for value in values] + [[file_to_wire(f) for f in files]]


def file_description(jobfile: JobFile) -> dict[str, Any]:
    described = {"row_ID": jobfile.row_id, "PandaID": jobfile.job_id}
    for name in FILE_WIRE_ATTRIBUTES[2:]:
        described[name] = getattr(jobfile, wire_to_field(name))
    return described


def job_description(
    job: Job, *, files: list[JobFile], job_parameters: str | None, metadata: str | None
) -> dict[str, Any]:
    """Every attribute under its wire name (None when unset, datetimes as datetime) plus ``Files``."""
    side = {"jobParameters": job_parameters, "metadata": metadata}
    described = {name: side[name] if name in side else getattr(job, wire_to_field(name)) for name in WIRE_ATTRIBUTES}
    described["Files"] = [file_description(f) for f in files]
    return described
