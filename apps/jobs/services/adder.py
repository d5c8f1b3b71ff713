"""The Adder: finalise jobs in ``holding`` from the pilot's job output report (protocol.md §7).

For each pending :class:`~apps.jobs.models.JobOutputReport` the Adder validates every reported
non-input file (``guid``, ``fsize``, a checksum: ``adler32`` stored as ``ad:<v>``, else a 32-hex
``md5sum`` stored as ``md5:<v>``), records the result on the job's ``JobFile`` rows and moves the
job ``holding -> finished / failed / cancelled`` through ``job_change_status``:

* ``finished`` report, every output and the log present and valid: outputs and log ``ready`` with
  guid/fsize/checksum/surl/endpoint, event counts from the job report; job ``finished``.
* ``finished`` report with a bad entry (``ddmErrorCode=200``, ``Could not get GUID/LFN/MD5/FSIZE/SURL
  from pilot JSON``) or a missing output/log (``ddmErrorCode=200``, ``expected output <lfn> is
  missing in pilot JSON``): job ``failed``. Outputs flagged allow-no-output (``an`` in the file's
  ``dispatchDBlockToken``, what feeds the job dict's ``allowNoOutput``) become ``nooutput`` instead,
  and event-service/jumbo jobs are exempt from the missing-file check.
* failed job: only the log is registered (``ready``); outputs ``failed``; inputs ``failed`` for
  production labels, ``skipped`` for ``user``/``panda``. A job whose ``commandToPilot`` is
  ``tobekilled`` ends ``cancelled``, except after the retry kills (codes 7/8), which stay ``failed``.

The ``ready`` outputs and log are then registered in the data-management catalogue
(:mod:`apps.jobs.services.output_registration`: into ``JobFile.dataset`` with a replica on the
endpoint the pilot reported), in the Adder's transaction and inside a savepoint. A refusal by the
catalogue (closed dataset, GUID clash, ...) fails a finished job with ``ddmErrorCode=203`` (location
registration failure, ``could not register outputs in DDM: <why>``), whose log is then registered
alone; a failed job keeps its outcome and records the code if it has no ddm error yet. The outcomes
``transferring``/``merging`` need DDM transfers and event-service merging: outputs are final where
the pilot put them, so the Adder's outcome is ``finished`` or ``failed``.

Concurrency: reports are claimed in small batches with a lease, a conditional UPDATE of
``locked_by``/``lock_expires`` on rows that are unlocked or whose lease expired, so correctness holds
on SQLite; on PostgreSQL the candidate SELECT adds ``FOR UPDATE SKIP LOCKED`` so that workers do not
even wait for each other. Marking the report done (still under our lease), updating the files and
the job's move out of ``holding`` happen in one transaction, so a report is processed once and a job
is finalised once even when a lease expires under a slow worker; a job that is no longer in
``holding`` (already final, failed by the Watcher, killed) is left alone and its report closed.
"""

import json
import logging
import os
import re
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q

from apps.accounts.permissions import ANALYSIS_LABELS
from apps.core.timeutil import utcnow
from apps.core.values import as_int, is_null
from apps.ddm.interface import DDMError
from apps.jobs.models import FileType, Job, JobFile, JobMetadata, JobOutputReport, OutputReportStatus
from apps.jobs.services.output_registration import job_files_register
from apps.jobs.services.transitions import StaleStatus, job_change_status
from apps.jobs.states import JobStatus

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 20
DEFAULT_LEASE_SECONDS = 300
DEFAULT_MAX_REPORTS = 2000

