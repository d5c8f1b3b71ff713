"""JEDI's tables: tasks, their parameters, datasets, dataset contents, templates and histories.

Field names are JEDI's column names in lower case (``jeditaskid``, ``datasetid``, ``fileid``,
``nfilesfinished``), as the jobs table does, so the client APIs and the monitor can speak the
upstream vocabulary with ``str.lower()``.

* :class:`Task` (``jedi_tasks``): one row per task; ``status`` moves only through
  :func:`apps.jedi.services.transitions.task_change_status`. ``lockedby``/``lockedtime`` are the
  agents' lease (jedi.md §1).
* :class:`TaskParams`: the submitted parameter map, verbatim JSON.
* :class:`TaskDataset` (``jedi_datasets``): the task's datasets by type (input, pseudo_input,
  output, log, lib, tmpl_output, tmpl_log) with file/event counters.
* :class:`DatasetContent` (``jedi_dataset_contents``): one row per file of a task dataset — for
  inputs the unit of work with its attempts; for outputs the files jobs produced.
* :class:`OutputTemplate`: per output/log dataset, the LFN template and the next serial number.
* :class:`JobParamsTemplate`: the job-parameter template built by the refiner.
* :class:`JobRetryHistory`: old -> new PandaID links of retries.
* :class:`TaskStatusLog`: one row per task state change.
* :class:`TaskCommand`: queued task commands for the TaskCommando (states.md §8).
* :class:`RetryRule`: the server-side retry module's rules (jedi.md §7).
"""

from django.db import models
from django.db.models import Q

from apps.core.timeutil import utcnow
from apps.jedi.states import TaskStatus


class Task(models.Model):
    jeditaskid = models.BigAutoField(primary_key=True)
    taskname = models.CharField(max_length=255)
    status = models.CharField(max_length=64, choices=TaskStatus.choices, default=TaskStatus.REGISTERED)
    oldstatus = models.CharField(max_length=64, null=True, blank=True)
    superstatus = models.CharField(max_length=64, null=True, blank=True)
    username = models.CharField(max_length=128)
    # The submitter's identity name (DN or token subject), for permission checks and notifications.
    userdn = models.CharField(max_length=250, blank=True, default="")
    creationdate = models.DateTimeField(default=utcnow)
    modificationtime = models.DateTimeField(default=utcnow)
    statechangetime = models.DateTimeField(null=True, blank=True)
    starttime = models.DateTimeField(null=True, blank=True)
    endtime = models.DateTimeField(null=True, blank=True)
    frozentime = models.DateTimeField(null=True, blank=True)
    prodsourcelabel = models.CharField(max_length=20, default="user")
    workinggroup = models.CharField(max_length=32, null=True, blank=True)
    vo = models.CharField(max_length=16, default="atlas")
    corecount = models.IntegerField(null=True, blank=True)
    tasktype = models.CharField(max_length=64, default="anal")
    processingtype = models.CharField(max_length=64, null=True, blank=True)
    taskpriority = models.IntegerField(default=1000)
    currentpriority = models.IntegerField(default=1000)
    architecture = models.CharField(max_length=256, null=True, blank=True)
    transuses = models.CharField(max_length=64, null=True, blank=True)
    transhome = models.CharField(max_length=128, null=True, blank=True)
    transpath = models.CharField(max_length=250, null=True, blank=True)
    container_name = models.CharField(max_length=200, null=True, blank=True)
    lockedby = models.CharField(max_length=64, null=True, blank=True)
    lockedtime = models.DateTimeField(null=True, blank=True)
    termcondition = models.CharField(max_length=100, null=True, blank=True)
    # Split rules as upstream's compact "KEY=value,KEY=value" string (e.g. NF=2,MF=10,RX=1000).
    splitrule = models.CharField(max_length=500, blank=True, default="")
    walltime = models.IntegerField(null=True, blank=True)
    walltimeunit = models.CharField(max_length=32, null=True, blank=True)
    basewalltime = models.IntegerField(null=True, blank=True)
    cputime = models.FloatField(null=True, blank=True)
    cputimeunit = models.CharField(max_length=32, null=True, blank=True)
    cpuefficiency = models.IntegerField(null=True, blank=True)
    outdiskcount = models.FloatField(null=True, blank=True)
    outdiskunit = models.CharField(max_length=32, null=True, blank=True)
    workdiskcount = models.IntegerField(null=True, blank=True)
    workdiskunit = models.CharField(max_length=32, null=True, blank=True)
    ramcount = models.IntegerField(null=True, blank=True)
    ramunit = models.CharField(max_length=32, null=True, blank=True)
    baseramcount = models.IntegerField(null=True, blank=True)
    iointensity = models.IntegerField(null=True, blank=True)
    iointensityunit = models.CharField(max_length=32, null=True, blank=True)
    diskio = models.IntegerField(null=True, blank=True)
    diskiounit = models.CharField(max_length=32, null=True, blank=True)
    workqueue_id = models.IntegerField(null=True, blank=True)
    gshare = models.CharField(max_length=32, null=True, blank=True)
    resource_type = models.CharField(max_length=56, null=True, blank=True)
    progress = models.IntegerField(null=True, blank=True)
    failurerate = models.IntegerField(null=True, blank=True)
    errordialog = models.CharField(max_length=255, null=True, blank=True)
    reqid = models.BigIntegerField(null=True, blank=True)
    cloud = models.CharField(max_length=50, null=True, blank=True)
    site = models.CharField(max_length=250, null=True, blank=True)
    nucleus = models.CharField(max_length=52, null=True, blank=True)
    countrygroup = models.CharField(max_length=20, null=True, blank=True)
    campaign = models.CharField(max_length=72, null=True, blank=True)
    parent_tid = models.BigIntegerField(null=True, blank=True)
    eventservice = models.IntegerField(default=0)
    attemptnr = models.IntegerField(default=0)
    throttledtime = models.DateTimeField(null=True, blank=True)
    numthrottled = models.IntegerField(default=0)
    rescuetime = models.DateTimeField(null=True, blank=True)
    goal = models.IntegerField(null=True, blank=True)  # per mille of input files to reach
    job_label = models.CharField(max_length=20, null=True, blank=True)
    # The avalanche/scout bookkeeping: when the scout metrics were last measured.
    scoutmetricstime = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "jedi_tasks"
        indexes = [
            models.Index(fields=["status", "lockedby", "modificationtime"], name="tasks_status_idx"),
            models.Index(fields=["username", "status"], name="tasks_user_status_idx"),
            models.Index(fields=["taskname"], name="tasks_name_idx"),
            models.Index(fields=["modificationtime"], name="tasks_modtime_idx"),
            # Task chains (the monitor's /taskchain/ and /taskflow/ follow parents to children).
            models.Index(fields=["parent_tid"], name="tasks_parent_idx"),
        ]

    def __str__(self) -> str:
        return f"jediTaskID={self.jeditaskid} {self.status}"


