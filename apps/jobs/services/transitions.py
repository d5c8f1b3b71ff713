"""The one function that moves a job between states (spec/states.md §2).

It checks the transition table, updates the row only while it is still in the state the caller
saw (``WHERE pandaid=? AND jobstatus=?``), checks that one row changed and writes the status-log
row in the same transaction. Callers that lose a race get :class:`StaleStatus`. A job that becomes
``failed`` gets its error-summary rows (``JobError``) in that transaction too.
"""

from collections.abc import Mapping

from django.db import connection, transaction

from apps.core.timeutil import utcnow
from apps.core.transitions import IllegalTransition, StaleStatus, check_transition, conditional_status_update
from apps.jobs.models import Job, JobStatusLog
from apps.jobs.services.job_errors import job_errors_record_many
from apps.jobs.states import DIAG_LENGTHS, INITIAL, TRANSITIONS, JobStatus

__all__ = [
    "IllegalTransition",
    "StaleStatus",
    "job_change_status",
    "job_log_creation",
    "jobs_change_status_bulk",
    "truncate_diags",
]

_BULK_CHUNK = 900  # bound variables per statement (SQLite allows 999)


def truncate_diags(changes: dict) -> dict:
    for field, length in DIAG_LENGTHS.items():
        value = changes.get(field)
        if isinstance(value, str) and len(value) > length:
            changes[field] = value[:length]
    return changes


def job_change_status(
    job: Job, *, new: str, changes: Mapping | None = None, reason: str = "", unchanged_since: bool = False
) -> Job:
    """Move ``job`` from the state it holds in memory to ``new``; updates the instance on success.

    ``unchanged_since`` also requires ``modificationtime`` to be what the caller read: a timeout must
    not overrule a heartbeat that arrived between the Watcher's read and its update.
    """
    old = job.jobstatus
    check_transition("job", TRANSITIONS, old, new)
    now = utcnow()
    values = truncate_diags({"statechangetime": now, **(changes or {}), "jobstatus": new})
    guard = {"modificationtime": job.modificationtime} if unchanged_since else {}
    # No savepoint when nested: nothing inside raises on the expected paths (a lost race is
    # reported after the block), so the caller's transaction is never left needing a rollback.
    with transaction.atomic(savepoint=False):
        rows = conditional_status_update(
            Job.objects.filter(pandaid=job.pandaid, **guard), status_field="jobstatus", expected=[old], changes=values
        )
        if rows == 1:
            JobStatusLog.objects.create(
                pandaid=job.pandaid,
                modificationtime=now,
                oldstatus=old,
                jobstatus=new,
                computingsite=values.get("computingsite", job.computingsite),
                prodsourcelabel=job.prodsourcelabel,
                reason=reason[:250],
            )
            if new == JobStatus.FAILED:
                # The error summary's rows, from the fields as stored (the instance may be partial).
                job_errors_record_many([job.pandaid])
    if rows != 1:
        raise StaleStatus("job", job.pandaid, [old])
    for field, value in values.items():
        setattr(job, field, value)
    return job


def jobs_change_status_bulk(pandaids: list[int], *, old: str, new: str, reason: str = "") -> list[int]:
    """Move many jobs ``old`` -> ``new`` at once: one conditional UPDATE and the log rows in one transaction.

    For agents that move jobs they just made (JEDI's ``pending`` -> ``defined``). Jobs no longer in
    ``old`` are left alone; answers the PandaIDs that moved.
    """
    check_transition("job", TRANSITIONS, old, new)
    if not pandaids:
        return []
    now = utcnow()
    stamp = connection.ops.adapt_datetimefield_value(now)
    table = connection.ops.quote_name(Job._meta.db_table)
    moved: list[tuple[int, str | None, str | None]] = []
    log_table = connection.ops.quote_name(JobStatusLog._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(pandaids), _BULK_CHUNK):
            ids = pandaids[start : start + _BULK_CHUNK]
            update = (
                f"UPDATE {table} SET jobstatus = %s, statechangetime = %s, modificationtime = %s "
                f"WHERE jobstatus = %s AND pandaid IN ({', '.join(['%s'] * len(ids))}) "
                "RETURNING pandaid, computingsite, prodsourcelabel"
            )
            params = [new, stamp, stamp, old, *ids]
            if connection.vendor == "postgresql":
                # One statement: the rows the UPDATE moved feed the log INSERT directly.
                cursor.execute(
                    f"WITH moved AS ({update}) INSERT INTO {log_table} "
                    "(pandaid, modificationtime, oldstatus, jobstatus, computingsite, prodsourcelabel, reason) "
                    "SELECT pandaid, %s, %s, %s, computingsite, prodsourcelabel, %s FROM moved "
                    "RETURNING pandaid, computingsite, prodsourcelabel",
                    [*params, stamp, old, new, reason[:250]],
                )
                moved.extend(cursor.fetchall())
                continue
            # UPDATE ... RETURNING (SQLite >= 3.35): exactly the rows this statement moved.
            cursor.execute(update, params)
            rows = cursor.fetchall()
            moved.extend(rows)
            JobStatusLog.objects.bulk_create(
                [
                    JobStatusLog(
                        pandaid=pandaid,
                        modificationtime=now,
                        oldstatus=old,
                        jobstatus=new,
                        computingsite=site,
                        prodsourcelabel=label,
                        reason=reason[:250],
                    )
                    for pandaid, site, label in rows
                ]
            )
        if new == JobStatus.FAILED:
            job_errors_record_many([pandaid for pandaid, _, _ in moved])
    return [pandaid for pandaid, _, _ in moved]


def job_log_creation(jobs: list[Job], *, reason: str = "created") -> None:
    """The status-log rows for jobs that were just inserted in one of the initial states."""
    for job in jobs:
        if job.jobstatus not in INITIAL:
            raise IllegalTransition("job", None, job.jobstatus)
    JobStatusLog.objects.bulk_create(
        [
            JobStatusLog(
                pandaid=job.pandaid,
                modificationtime=job.creationtime,
                oldstatus=None,
                jobstatus=job.jobstatus,
                computingsite=job.computingsite,
                prodsourcelabel=job.prodsourcelabel,
                reason=reason,
            )
            for job in jobs
        ]
    )
