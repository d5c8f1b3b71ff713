"""The monitor benchmark's data (issue 7): 1,000,000 jobs over 2,000 tasks and 200 queues, on PostgreSQL.

Rows are generated inside PostgreSQL with ``INSERT ... SELECT generate_series``; column lists come from
the Django models (``bench.dispatch.dataset._select_list``), so fields added later get their model defaults.
Task 1 (``BIG_TASK``, running) holds 50,000 jobs (every 20th PandaID), spread over the whole week; each of
the other 1,999 tasks holds a run of about 475 consecutive PandaIDs. As in a real job table, PandaIDs grow
with time: modification times fall from 7 days ago (PandaID 1) to now (PandaID 1,000,000), with up to an
hour of jitter, so a 12 h window holds about 7 % of the jobs and the rows of a window are stored together.

Job attributes that must not depend on each other (state, queue, error) are drawn from a multiplicative
hash of the PandaID, not from ``g % n`` of the same ``g``: with ``g % 200`` picking the queue and
``g % 100`` the state, every job of a queue would have the same state. A job's user and label are its
task's. Besides jobs and tasks the measured pages read each task's input, output and log datasets (progress
per dataset on the task page, counted from the jobs), its parameter map and status log, and the big task's
ten scout jobs; none reads the job status log, which is left empty. Failed jobs' ``JobError`` rows are
written by the real backfill command (``bench/monitor/run.py``), not here.
"""

import json

from django.db import connection, transaction

from apps.jedi.models import Task, TaskDataset, TaskParams, TaskStatusLog
from apps.jobs.models import Job
from apps.sites.models import PandaQueue, Site
from bench.dispatch.dataset import _select_list, grid_create

N_JOBS = 1_000_000
N_TASKS = 2_000
N_QUEUES = 200
BIG_TASK_JOBS = 50_000
TASK_BASE = 40_000_000
BIG_TASK = TASK_BASE + 1
CLOUDS = ("CERN", "DE", "FR", "UK", "US")
USERS = tuple(f"user{i:02d}" for i in range(40))
BATCH = 100_000
WEEK = 7 * 86400
# A job's hash: Knuth's multiplicative hash of g, uniform over 0 .. 2**32 - 1 and unrelated to g % n.
HASH = "((g::bigint * 2654435761) % 4294967296)"
TASK_STATES = ("running", "done", "finished", "failed", "broken", "ready")

# (component column, diag column, codes): failed jobs get one of these, picked by the job's hash.
ERRORS = (
    ("piloterrorcode", "piloterrordiag", (1099, 1150, 1201, 1305)),
    ("exeerrorcode", "exeerrordiag", (65, 68, 137)),
    ("ddmerrorcode", "ddmerrordiag", (200,)),
    ("taskbuffererrorcode", "taskbuffererrordiag", (300,)),
)


def _array(values) -> str:
    return "ARRAY[" + ",".join(f"'{value}'" for value in values) + "]"


def _queues() -> list[str]:
    names = grid_create(n_queues=N_QUEUES - 2)
    queues = [PandaQueue.objects.values_list("name", flat=True).get(name=name) for name in names]
    for i, site in enumerate(Site.objects.order_by("name")):
        Site.objects.filter(pk=site.pk).update(cloud=CLOUDS[i % len(CLOUDS)])
    return ["BENCH_HOT", "BENCH_HB", *queues]


def _insert(model, expressions: dict[str, str], source: str) -> None:
    columns, select = _select_list(model, expressions)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {model._meta.db_table} ({columns}) SELECT {select} {source}")


def _task_user(index: str) -> str:
    """The owner of task number ``index`` (1 .. N_TASKS); its jobs carry the same name."""
    return f"({_array(USERS)})[1 + ({index}) % {len(USERS)}]"


def _task_label(index: str) -> str:
    return f"CASE WHEN ({index}) % 4 = 0 THEN 'user' ELSE 'managed' END"