DDM_ADDER_ERROR = 200
DDM_REGISTRATION_ERROR = 203
REGISTRATION_DIAG = "could not register outputs in DDM: {error}"
BAD_ENTRY_DIAG = "Could not get GUID/LFN/MD5/FSIZE/SURL from pilot JSON"
MISSING_DIAG = "expected output {lfn} is missing in pilot JSON"
TOBEKILLED = "tobekilled"
# taskBufferErrorCode of kills that retry the work elsewhere (reassigned, retried by server/pilot):
# a killed job that reports failed keeps ``failed`` instead of becoming ``cancelled``.
KEEP_FAILED = frozenset({105, 106, 107})
# eventService values exempt from the missing-output check: ES, jumbo, co-jumbo, fine-grained.
EXEMPT_EVENT_SERVICE = frozenset({1, 4, 5, 6})
ALLOW_NO_OUTPUT_TOKEN = "an"

FILE_FIELDS = ["status", "guid", "fsize", "checksum", "md5sum", "surl", "endpoint", "nevents", "modificationtime"]
_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass
class AdderSummary:
    claimed: int = 0
    finished: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    lost: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return (
            f"adder: claimed={self.claimed} finished={self.finished} failed={self.failed} "
            f"cancelled={self.cancelled} skipped={self.skipped} lost={self.lost} errors={self.errors}"
        )


@dataclass(frozen=True)
class FileRecord:
    """A validated output report entry."""

    guid: str
    fsize: int
    checksum: str
    md5sum: str | None
    surl: str | None
    endpoint: str | None


@dataclass
class Plan:
    status: str
    changes: dict = field(default_factory=dict)
    files: list[JobFile] = field(default_factory=list)


def adder_run(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    worker_name: str | None = None,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    max_reports: int = DEFAULT_MAX_REPORTS,
) -> AdderSummary:
    """Claim and process pending output reports, batch after batch, until none is left (or ``max_reports``)."""
    name = worker_name or f"{socket.gethostname()}:{os.getpid()}"
    # A fresh token per run: a report is ours only while its lease carries exactly this value.
    token = f"{name[:50]}:{uuid.uuid4().hex[:12]}"
    summary = AdderSummary()
    while summary.claimed < max_reports:
        claimed = _claim(token=token, batch_size=min(batch_size, max_reports - summary.claimed), lease=lease_seconds)
        if not claimed:
            break
        summary.claimed += len(claimed)
        for report_id in claimed:
            try:
                outcome = _process(report_id, token)
            except Exception:
                # Leave the lease to expire: the report is retried by a later run.
                log.exception("adder: report %s failed", report_id)
                outcome = "errors"
            setattr(summary, outcome, getattr(summary, outcome) + 1)
    return summary


def _claimable(now):
    return JobOutputReport.objects.filter(status=OutputReportStatus.PENDING).filter(
        Q(locked_by="") | Q(lock_expires__isnull=True) | Q(lock_expires__lt=now)
    )


def _claim(*, token: str, batch_size: int, lease: int) -> list[int]:
    now = utcnow()
    with transaction.atomic():
        candidates = _claimable(now).order_by("creationtime", "pk")
        if connection.vendor == "postgresql":
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return []
        # The WHERE clause is evaluated again on each row: whoever updates first owns the report.
        _claimable(now).filter(pk__in=ids).update(locked_by=token, lock_expires=now + timedelta(seconds=lease))
    return list(
        JobOutputReport.objects.filter(pk__in=ids, locked_by=token, status=OutputReportStatus.PENDING)
        .order_by("creationtime", "pk")
        .values_list("pk", flat=True)
    )


class _LostLease(Exception):
    pass


def _mark_done(report_id: int, token: str) -> bool:
    rows = JobOutputReport.objects.filter(pk=report_id, locked_by=token, status=OutputReportStatus.PENDING).update(
        status=OutputReportStatus.DONE, lock_expires=None
    )
    return rows == 1


