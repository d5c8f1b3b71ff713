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
        constraints = [
            models.UniqueConstraint(fields=["harvesterid", "workerid", "pandaid"], name="jobworker_uniq")
        ]
