"""PanDA jobs in ONE table, their files, side tables and the status log.

Field names are PanDA's column names in lower case (``pandaid``, ``jobstatus``,
``computingsite``); :data:`WIRE_ATTRIBUTES` is the wire order of the 126 job attributes
(protocol.md §10.4) whose camelCase names map onto them with ``str.lower()``. Job parameters and
metadata live in side tables because they are large and rarely read together with the row.
"""

from django.db import models
from django.db.models import Q

from apps.core.timeutil import utcnow
from apps.jobs.states import JobStatus

WIRE_ATTRIBUTES = (
    "PandaID",
    "jobDefinitionID",
    "schedulerID",
    "pilotID",
    "creationTime",
    "creationHost",
    "modificationTime",
    "modificationHost",
    "AtlasRelease",
    "transformation",
    "homepackage",
    "prodSeriesLabel",
    "prodSourceLabel",
    "prodUserID",
    "assignedPriority",
    "currentPriority",
    "attemptNr",
    "maxAttempt",
    "jobStatus",
    "jobName",
    "maxCpuCount",
    "maxCpuUnit",
    "maxDiskCount",
    "maxDiskUnit",
    "ipConnectivity",
    "minRamCount",
    "minRamUnit",
    "startTime",
    "endTime",
    "cpuConsumptionTime",
    "cpuConsumptionUnit",
    "commandToPilot",
    "transExitCode",
    "pilotErrorCode",
    "pilotErrorDiag",
    "exeErrorCode",
    "exeErrorDiag",
    "supErrorCode",
    "supErrorDiag",
    "ddmErrorCode",
    "ddmErrorDiag",
    "brokerageErrorCode",
    "brokerageErrorDiag",
    "jobDispatcherErrorCode",
    "jobDispatcherErrorDiag",
    "taskBufferErrorCode",
    "taskBufferErrorDiag",
    "computingSite",
    "computingElement",
    "jobParameters",
    "metadata",
    "prodDBlock",
    "dispatchDBlock",
    "destinationDBlock",
    "destinationSE",
    "nEvents",
    "grid",
    "cloud",
    "cpuConversion",
    "sourceSite",
    "destinationSite",
    "transferType",
    "taskID",
    "cmtConfig",
    "stateChangeTime",
    "prodDBUpdateTime",
    "lockedby",
    "relocationFlag",
    "jobExecutionID",
    "VO",
    "pilotTiming",
    "workingGroup",
    "processingType",
    "prodUserName",
    "nInputFiles",
    "countryGroup",
    "batchID",
    "parentID",
    "specialHandling",
    "jobsetID",
    "coreCount",
    "nInputDataFiles",
    "inputFileType",
    "inputFileProject",
    "inputFileBytes",
    "nOutputDataFiles",
    "outputFileBytes",
    "jobMetrics",
    "workQueue_ID",
    "jediTaskID",
    "jobSubStatus",
    "actualCoreCount",
    "reqID",
    "maxRSS",
    "maxVMEM",
    "maxSWAP",
    "maxPSS",
    "avgRSS",
    "avgVMEM",
    "avgSWAP",
    "avgPSS",
    "maxWalltime",
    "nucleus",
    "eventService",
    "failedAttempt",
    "hs06sec",
    "gshare",
    "hs06",
    "totRCHAR",
    "totWCHAR",
    "totRBYTES",
    "totWBYTES",
    "rateRCHAR",
    "rateWCHAR",
    "rateRBYTES",
    "rateWBYTES",
    "resource_type",
    "diskIO",
    "memory_leak",
    "memory_leak_x2",
    "container_name",
    "job_label",
    "gco2_regional",
    "gco2_global",
    "cpu_architecture_level",
    "outputFileType",
)


def wire_to_field(name: str) -> str:
    return name.lower()