def _tasks() -> None:
    expressions = {
        "jeditaskid": f"{TASK_BASE} + g",
        "taskname": "'mc23_13p6TeV.bench.simul.task_' || g",
        "status": f"CASE WHEN g = 1 THEN 'running' ELSE ({_array(TASK_STATES)})[1 + g % {len(TASK_STATES)}] END",
        "username": _task_user("g"),
        # Created before any of their jobs (which span the last 7 days).
        "creationdate": f"now() - make_interval(secs => {WEEK} + 3600 + (g * 7919) % 86400)",
        "modificationtime": f"now() - make_interval(secs => (g * 104729) % {WEEK})",
        "prodsourcelabel": _task_label("g"),
        "tasktype": "CASE WHEN g % 4 = 0 THEN 'anal' ELSE 'prod' END",
        "processingtype": "'simul'",
        "corecount": "1",
        "gshare": "'MC 16'",
        "reqid": "48000 + g / 20",
        "campaign": "'mc23:mc23e'",
        "cloud": f"({_array(CLOUDS)})[1 + g % {len(CLOUDS)}]",
        "splitrule": "'NF=1'",
    }
    _insert(Task, expressions, f"FROM generate_series(1, {N_TASKS}) g")


def _task_datasets() -> None:
    """Each task's input (one file per job), output and log datasets, with file counts from its jobs."""
    kinds = "(VALUES ('input', 'IN'), ('output', 'OUTPUT0'), ('log', 'LOG0')) AS kind(type, stream)"
    counts = (
        f"(SELECT jeditaskid, count(*) AS n, count(*) FILTER (WHERE jobstatus = 'finished') AS done, "
        f"count(*) FILTER (WHERE jobstatus = 'failed') AS failed FROM {Job._meta.db_table} GROUP BY jeditaskid) t"
    )
    expressions = {
        "jeditaskid": "t.jeditaskid",
        "datasetname": "'mc23_13p6TeV.bench.' || kind.type || '.task_' || (t.jeditaskid - " + str(TASK_BASE) + ")",
        "type": "kind.type",
        "streamname": "kind.stream",
        "status": "'ready'",
        "nfiles": "t.n",
        "nfilestobeused": "t.n",
        "nfilesused": "t.done + t.failed",
        "nfilesfinished": "CASE WHEN kind.type = 'input' THEN t.done ELSE 0 END",
        "nfilesfailed": "CASE WHEN kind.type = 'input' THEN t.failed ELSE 0 END",
        "nevents": "t.n * 1000",
        "neventsused": "(t.done + t.failed) * 1000",
    }
    _insert(TaskDataset, expressions, f"FROM {counts} CROSS JOIN {kinds}")


def _task_satellites() -> None:
    """Each task's parameter map, its datasets (input: one file per job) and a short status log."""
    params = json.dumps(
        {
            "taskName": "TASKNAME",
            "userName": "USERNAME",
            "vo": "atlas",
            "prodSourceLabel": "managed",
            "taskType": "prod",
            "processingType": "simul",
            "transPath": "Sim_tf.py",
            "nFilesPerJob": 1,
            "jobParameters": [{"type": "constant", "value": "--maxEvents=1000 --randomSeed=${RNDMSEED}"}],
            "log": {"type": "template", "param_type": "log", "dataset": "LOGDATASET"},
        }
    ).replace("'", "''")
    text = (
        f"replace(replace('{params}', 'TASKNAME', 'mc23_13p6TeV.bench.simul.task_' || g), 'USERNAME', "
        f"{_task_user('g')})"
    )
    _insert(TaskParams, {"jeditaskid": f"{TASK_BASE} + g", "taskparams": text}, f"FROM generate_series(1, {N_TASKS}) g")
    steps = "(VALUES (1, NULL, 'registered'), (2, 'registered', 'defined'), (3, 'defined', 'ready'), (4, 'ready', 'running')) AS step(n, old, new)"  # noqa: E501
    expressions = {
        "jeditaskid": f"{TASK_BASE} + g",
        "modificationtime": f"now() - make_interval(secs => {WEEK} + 3600 - step.n * 60 + (g * 7919) % 86400)",
        "oldstatus": "step.old",
        "status": "step.new",
    }
    _insert(TaskStatusLog, expressions, f"FROM generate_series(1, {N_TASKS}) g CROSS JOIN {steps}")