def _process(report_id: int, token: str) -> str:
    report = JobOutputReport.objects.select_related("job").filter(pk=report_id, locked_by=token).first()
    if report is None or report.status != OutputReportStatus.PENDING:
        return "lost"
    job = report.job
    if job.jobstatus != JobStatus.HOLDING or job.attemptnr != report.attemptnr:
        return "skipped" if _mark_done(report_id, token) else "lost"
    plan = adder_plan(job=job, report=report)
    try:
        with transaction.atomic():
            if not _mark_done(report_id, token):
                raise _LostLease
            plan = _register_in_ddm(job, report, plan)
            if plan.files:
                JobFile.objects.bulk_update(plan.files, FILE_FIELDS)
            job_change_status(job, new=plan.status, changes=plan.changes, reason=f"adder {report.final_status}")
    except _LostLease:
        return "lost"
    except StaleStatus:
        # Someone else moved the job out of holding meanwhile; everything above was rolled back.
        return "skipped" if _mark_done(report_id, token) else "lost"
    return plan.status


def _try_register(files: list[JobFile]) -> str | None:
    """Register in a savepoint: a refusal rolls back only the registration; answers the refusal."""
    try:
        with transaction.atomic():
            job_files_register(files)
    except DDMError as exc:
        return str(exc)
    return None


def _register_in_ddm(job: Job, report: JobOutputReport, plan: Plan) -> Plan:
    """Register the plan's ready outputs/log; a refused registration turns a finished plan into a failed one."""
    error = _try_register(plan.files)
    if error is None:
        return plan
    diag = REGISTRATION_DIAG.format(error=error)
    log.warning("adder: job %s: %s", job.pandaid, diag)
    if plan.status == JobStatus.FINISHED:
        plan = adder_plan(job=job, report=report, registration_error=diag)
        # The failed job's log alone; if that is refused too, the diag already says why.
        _try_register(plan.files)
    elif not job.ddmerrorcode and "ddmerrorcode" not in plan.changes:
        plan.changes.update(ddmerrorcode=DDM_REGISTRATION_ERROR, ddmerrordiag=diag)
    return plan


def adder_plan(*, job: Job, report: JobOutputReport, registration_error: str | None = None) -> Plan:
    """What the report does to the job and its files (no writes); ``registration_error`` fails a
    finished job whose outputs the catalogue refused."""
    now = utcnow()
    entries, readable = _parse_report(report.data)
    subfiles, has_job_report = _job_report_subfiles(job)
    files = list(JobFile.objects.filter(job_id=job.pandaid).order_by("row_id"))
    inputs = {f.lfn for f in files if f.type in (FileType.INPUT, FileType.PSEUDO_INPUT)}
    records = {lfn: _validate(entry, subfiles.get(lfn)) for lfn, entry in entries.items() if lfn not in inputs}
    changes = {"modificationtime": now, "endtime": job.endtime or now}

    if report.final_status == JobStatus.FINISHED:
        error = None
        if not readable or any(record is None for record in records.values()):
            error = BAD_ENTRY_DIAG
        produced = [f for f in files if f.type in (FileType.OUTPUT, FileType.LOG)]
        missing_ok = job.eventservice in EXEMPT_EVENT_SERVICE
        for f in produced:
            if error is None and f.lfn not in records and not (missing_ok or _allowed_no_output(f)):
                error = MISSING_DIAG.format(lfn=f.lfn)
        if error is None and registration_error is None:
            for f in produced:
                record = records.get(f.lfn)
                if record is None:
                    f.status = "nooutput"
                else:
                    _register(f, record, now)
                    if f.type == FileType.OUTPUT:
                        f.nevents = _nevents(f, subfiles, has_job_report, job)
                f.modificationtime = now
            return Plan(status=JobStatus.FINISHED, changes=changes, files=produced)
        if error is None:
            changes.update(ddmerrorcode=DDM_REGISTRATION_ERROR, ddmerrordiag=registration_error)
        else:
            changes.update(ddmerrorcode=DDM_ADDER_ERROR, ddmerrordiag=error)
        status = JobStatus.FAILED
    else:
        status = JobStatus.FAILED
        if job.commandtopilot == TOBEKILLED and job.taskbuffererrorcode not in KEEP_FAILED:
            status = JobStatus.CANCELLED

    failed_input_status = "skipped" if job.prodsourcelabel in ANALYSIS_LABELS else "failed"
    for f in files:
        record = records.get(f.lfn)
        if f.type == FileType.LOG and record is not None:
            _register(f, record, now)
        elif f.type in (FileType.OUTPUT, FileType.LOG):
            f.status = "failed"
        elif f.type == FileType.INPUT:
            f.status = failed_input_status
        f.modificationtime = now
    return Plan(status=status, changes=changes, files=files)