class Job(models.Model):
    pandaid = models.BigAutoField(primary_key=True)
    jobdefinitionid = models.BigIntegerField(null=True, blank=True)
    schedulerid = models.CharField(max_length=128, null=True, blank=True)
    pilotid = models.CharField(max_length=200, null=True, blank=True)
    creationtime = models.DateTimeField(default=utcnow)
    creationhost = models.CharField(max_length=128, null=True, blank=True)
    modificationtime = models.DateTimeField(default=utcnow)
    modificationhost = models.CharField(max_length=128, null=True, blank=True)
    atlasrelease = models.CharField(max_length=64, null=True, blank=True)
    transformation = models.CharField(max_length=250, null=True, blank=True)
    homepackage = models.CharField(max_length=80, null=True, blank=True)
    prodserieslabel = models.CharField(max_length=20, null=True, blank=True)
    prodsourcelabel = models.CharField(max_length=20, null=True, blank=True)
    produserid = models.CharField(max_length=250, null=True, blank=True)
    assignedpriority = models.IntegerField(default=0)
    currentpriority = models.IntegerField(default=0)
    attemptnr = models.IntegerField(default=0)
    maxattempt = models.IntegerField(default=0)
    jobstatus = models.CharField(max_length=15, choices=JobStatus.choices, default=JobStatus.DEFINED)
    jobname = models.CharField(max_length=256, null=True, blank=True)
    maxcpucount = models.BigIntegerField(default=0)
    maxcpuunit = models.CharField(max_length=32, null=True, blank=True)
    maxdiskcount = models.BigIntegerField(default=0)
    maxdiskunit = models.CharField(max_length=4, null=True, blank=True)
    ipconnectivity = models.CharField(max_length=5, null=True, blank=True)
    minramcount = models.BigIntegerField(default=0)
    minramunit = models.CharField(max_length=2, null=True, blank=True)
    starttime = models.DateTimeField(null=True, blank=True)
    endtime = models.DateTimeField(null=True, blank=True)
    cpuconsumptiontime = models.BigIntegerField(default=0)
    cpuconsumptionunit = models.CharField(max_length=128, null=True, blank=True)
    commandtopilot = models.CharField(max_length=250, null=True, blank=True)
    transexitcode = models.CharField(max_length=128, null=True, blank=True)
    piloterrorcode = models.IntegerField(default=0)
    piloterrordiag = models.CharField(max_length=500, null=True, blank=True)
    exeerrorcode = models.IntegerField(default=0)
    exeerrordiag = models.CharField(max_length=500, null=True, blank=True)
    superrorcode = models.IntegerField(default=0)
    superrordiag = models.CharField(max_length=250, null=True, blank=True)
    ddmerrorcode = models.IntegerField(default=0)
    ddmerrordiag = models.CharField(max_length=500, null=True, blank=True)
    brokerageerrorcode = models.IntegerField(default=0)
    brokerageerrordiag = models.CharField(max_length=250, null=True, blank=True)
    jobdispatchererrorcode = models.IntegerField(default=0)
    jobdispatchererrordiag = models.CharField(max_length=250, null=True, blank=True)
    taskbuffererrorcode = models.IntegerField(default=0)
    taskbuffererrordiag = models.CharField(max_length=300, null=True, blank=True)
    computingsite = models.CharField(max_length=128, null=True, blank=True)
    computingelement = models.CharField(max_length=128, null=True, blank=True)
    proddblock = models.CharField(max_length=255, null=True, blank=True)
    dispatchdblock = models.CharField(max_length=255, null=True, blank=True)
    destinationdblock = models.CharField(max_length=255, null=True, blank=True)
    destinationse = models.CharField(max_length=250, null=True, blank=True)
    nevents = models.BigIntegerField(default=0)
    grid = models.CharField(max_length=50, null=True, blank=True)
    cloud = models.CharField(max_length=50, null=True, blank=True)
    cpuconversion = models.FloatField(null=True, blank=True)
    sourcesite = models.CharField(max_length=36, null=True, blank=True)
    destinationsite = models.CharField(max_length=36, null=True, blank=True)
    transfertype = models.CharField(max_length=10, null=True, blank=True)
    taskid = models.BigIntegerField(null=True, blank=True)
    cmtconfig = models.CharField(max_length=250, null=True, blank=True)
    statechangetime = models.DateTimeField(null=True, blank=True)
    proddbupdatetime = models.DateTimeField(null=True, blank=True)
    lockedby = models.CharField(max_length=128, null=True, blank=True)
    relocationflag = models.IntegerField(default=0)
    jobexecutionid = models.BigIntegerField(default=0)
    vo = models.CharField(max_length=16, null=True, blank=True)
    pilottiming = models.CharField(max_length=100, null=True, blank=True)
    workinggroup = models.CharField(max_length=20, null=True, blank=True)
    processingtype = models.CharField(max_length=64, null=True, blank=True)
    produsername = models.CharField(max_length=60, null=True, blank=True)
    ninputfiles = models.IntegerField(null=True, blank=True)
    countrygroup = models.CharField(max_length=20, null=True, blank=True)
    batchid = models.CharField(max_length=80, null=True, blank=True)
    parentid = models.BigIntegerField(null=True, blank=True)
    specialhandling = models.CharField(max_length=80, null=True, blank=True)
    jobsetid = models.BigIntegerField(null=True, blank=True)
    corecount = models.IntegerField(null=True, blank=True)
    ninputdatafiles = models.IntegerField(null=True, blank=True)
    inputfiletype = models.CharField(max_length=32, null=True, blank=True)
    inputfileproject = models.CharField(max_length=64, null=True, blank=True)
    inputfilebytes = models.BigIntegerField(null=True, blank=True)
    noutputdatafiles = models.IntegerField(default=0)
    outputfilebytes = models.BigIntegerField(default=0)
    jobmetrics = models.CharField(max_length=500, null=True, blank=True)
    workqueue_id = models.IntegerField(null=True, blank=True)
    jeditaskid = models.BigIntegerField(null=True, blank=True)
    jobsubstatus = models.CharField(max_length=80, null=True, blank=True)
    actualcorecount = models.IntegerField(null=True, blank=True)
    # Average cores the payload used (pilot's meanCoreCount); not part of the job-dict wire order.
    meancorecount = models.FloatField(null=True, blank=True)
    reqid = models.BigIntegerField(null=True, blank=True)
    maxrss = models.BigIntegerField(null=True, blank=True)
    maxvmem = models.BigIntegerField(null=True, blank=True)
    maxswap = models.BigIntegerField(null=True, blank=True)
    maxpss = models.BigIntegerField(null=True, blank=True)
    avgrss = models.BigIntegerField(null=True, blank=True)
    avgvmem = models.BigIntegerField(null=True, blank=True)
    avgswap = models.BigIntegerField(null=True, blank=True)
    avgpss = models.BigIntegerField(null=True, blank=True)
    maxwalltime = models.BigIntegerField(null=True, blank=True)
    nucleus = models.CharField(max_length=52, null=True, blank=True)
    eventservice = models.IntegerField(null=True, blank=True)
    failedattempt = models.IntegerField(null=True, blank=True)
    hs06sec = models.BigIntegerField(null=True, blank=True)
    gshare = models.CharField(max_length=32, null=True, blank=True)
    hs06 = models.BigIntegerField(null=True, blank=True)
    totrchar = models.BigIntegerField(null=True, blank=True)
    totwchar = models.BigIntegerField(null=True, blank=True)
    totrbytes = models.BigIntegerField(null=True, blank=True)
    totwbytes = models.BigIntegerField(null=True, blank=True)
    raterchar = models.BigIntegerField(null=True, blank=True)
    ratewchar = models.BigIntegerField(null=True, blank=True)
    raterbytes = models.BigIntegerField(null=True, blank=True)
    ratewbytes = models.BigIntegerField(null=True, blank=True)
    resource_type = models.CharField(max_length=56, null=True, blank=True)
    diskio = models.IntegerField(null=True, blank=True)
    memory_leak = models.BigIntegerField(null=True, blank=True)
    memory_leak_x2 = models.FloatField(null=True, blank=True)
    container_name = models.CharField(max_length=200, null=True, blank=True)
    job_label = models.CharField(max_length=20, null=True, blank=True)
    gco2_regional = models.FloatField(null=True, blank=True)
    gco2_global = models.FloatField(null=True, blank=True)
    cpu_architecture_level = models.CharField(max_length=20, null=True, blank=True)
    outputfiletype = models.CharField(max_length=32, null=True, blank=True)

    class Meta:
        db_table = "jobs"
        indexes = [
            # getJob: matches "WHERE jobstatus='activated' AND computingsite=? ORDER BY currentpriority
            # DESC, pandaid" exactly, and only holds activated rows, so it stays small.
            models.Index(
                fields=["computingsite", "-currentpriority", "pandaid"],
                condition=Q(jobstatus="activated"),
                name="jobs_dispatch_idx",
            ),
            # getJob's "sloppy" order (PandaID only): without it PostgreSQL walks the primary key
            # from the oldest job of the whole table, archived ones included.
            models.Index(
                fields=["computingsite", "pandaid"],
                condition=Q(jobstatus="activated"),
                name="jobs_dispatch_sloppy_idx",
            ),
            # getJob by global share: one probe per share in rank order, then the share's jobs in
            # currentpriority DESC, pandaid order (apps/jobs/services/dispatch.py).
            models.Index(
                fields=["computingsite", "gshare", "-currentpriority", "pandaid"],
                condition=Q(jobstatus="activated"),
                name="jobs_dispatch_share_idx",
            ),
            models.Index(fields=["jobstatus", "modificationtime"], name="jobs_status_mod_idx"),
            # A task's jobs by state. The columns after jobstatus cover the task page's job summary,
            # progress and consumption plots (monitor.md §5), so PostgreSQL answers them from the index
            # alone: a big task's jobs are spread over the whole table, one heap page each. Every update
            # of a job rewrites its index entries anyway (modificationtime is indexed), so the extra
            # columns cost space, not writes.
            models.Index(
                fields=[
                    "jeditaskid",
                    "jobstatus",
                    "pandaid",
                    "modificationtime",
                    "starttime",
                    "endtime",
                    "maxpss",
                    "maxrss",
                    "cpuconsumptiontime",
                    "corecount",
                ],
                name="jobs_task_status_idx",
            ),
            # A task's scout jobs (the task page): only they are in it.
            models.Index(
                fields=["jeditaskid", "pandaid"],
                condition=Q(specialhandling__contains="sj"),
                name="jobs_task_scout_idx",
            ),
            # A queue's jobs by state in a time window (the jobs list, the error summary, monitor.md §8).
            models.Index(fields=["computingsite", "jobstatus", "modificationtime"], name="jobs_site_status_idx"),
            models.Index(fields=["produsername", "jobstatus"], name="jobs_user_status_idx"),
            # The monitor (monitor.md §8): a user's recent jobs, and keyset pages on (modificationtime,
            # pandaid), which also serve every plain time window.
            models.Index(fields=["produsername", "modificationtime"], name="jobs_user_mod_idx"),
            models.Index(fields=["modificationtime", "pandaid"], name="jobs_modtime_pandaid_idx"),
        ]

    def __str__(self) -> str:
        return f"PandaID={self.pandaid} {self.jobstatus}"

    @property
    def special_handling_flags(self) -> list[str]:
        return [flag for flag in (self.specialhandling or "").split(",") if flag]