def _job_expressions(queues: list[str]) -> dict[str, str]:
    # The task number: 1 (the big task) for every 20th PandaID, else 2 .. N_TASKS by runs of consecutive PandaIDs.
    every = N_JOBS // BIG_TASK_JOBS
    index = f"CASE WHEN g % {every} = 0 THEN 1 ELSE 2 + ((g - 1)::bigint * {N_TASKS - 1}) / {N_JOBS} END"
    task = f"{TASK_BASE} + {index}"
    draw = f"{HASH} % 100"  # the state, independent of the queue (g % 200) and of the task
    # 60 % finished, 15 % failed, 10 % running, 10 % activated, 2 % holding, 3 % cancelled.
    status = (
        f"CASE WHEN {draw} < 60 THEN 'finished' WHEN {draw} < 75 THEN 'failed' "
        f"WHEN {draw} < 85 THEN 'running' WHEN {draw} < 95 THEN 'activated' "
        f"WHEN {draw} < 97 THEN 'holding' ELSE 'cancelled' END"
    )
    failed = f"{draw} BETWEEN 60 AND 74"
    ended = f"({draw} < 75 OR {draw} >= 97)"
    age_secs = f"(({N_JOBS} - g)::bigint * {WEEK} / {N_JOBS} + {HASH} % 3600)"
    age = f"make_interval(secs => {age_secs})"
    expressions = {
        "pandaid": "g",
        "jeditaskid": task,
        "taskid": task,
        "jobstatus": status,
        "computingsite": f"({_array(queues)})[1 + g % {len(queues)}]",
        "modificationtime": f"now() - {age}",
        "statechangetime": f"now() - {age}",
        "creationtime": f"now() - make_interval(secs => {age_secs} + 7200)",
        "starttime": f"now() - make_interval(secs => {age_secs} + 3600)",
        "endtime": f"CASE WHEN {ended} THEN now() - {age} END",
        "produsername": _task_user(index),
        "prodsourcelabel": _task_label(index),
        "jobname": "'bench.job.' || g",
        "transformation": "'Sim_tf.py'",
        "processingtype": "'simul'",
        "cloud": f"({_array(CLOUDS)})[1 + g % {len(CLOUDS)}]",
        "attemptnr": f"1 + ({HASH} / 100) % 3",
        "maxattempt": "5",
        "currentpriority": "800 + g % 200",
        "assignedpriority": "800 + g % 200",
        "gshare": "'MC 16'",
        "resource_type": "CASE WHEN g % 5 = 0 THEN 'MCORE' ELSE 'SCORE' END",
        "corecount": "CASE WHEN g % 5 = 0 THEN 8 ELSE 1 END",
        "minramcount": "2000",
        "modificationhost": "'wn' || (g % 500) || '.bench.example.org'",
        "maxpss": "1000000 + (g * 31) % 2000000",
        "cpuconsumptiontime": "3000 + g % 3000",
        "vo": "'atlas'",
        "specialhandling": f"CASE WHEN g % {every} = 0 AND g <= 10 * {every} THEN 'sj' ELSE '' END",  # the scouts
    }
    component = f"({HASH} / 1000) % {len(ERRORS)}"
    for number, (code_col, diag_col, codes) in enumerate(ERRORS):
        codes_array = "ARRAY[" + ",".join(str(c) for c in codes) + "]"
        mine = f"{failed} AND {component} = {number}"
        code = f"({codes_array})[1 + ({HASH} / 10000) % {len(codes)}]"
        expressions[code_col] = f"CASE WHEN {mine} THEN {code} ELSE 0 END"
        expressions[diag_col] = f"CASE WHEN {mine} THEN 'bench failure ' || g % 7 ELSE '' END"
    fields = {field.column for field in Job._meta.concrete_fields}
    return {column: value for column, value in expressions.items() if column in fields}


def monitor_dataset_load(progress=print) -> None:
    """Fill an EMPTY database (migrated) with the benchmark grid, tasks and jobs, then ANALYZE."""
    if Job.objects.exists():
        raise RuntimeError("the database already holds jobs; use a fresh database for the benchmark")
    with transaction.atomic():
        queues = _queues()
        _tasks()
        _task_satellites()
    progress(f"grid: {len(queues)} queues, {N_TASKS} tasks with parameters, datasets and status logs")
    columns, select = _select_list(Job, _job_expressions(queues))
    for start in range(1, N_JOBS + 1, BATCH):
        end = min(start + BATCH - 1, N_JOBS)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Job._meta.db_table} ({columns}) SELECT {select} FROM generate_series({start}, {end}) g"
            )
        progress(f"jobs: {end:,}")
    with transaction.atomic():
        _task_datasets()
    progress("task datasets, file counts from the jobs")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does to a loaded table (visibility map, statistics)