def _parse_report(data: str) -> tuple[dict, bool]:
    """``{lfn: entry}`` and whether the text was a readable report (an empty one is)."""
    if is_null(data) or not data.strip():
        return {}, True
    try:
        value = json.loads(data)
    except ValueError:
        return {}, False
    if not isinstance(value, dict):
        return {}, False
    entries = {lfn: entry for lfn, entry in value.items() if isinstance(entry, dict)}
    return entries, len(entries) == len(value)


def _job_report_subfiles(job: Job) -> tuple[dict[str, dict], bool]:
    """``files.output[].subFiles[]`` of the stored job report, by file name."""
    text = JobMetadata.objects.filter(job_id=job.pandaid).values_list("metadata", flat=True).first()
    if not text:
        return {}, False
    try:
        report = json.loads(text)
    except ValueError:
        return {}, False
    subfiles = {}
    outputs = report.get("files", {}).get("output", []) if isinstance(report, dict) else []
    for output in outputs if isinstance(outputs, list) else []:
        for sub in output.get("subFiles", []) if isinstance(output, dict) else []:
            if isinstance(sub, dict) and isinstance(sub.get("name"), str):
                subfiles[sub["name"]] = sub
    return subfiles, True


def _checksum(entry: dict) -> tuple[str, str | None] | None:
    adler = entry.get("adler32")
    if isinstance(adler, str) and 0 < len(adler.strip()) <= 8 and _HEX.match(adler.strip()):
        return f"ad:{adler.strip()}", None
    md5 = entry.get("md5sum")
    if isinstance(md5, str) and len(md5.strip()) == 32 and _HEX.match(md5.strip()):
        return f"md5:{md5.strip()}", md5.strip()
    return None


def _validate(entry: dict, subfile: dict | None) -> FileRecord | None:
    guid = entry.get("guid")
    if is_null(guid) and subfile is not None:
        guid = subfile.get("file_guid")
    fsize = entry.get("fsize")
    size = as_int(fsize) if not isinstance(fsize, bool) else None
    checksum = _checksum(entry)
    if is_null(guid) or not isinstance(guid, str) or size is None or size < 0 or checksum is None:
        return None
    surl = entry.get("surl")
    endpoint = entry.get("endpoint")
    return FileRecord(
        guid=guid.strip()[:64],
        fsize=size,
        checksum=checksum[0],
        md5sum=checksum[1],
        surl=str(surl)[:1024] if not is_null(surl) else None,
        endpoint=str(endpoint)[:128] if not is_null(endpoint) else None,
    )


def _register(f: JobFile, record: FileRecord, now) -> None:
    f.status = "ready"
    f.guid = record.guid
    f.fsize = record.fsize
    f.checksum = record.checksum
    if record.md5sum:
        f.md5sum = record.md5sum
    f.surl = record.surl
    f.endpoint = record.endpoint
    f.modificationtime = now


def _nevents(f: JobFile, subfiles: dict, has_job_report: bool, job: Job) -> int | None:
    sub = subfiles.get(f.lfn)
    if sub is not None:
        return as_int(sub.get("nentries"), f.nevents)
    if not has_job_report and job.prodsourcelabel == "managed" and job.nevents:
        return job.nevents
    return f.nevents


def _allowed_no_output(f: JobFile) -> bool:
    return f.type == FileType.OUTPUT and ALLOW_NO_OUTPUT_TOKEN in (f.dispatchdblocktoken or "").split(",")