class JobParameters(models.Model):
    job = models.OneToOneField(
        Job, primary_key=True, on_delete=models.CASCADE, db_column="pandaid", related_name="params"
    )
    jobparameters = models.TextField(blank=True, default="")

    class Meta:
        db_table = "jobparamstable"

    def __str__(self) -> str:
        return f"parameters of {self.job_id}"


class JobMetadata(models.Model):
    """The payload's job report (``metaData``), stored verbatim."""

    job = models.OneToOneField(
        Job, primary_key=True, on_delete=models.CASCADE, db_column="pandaid", related_name="meta"
    )
    metadata = models.TextField(blank=True, default="")
    modificationtime = models.DateTimeField(default=utcnow)

    class Meta:
        db_table = "metatable"

    def __str__(self) -> str:
        return f"job report of {self.job_id}"


class JobText(models.Model):
    """Pilot log excerpts and payload stdout tails sent with updates."""

    class Kind(models.TextChoices):
        PILOT_LOG = "pilotlog"
        STDOUT = "stdout"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, db_column="pandaid", related_name="texts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField()
    modificationtime = models.DateTimeField(default=utcnow)

    class Meta:
        db_table = "jobtexts"
        constraints = [models.UniqueConstraint(fields=["job", "kind"], name="jobtext_uniq")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.job_id}"


