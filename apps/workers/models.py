"""The server's view of Harvester: instances, workers and which jobs each worker ran."""

from django.db import models

from apps.core.timeutil import utcnow


class HarvesterInstance(models.Model):
    harvester_id = models.CharField(max_length=50, unique=True)
    description = models.CharField(max_length=250, blank=True, default="")
    owner = models.CharField(max_length=250, blank=True, default="")
    hostname = models.CharField(max_length=250, blank=True, default="")
    sw_version = models.CharField(max_length=64, blank=True, default="")
    commit_stamp = models.CharField(max_length=64, blank=True, default="")
    starttime = models.DateTimeField(null=True, blank=True)
    lastupdate = models.DateTimeField(default=utcnow)
    metadata = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.harvester_id


class Worker(models.Model):
    harvesterid = models.CharField(max_length=50)
    workerid = models.BigIntegerField()
    status = models.CharField(max_length=80, blank=True, default="")
    batchid = models.CharField(max_length=80, null=True, blank=True)
    queuename = models.CharField(max_length=80, null=True, blank=True)
    computingsite = models.CharField(max_length=128, null=True, blank=True)
    computingelement = models.CharField(max_length=128, null=True, blank=True)
    ncore = models.IntegerField(null=True, blank=True)
    nodeid = models.CharField(max_length=80, null=True, blank=True)
    submittime = models.DateTimeField(null=True, blank=True)
    starttime = models.DateTimeField(null=True, blank=True)
    endtime = models.DateTimeField(null=True, blank=True)
    jobtype = models.CharField(max_length=80, null=True, blank=True)
    resourcetype = models.CharField(max_length=56, null=True, blank=True)
    nativeexitcode = models.IntegerField(null=True, blank=True)
    nativestatus = models.CharField(max_length=80, null=True, blank=True)
    diagmessage = models.CharField(max_length=500, null=True, blank=True)
    njobs = models.IntegerField(null=True, blank=True)
    synclevel = models.IntegerField(null=True, blank=True)
    submissionhost = models.CharField(max_length=128, null=True, blank=True)
    harvesterhost = models.CharField(max_length=128, null=True, blank=True)
    errorcode = models.IntegerField(null=True, blank=True)
    minramcount = models.IntegerField(null=True, blank=True)
    pilotstatus = models.CharField(max_length=80, null=True, blank=True)
    pilotstarttime = models.DateTimeField(null=True, blank=True)
    pilotendtime = models.DateTimeField(null=True, blank=True)
    stdout = models.CharField(max_length=500, null=True, blank=True)
    stderr = models.CharField(max_length=500, null=True, blank=True)
    batchlog = models.CharField(max_length=500, null=True, blank=True)
    jdl = models.TextField(null=True, blank=True)
    lastupdate = models.DateTimeField(default=utcnow)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["harvesterid", "workerid"], name="worker_uniq")]
        indexes = [models.Index(fields=["computingsite", "status"], name="worker_site_status_idx")]

    def __str__(self) -> str:
        return f"{self.harvesterid}:{self.workerid}"


class JobWorker(models.Model):
    """The job <-> worker relation created when a worker's pilot (or Harvester) takes a job."""

    harvesterid = models.CharField(max_length=50)
    workerid = models.BigIntegerField()
    pandaid = models.BigIntegerField(db_index=True)
    lastupdate = models.DateTimeField(default=utcnow)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["harvesterid", "workerid", "pandaid"], name="jobworker_uniq")]

    def __str__(self) -> str:
        return f"{self.harvesterid}:{self.workerid}:{self.pandaid}"


class WorkerStats(models.Model):
    """Worker counts a Harvester instance reports per queue (report_worker_statistics).

    One report replaces every row of its (instance, queue); readers ignore rows older than a few hours.
    """

    harvesterid = models.CharField(max_length=50)
    computingsite = models.CharField(max_length=128)
    jobtype = models.CharField(max_length=80)
    resourcetype = models.CharField(max_length=56)
    status = models.CharField(max_length=80)
    nworkers = models.IntegerField(default=0)
    lastupdate = models.DateTimeField(default=utcnow)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["harvesterid", "computingsite", "jobtype", "resourcetype", "status"], name="worker_stats_uniq"
            )
        ]
        indexes = [models.Index(fields=["lastupdate"], name="worker_stats_lastupdate_idx")]

    def __str__(self) -> str:
        return f"{self.harvesterid}:{self.computingsite}:{self.status}={self.nworkers}"


class HarvesterCommand(models.Model):
    """A command for one Harvester instance (KILL_WORKERS, SET_N_WORKERS_JOBTYPE, ...).

    Statuses: ``new`` -> ``retrieved`` (acquire_commands) -> ``acknowledged`` (acknowledge_commands).
    An instance holds at most one row per command name: adding a command replaces the previous one.
    """

    class Status(models.TextChoices):
        NEW = "new"
        RETRIEVED = "retrieved"
        ACKNOWLEDGED = "acknowledged"

    command_id = models.BigAutoField(primary_key=True)
    harvester_id = models.CharField(max_length=50)
    command = models.CharField(max_length=100)
    params = models.JSONField(null=True, blank=True)
    ack_requested = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    creation_date = models.DateTimeField(default=utcnow)
    status_date = models.DateTimeField(default=utcnow)

    class Meta:
        indexes = [models.Index(fields=["harvester_id", "status", "creation_date"], name="harvester_command_idx")]

    def __str__(self) -> str:
        return f"{self.harvester_id}:{self.command}#{self.command_id}"


class HarvesterSlots(models.Model):
    """Target number of slots for a queue, optionally per global share and resource type.

    An empty ``gshare`` / ``resourcetype`` means "the whole queue" (empty rather than NULL so that the
    unique constraint holds on every database).
    """

    pandaqueuename = models.CharField(max_length=128)
    gshare = models.CharField(max_length=32, blank=True, default="")
    resourcetype = models.CharField(max_length=56, blank=True, default="")
    numslots = models.IntegerField()
    modificationtime = models.DateTimeField(default=utcnow)
    expirationtime = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pandaqueuename", "gshare", "resourcetype"], name="harvester_slots_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.pandaqueuename}:{self.gshare}:{self.resourcetype}={self.numslots}"


class HarvesterDialog(models.Model):
    """A log message an instance forwards to the monitor (add_dialogs); ``diagid`` is the instance's own id."""

    harvester_id = models.CharField(max_length=50)
    diagid = models.BigIntegerField()
    modulename = models.CharField(max_length=100, blank=True, default="")
    identifier = models.CharField(max_length=100, blank=True, default="")
    creationtime = models.DateTimeField(default=utcnow)
    messagelevel = models.CharField(max_length=10, blank=True, default="")
    diagmessage = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["harvester_id", "diagid"], name="harvester_dialog_uniq")]

    def __str__(self) -> str:
        return f"{self.harvester_id}:{self.diagid}"


class HarvesterServiceMetrics(models.Model):
    """Service metrics (CPU, memory, queue lengths...) an instance reports for the monitor."""

    harvester_id = models.CharField(max_length=50)
    creation_time = models.DateTimeField(default=utcnow)
    harvester_host = models.CharField(max_length=128, blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["harvester_id", "creation_time"], name="harvester_metrics_idx")]

    def __str__(self) -> str:
        return f"{self.harvester_id}@{self.creation_time}"
