"""Tables the monitor maintains for itself (monitor.md §8): aggregates written by agents, read by pages."""

from django.db import models


class QueueSnapshotRun(models.Model):
    """One per-minute snapshot of the job counts: its existence makes taking the minute's snapshot idempotent.

    A run with no rows is a real answer ("no jobs"), which the dashboards must tell from "no snapshot yet".
    """

    taken_at = models.DateTimeField(unique=True)  # truncated to the minute
    nrows = models.IntegerField(default=0)
    njobs = models.BigIntegerField(default=0)

    class Meta:
        db_table = "monitor_queue_snapshot_run"

    def __str__(self) -> str:
        return f"snapshot {self.taken_at:%Y-%m-%d %H:%M} ({self.njobs} jobs)"


class QueueSnapshot(models.Model):
    """Jobs per queue × nucleus × jobtype × resource type × state at one minute (empty strings, not NULL)."""

    class JobType(models.TextChoices):
        ANALYSIS = "analysis"
        PRODUCTION = "production"

    taken_at = models.DateTimeField()
    computingsite = models.CharField(max_length=128)
    nucleus = models.CharField(max_length=52, blank=True, default="")
    jobtype = models.CharField(max_length=16, choices=JobType.choices)
    resourcetype = models.CharField(max_length=56, blank=True, default="")
    jobstatus = models.CharField(max_length=15)
    count = models.IntegerField()

    class Meta:
        db_table = "monitor_queue_snapshot"
        constraints = [
            models.UniqueConstraint(
                fields=["taken_at", "computingsite", "nucleus", "jobtype", "resourcetype", "jobstatus"],
                name="queue_snapshot_uniq",
            )
        ]

    def __str__(self) -> str:
        where = f"{self.computingsite} {self.jobtype}/{self.resourcetype}"
        return f"{self.taken_at:%H:%M} {where} {self.jobstatus}={self.count}"


class ErrorHourly(models.Model):
    """Failed-job errors per hour × component:code × queue × prodsourcelabel (monitor.md §8), from ``JobError``.

    The error summary reads these for windows longer than a day. ``apps/monitor/services/error_hourly.py``
    rebuilds the hours that received error rows since its last run (empty strings, not NULL).
    """

    hour = models.DateTimeField()  # start of the hour, UTC
    component = models.CharField(max_length=16)
    code = models.IntegerField()
    computingsite = models.CharField(max_length=128, blank=True, default="")
    prodsourcelabel = models.CharField(max_length=20, blank=True, default="")
    count = models.IntegerField()
    # One example of the group (the largest diag text and PandaID): the summary's "sample diag".
    diag = models.CharField(max_length=500, blank=True, default="")
    pandaid = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "monitor_error_hourly"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "component", "code", "computingsite", "prodsourcelabel"], name="error_hourly_uniq"
            )
        ]
        indexes = [models.Index(fields=["computingsite", "hour"], name="error_hourly_site_idx")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.component}:{self.code} {self.computingsite}={self.count}"


class ErrorHourlyState(models.Model):
    """The one row saying up to when ``JobError`` rows have been folded into :class:`ErrorHourly`."""

    covered_until = models.DateTimeField(null=True, blank=True)  # the start of the last completed run

    class Meta:
        db_table = "monitor_error_hourly_state"

    def __str__(self) -> str:
        return f"error aggregates up to {self.covered_until}"