FILE_WIRE_ATTRIBUTES = (
    "row_ID",
    "PandaID",
    "GUID",
    "lfn",
    "type",
    "dataset",
    "status",
    "prodDBlock",
    "prodDBlockToken",
    "dispatchDBlock",
    "dispatchDBlockToken",
    "destinationDBlock",
    "destinationDBlockToken",
    "destinationSE",
    "fsize",
    "md5sum",
    "checksum",
    "scope",
    "jediTaskID",
    "datasetID",
    "fileID",
    "attemptNr",
)


class FileType(models.TextChoices):
    INPUT = "input"
    OUTPUT = "output"
    LOG = "log"
    PSEUDO_INPUT = "pseudo_input"


class JobFile(models.Model):
    row_id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, db_column="pandaid", related_name="files")
    guid = models.CharField(max_length=64, null=True, blank=True)
    lfn = models.CharField(max_length=256)
    type = models.CharField(max_length=20, choices=FileType.choices)
    dataset = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(max_length=64, default="unknown")
    proddblock = models.CharField(max_length=255, null=True, blank=True)
    proddblocktoken = models.CharField(max_length=250, null=True, blank=True)
    dispatchdblock = models.CharField(max_length=255, null=True, blank=True)
    dispatchdblocktoken = models.CharField(max_length=250, null=True, blank=True)
    destinationdblock = models.CharField(max_length=255, null=True, blank=True)
    destinationdblocktoken = models.CharField(max_length=250, null=True, blank=True)
    destinationse = models.CharField(max_length=250, null=True, blank=True)
    fsize = models.BigIntegerField(default=0)
    md5sum = models.CharField(max_length=40, null=True, blank=True)
    checksum = models.CharField(max_length=40, null=True, blank=True)
    scope = models.CharField(max_length=30, null=True, blank=True)
    jeditaskid = models.BigIntegerField(null=True, blank=True)
    datasetid = models.BigIntegerField(null=True, blank=True)
    fileid = models.BigIntegerField(null=True, blank=True)
    attemptnr = models.IntegerField(default=0)
    # Where the Adder registered an output (from the job output report).
    endpoint = models.CharField(max_length=128, null=True, blank=True)
    surl = models.CharField(max_length=1024, null=True, blank=True)
    nevents = models.BigIntegerField(null=True, blank=True)
    modificationtime = models.DateTimeField(default=utcnow)

    class Meta:
        db_table = "filestable4"
        indexes = [
            models.Index(fields=["job", "type"], name="files_job_type_idx"),
            models.Index(fields=["lfn"], name="files_lfn_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.lfn}"


class JobStatusLog(models.Model):
    """One row per job state change (old -> new), written in the transaction of the change."""

    id = models.BigAutoField(primary_key=True)
    pandaid = models.BigIntegerField()
    modificationtime = models.DateTimeField(default=utcnow)
    oldstatus = models.CharField(max_length=15, null=True, blank=True)
    jobstatus = models.CharField(max_length=15)
    computingsite = models.CharField(max_length=128, null=True, blank=True)
    prodsourcelabel = models.CharField(max_length=20, null=True, blank=True)
    reason = models.CharField(max_length=250, blank=True, default="")

    class Meta:
        db_table = "jobs_statuslog"
        indexes = [models.Index(fields=["pandaid", "modificationtime"], name="statuslog_pandaid_idx")]

    def __str__(self) -> str:
        return f"{self.pandaid}: {self.oldstatus} -> {self.jobstatus}"


class JobError(models.Model):
    """One row per non-zero error field of a failed job (states.md §9.1), written when it fails.

    The error summary groups these rows in the database instead of scanning the job table's eight
    code columns; the job's site, user, task and label are copied in so that the summary's
    breakdowns need no join. ``modificationtime`` is when the job failed, ``recorded_at`` when the
    row was written (the hourly aggregate picks up rows recorded since its last run).
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, db_column="pandaid", related_name="errors")
    component = models.CharField(max_length=16)  # monitor name: pilot, exe, ddm, ... (apps/jobs/error_codes.py)
    code = models.IntegerField()
    diag = models.CharField(max_length=500, blank=True, default="")
    computingsite = models.CharField(max_length=128, null=True, blank=True)
    produsername = models.CharField(max_length=60, null=True, blank=True)
    jeditaskid = models.BigIntegerField(null=True, blank=True)
    prodsourcelabel = models.CharField(max_length=20, null=True, blank=True)
    modificationtime = models.DateTimeField()
    recorded_at = models.DateTimeField(default=utcnow)

    class Meta:
        db_table = "job_errors"
        constraints = [models.UniqueConstraint(fields=["job", "component"], name="job_error_uniq")]
        indexes = [
            # The error summary: a time window, then grouping by (component, code) or by site/user/task.
            models.Index(fields=["modificationtime", "component", "code"], name="job_errors_time_idx"),
            models.Index(fields=["computingsite", "modificationtime"], name="job_errors_site_idx"),
            models.Index(fields=["produsername", "modificationtime"], name="job_errors_user_idx"),
            models.Index(fields=["jeditaskid", "modificationtime"], name="job_errors_task_idx"),
            models.Index(fields=["component", "code", "modificationtime"], name="job_errors_code_idx"),
            models.Index(fields=["recorded_at"], name="job_errors_recorded_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} {self.component}:{self.code}"


class OutputReportStatus(models.TextChoices):
    PENDING = "pending"
    DONE = "done"


class JobOutputReport(models.Model):
    """What the pilot's final update carried (``xml``), keyed by (PandaID, attemptNr), for the Adder."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, db_column="pandaid", related_name="output_reports")
    attemptnr = models.IntegerField()
    final_status = models.CharField(max_length=15)  # what the pilot reported: finished / failed
    data = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=OutputReportStatus.choices, default=OutputReportStatus.PENDING)
    creationtime = models.DateTimeField(default=utcnow)
    # Lease for the Adder: a worker owns the report until lock_expires.
    locked_by = models.CharField(max_length=64, blank=True, default="")
    lock_expires = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "job_output_report"
        constraints = [models.UniqueConstraint(fields=["job", "attemptnr"], name="output_report_uniq")]
        indexes = [models.Index(fields=["status", "creationtime"], name="output_report_status_idx")]

    def __str__(self) -> str:
        return f"output report of {self.job_id} attempt {self.attemptnr}"
