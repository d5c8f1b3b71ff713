"""The normalized error rows of failed jobs (``JobError``): one per non-zero error field (states.md §9.1).

:func:`job_change_status` calls :func:`job_errors_record_many` in the transaction that moves a
job to ``failed``, so every failure path (pilot updates, the Adder, the Watcher's timeouts, the
Activator, kills that leave a job failed) writes them. Recording reads the job row as stored, so
the caller's instance need not be complete, and replaces whatever rows the job had: running it
again gives the same rows. :func:`job_errors_backfill` records the jobs that failed before the
table existed.
"""

from collections.abc import Iterable

from django.db import transaction

from apps.jobs.error_codes import COMPONENTS, ERROR_FIELDS
from apps.jobs.models import Job, JobError
from apps.jobs.states import JobStatus

_CHUNK = 900  # bound variables per statement (SQLite allows 999)
_ROW_FIELDS = ("pandaid", "computingsite", "produsername", "jeditaskid", "prodsourcelabel", "modificationtime")
DEFAULT_BACKFILL_BATCH = 1000


def _code(value) -> int:
    """The integer code of a field; ``transexitcode`` is text on the wire, anything not a number is no code."""
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _errors_of(row: dict) -> list[JobError]:
    errors = []
    for component in COMPONENTS:
        code = _code(row[component.code_field])
        if code == 0:
            continue
        diag = (row[component.diag_field] or "") if component.diag_field else ""
        errors.append(
            JobError(
                job_id=row["pandaid"],
                component=component.name,
                code=code,
                diag=diag[:500],
                computingsite=row["computingsite"],
                produsername=row["produsername"],
                jeditaskid=row["jeditaskid"],
                prodsourcelabel=row["prodsourcelabel"],
                modificationtime=row["modificationtime"],
            )
        )
    return errors


def job_errors_record_many(pandaids: Iterable[int]) -> int:
    """(Re)write the error rows of these jobs from their stored fields; jobs not ``failed`` get none.

    Answers the number of rows written.
    """
    wanted = list(dict.fromkeys(pandaids))
    written = 0
    with transaction.atomic(savepoint=False):
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = Job.objects.filter(pandaid__in=chunk, jobstatus=JobStatus.FAILED).values(*_ROW_FIELDS, *ERROR_FIELDS)
            errors = [error for row in rows for error in _errors_of(row)]
            JobError.objects.filter(job_id__in=chunk).delete()
            # ignore_conflicts: a concurrent recorder of the same job wrote the same rows; never
            # let that abort the transaction of the state change that called us.
            JobError.objects.bulk_create(errors, ignore_conflicts=True)
            written += len(errors)
    return written


def job_errors_record(job: Job) -> int:
    """(Re)write the error rows of one job; see :func:`job_errors_record_many`."""
    return job_errors_record_many([job.pandaid])


def job_errors_backfill(*, batch_size: int = DEFAULT_BACKFILL_BATCH, since=None) -> tuple[int, int]:
    """Record every failed job (modified at or after ``since`` if given) in PandaID order, in batches.

    Answers (jobs, rows). Idempotent: a second run rewrites the same rows.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    failed = Job.objects.filter(jobstatus=JobStatus.FAILED)
    if since is not None:
        failed = failed.filter(modificationtime__gte=since)
    jobs = rows = 0
    last = 0
    while True:
        batch = list(failed.filter(pandaid__gt=last).order_by("pandaid").values_list("pandaid", flat=True)[:batch_size])
        if not batch:
            return jobs, rows
        rows += job_errors_record_many(batch)
        jobs += len(batch)
        last = batch[-1]