class TaskParams(models.Model):
    task = models.OneToOneField(
        Task, primary_key=True, on_delete=models.CASCADE, db_column="jeditaskid", related_name="params"
    )
    taskparams = models.TextField()

    class Meta:
        db_table = "jedi_taskparams"

    def __str__(self) -> str:
        return f"parameters of {self.task_id}"


class JobParamsTemplate(models.Model):
    task = models.OneToOneField(
        Task, primary_key=True, on_delete=models.CASCADE, db_column="jeditaskid", related_name="jobparams_template"
    )
    jobparamstemplate = models.TextField()

    class Meta:
        db_table = "jedi_jobparams_template"

    def __str__(self) -> str:
        return f"job parameter template of {self.task_id}"


class DatasetType(models.TextChoices):
    INPUT = "input"
    PSEUDO_INPUT = "pseudo_input"
    OUTPUT = "output"
    LOG = "log"
    LIB = "lib"
    TMPL_OUTPUT = "tmpl_output"
    TMPL_LOG = "tmpl_log"


INPUT_TYPES = (DatasetType.INPUT, DatasetType.PSEUDO_INPUT)


class TaskDataset(models.Model):
    datasetid = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, db_column="jeditaskid", related_name="datasets")
    datasetname = models.CharField(max_length=255)
    containername = models.CharField(max_length=255, null=True, blank=True)
    type = models.CharField(max_length=20, choices=DatasetType.choices)
    # defined -> ready (contents fed) / toupdate / done / finished / failed / closed ...
    status = models.CharField(max_length=20, default="defined")
    state = models.CharField(max_length=20, null=True, blank=True)  # DDM state: open/closed/mutable
    streamname = models.CharField(max_length=20, null=True, blank=True)  # IN, DBR, OUTPUT0, LOG0
    masterid = models.BigIntegerField(null=True, blank=True)  # secondary inputs point at the master
    provenanceid = models.BigIntegerField(null=True, blank=True)
    templateid = models.BigIntegerField(null=True, blank=True)
    attributes = models.CharField(max_length=100, blank=True, default="")  # repeat, nosplit, ...
    storagetoken = models.CharField(max_length=60, null=True, blank=True)
    destination = models.CharField(max_length=60, null=True, blank=True)
    vo = models.CharField(max_length=16, null=True, blank=True)
    cloud = models.CharField(max_length=50, null=True, blank=True)
    site = models.CharField(max_length=128, null=True, blank=True)
    nfiles = models.IntegerField(default=0)
    nfilestobeused = models.IntegerField(default=0)
    nfilesused = models.IntegerField(default=0)
    nfilesfinished = models.IntegerField(default=0)
    nfilesfailed = models.IntegerField(default=0)
    nfilesonhold = models.IntegerField(default=0)
    nfileswaiting = models.IntegerField(default=0)
    nfilesmissing = models.IntegerField(default=0)
    nevents = models.BigIntegerField(default=0)
    neventstobeused = models.BigIntegerField(default=0)
    neventsused = models.BigIntegerField(default=0)
    lockedby = models.CharField(max_length=64, null=True, blank=True)
    lockedtime = models.DateTimeField(null=True, blank=True)
    creationtime = models.DateTimeField(default=utcnow)
    modificationtime = models.DateTimeField(default=utcnow)
    statechecktime = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "jedi_datasets"
        indexes = [
            models.Index(fields=["task", "type"], name="datasets_task_type_idx"),
            # The monitor's dataset lookups by name (/datasets/, /dataset/).
            models.Index(fields=["datasetname"], name="datasets_name_idx"),
            models.Index(fields=["containername"], name="datasets_container_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.datasetname}"


class ContentStatus(models.TextChoices):
    READY = "ready"  # can be used for a new job
    PICKED = "picked"  # taken by the JobGenerator, job being built/queued
    RUNNING = "running"  # its job is running
    FINISHED = "finished"
    FAILED = "failed"  # no attempts left
    MISSING = "missing"
    LOST = "lost"
    CANCELLED = "cancelled"
    # output rows
    DEFINED = "defined"
    # pseudo files are "ready" too


class DatasetContent(models.Model):
    fileid = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, db_column="jeditaskid", related_name="contents")
    dataset = models.ForeignKey(TaskDataset, on_delete=models.CASCADE, db_column="datasetid", related_name="contents")
    creationdate = models.DateTimeField(default=utcnow)
    lastattempttime = models.DateTimeField(null=True, blank=True)
    lfn = models.CharField(max_length=256)
    guid = models.CharField(max_length=64, null=True, blank=True)
    type = models.CharField(max_length=20)
    status = models.CharField(max_length=64, choices=ContentStatus.choices, default=ContentStatus.READY)
    fsize = models.BigIntegerField(null=True, blank=True)
    checksum = models.CharField(max_length=36, null=True, blank=True)
    scope = models.CharField(max_length=64, null=True, blank=True)
    attemptnr = models.IntegerField(default=0)
    maxattempt = models.IntegerField(default=3)
    failedattempt = models.IntegerField(default=0)
    maxfailure = models.IntegerField(null=True, blank=True)
    nevents = models.BigIntegerField(null=True, blank=True)
    keeptrack = models.IntegerField(default=1)
    startevent = models.BigIntegerField(null=True, blank=True)
    endevent = models.BigIntegerField(null=True, blank=True)
    firstevent = models.BigIntegerField(null=True, blank=True)
    boundaryid = models.BigIntegerField(null=True, blank=True)
    pandaid = models.BigIntegerField(null=True, blank=True)  # latest job that used this file
    outpandaid = models.BigIntegerField(null=True, blank=True)  # job that produced this output
    ramcount = models.IntegerField(null=True, blank=True)  # raised by the retry module
    jobsetid = models.BigIntegerField(null=True, blank=True)
    proc_status = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        db_table = "jedi_dataset_contents"
        indexes = [
            models.Index(fields=["dataset", "status", "fileid"], name="contents_ds_status_idx"),
            models.Index(fields=["task", "status"], name="contents_task_status_idx"),
            models.Index(fields=["pandaid"], name="contents_pandaid_idx"),
            # Feedback (apps/jedi/services/feedback.py): in-flight inputs and not-yet-final outputs by
            # job, small because they hold only the rows whose jobs have not been fed back yet.
            models.Index(
                fields=["pandaid"], condition=Q(status__in=["picked", "running"]), name="contents_inflight_idx"
            ),
            models.Index(
                fields=["outpandaid"],
                condition=Q(status__in=["defined", "picked", "running"]),
                name="contents_outpending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lfn} ({self.status})"


class OutputTemplate(models.Model):
    outtempid = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, db_column="jeditaskid", related_name="output_templates")
    dataset = models.ForeignKey(
        TaskDataset, on_delete=models.CASCADE, db_column="datasetid", related_name="output_templates"
    )
    filenametemplate = models.CharField(max_length=256)
    streamname = models.CharField(max_length=20)
    serialnr = models.IntegerField(default=1)  # next ${SN}
    maxserialnr = models.IntegerField(null=True, blank=True)
    outtype = models.CharField(max_length=20, default="output")

    class Meta:
        db_table = "jedi_output_template"

    def __str__(self) -> str:
        return f"{self.streamname}: {self.filenametemplate}"


class JobRetryHistory(models.Model):
    jeditaskid = models.BigIntegerField()
    oldpandaid = models.BigIntegerField()
    newpandaid = models.BigIntegerField()
    originpandaid = models.BigIntegerField()
    relationtype = models.CharField(max_length=16, default="retry")
    ins_utc_tstamp = models.DateTimeField(default=utcnow)

    class Meta:
        db_table = "jedi_job_retry_history"
        constraints = [models.UniqueConstraint(fields=["oldpandaid", "newpandaid"], name="retry_history_uniq")]
        indexes = [
            models.Index(fields=["newpandaid"], name="retry_history_new_idx"),
            models.Index(fields=["jeditaskid"], name="retry_history_task_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.oldpandaid} -> {self.newpandaid}"


class TaskStatusLog(models.Model):
    id = models.BigAutoField(primary_key=True)
    jeditaskid = models.BigIntegerField()
    modificationtime = models.DateTimeField(default=utcnow)
    oldstatus = models.CharField(max_length=64, null=True, blank=True)
    status = models.CharField(max_length=64)
    attemptnr = models.IntegerField(default=0)
    reason = models.CharField(max_length=250, blank=True, default="")

    class Meta:
        db_table = "jedi_tasks_statuslog"
        indexes = [models.Index(fields=["jeditaskid", "modificationtime"], name="task_statuslog_idx")]

    def __str__(self) -> str:
        return f"{self.jeditaskid}: {self.oldstatus} -> {self.status}"


class CommandStatus(models.TextChoices):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


class TaskCommand(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, db_column="jeditaskid", related_name="commands")
    command = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=CommandStatus.choices, default=CommandStatus.QUEUED)
    owner = models.CharField(max_length=250, blank=True, default="")
    comment = models.CharField(max_length=500, blank=True, default="")
    parameters = models.JSONField(default=dict, blank=True)
    result = models.CharField(max_length=500, blank=True, default="")
    creationtime = models.DateTimeField(default=utcnow)
    donetime = models.DateTimeField(null=True, blank=True)
    lockedby = models.CharField(max_length=64, null=True, blank=True)
    lockedtime = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "jedi_task_commands"
        indexes = [models.Index(fields=["status", "creationtime"], name="task_command_status_idx")]
        constraints = [
            # At most one queued command per task: a second one is refused until the first ran.
            models.UniqueConstraint(fields=["task"], condition=Q(status="queued"), name="task_command_one_queued")
        ]

    def __str__(self) -> str:
        return f"{self.command} for {self.task_id} ({self.status})"


class RetryAction(models.TextChoices):
    NO_RETRY = "no_retry"
    LIMIT_RETRY = "limit_retry"
    INCREASE_MEMORY = "increase_memory"
    INCREASE_MEMORY_XTIMES = "increase_memory_xtimes"
    INCREASE_CPUTIME = "increase_cputime"
    REDUCE_INPUT_PER_JOB = "reduce_input_per_job"


class RetryRule(models.Model):
    errorsource = models.CharField(max_length=32)  # pilot, exe, ddm, jobDispatcher, taskBuffer, sup
    errorcode = models.IntegerField()
    errordiag = models.CharField(max_length=256, blank=True, default="")  # regular expression
    action = models.CharField(max_length=32, choices=RetryAction.choices)
    parameters = models.JSONField(default=dict, blank=True)  # e.g. {"maxAttempt": 2}
    architecture = models.CharField(max_length=256, blank=True, default="")
    release = models.CharField(max_length=64, blank=True, default="")
    workqueue_id = models.IntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=250, blank=True, default="")

    class Meta:
        db_table = "jedi_retry_rules"

    def __str__(self) -> str:
        return f"{self.errorsource}:{self.errorcode} -> {self.action}"
