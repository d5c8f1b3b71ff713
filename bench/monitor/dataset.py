"""The monitor benchmark's data (issue 7): 1,000,000 jobs over 2,000 tasks and 200 queues, on PostgreSQL.

Rows are generated inside PostgreSQL with ``INSERT ... SELECT generate_series``; column lists come from
the Django models (``bench.dispatch.dataset._select_list``), so fields added later get their model defaults.
Task 1 (``BIG_TASK``) holds 50,000 jobs; the other 950,000 are spread over the other 1,999 tasks.
Modification times spread over the last 7 days, so a 12 h window holds about 7 % of the jobs.
"""

from django.db import connection, transaction

from apps.jedi.models import Task
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

# (component column, diag column, codes): failed jobs get one of these, picked by PandaID.
ERRORS = (
    ("piloterrorcode", "piloterrordiag", (1099, 1150, 1201, 1305)),
    ("exeerrorcode", "exeerrordiag", (65, 68, 137)),
    ("ddmerrorcode", "ddmerrordiag", (200,)),
    ("taskbuffererrorcode", "taskbuffererrordiag", (300,)),
)


def _queues() -> list[str]:
    names = grid_create(n_queues=N_QUEUES - 2)
    queues = [PandaQueue.objects.values_list("name", flat=True).get(name=name) for name in names]
    for i, site in enumerate(Site.objects.order_by("name")):
        Site.objects.filter(pk=site.pk).update(cloud=CLOUDS[i % len(CLOUDS)])
    return ["BENCH_HOT", "BENCH_HB", *queues]


def _tasks() -> None:
    users = "ARRAY[" + ",".join(f"'{u}'" for u in USERS) + "]"
    expressions = {
        "jeditaskid": f"{TASK_BASE} + g",
        "taskname": "'mc23_13p6TeV.bench.simul.task_' || g",
        "status": "(ARRAY['running','done','finished','failed','broken','ready'])[1 + g % 6]",
        "username": f"({users})[1 + g % {len(USERS)}]",
        "creationdate": f"now() - make_interval(secs => (g * 7919) % {WEEK})",
        "modificationtime": f"now() - make_interval(secs => (g * 104729) % {WEEK})",
        "prodsourcelabel": "CASE WHEN g % 4 = 0 THEN 'user' ELSE 'managed' END",
        "tasktype": "CASE WHEN g % 4 = 0 THEN 'anal' ELSE 'prod' END",
        "processingtype": "'simul'",
        "corecount": "1",
        "gshare": "'MC 16'",
        "reqid": "48000 + g / 20",
        "campaign": "'mc23:mc23e'",
        "cloud": f"(ARRAY[{','.join(repr(c) for c in CLOUDS)}])[1 + g % {len(CLOUDS)}]",
        "splitrule": "'NF=1'",
    }
    columns, select = _select_list(Task, expressions)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Task._meta.db_table} ({columns}) SELECT {select} FROM generate_series(1, {N_TASKS}) g"
        )


def _job_expressions(queues: list[str]) -> dict[str, str]:
    queue_array = "ARRAY[" + ",".join(f"'{q}'" for q in queues) + "]"
    users = "ARRAY[" + ",".join(f"'{u}'" for u in USERS) + "]"
    others = f"{TASK_BASE} + 2 + (g - {BIG_TASK_JOBS}) % {N_TASKS - 1}"
    task = f"CASE WHEN g <= {BIG_TASK_JOBS} THEN {BIG_TASK} ELSE {others} END"
    # 60 % finished, 15 % failed, 10 % running, 10 % activated, 5 % others, independent of the queue.
    status = (
        "CASE WHEN (g * 7919) % 100 < 60 THEN 'finished' WHEN (g * 7919) % 100 < 75 THEN 'failed' "
        "WHEN (g * 7919) % 100 < 85 THEN 'running' WHEN (g * 7919) % 100 < 95 THEN 'activated' "
        "WHEN (g * 7919) % 100 < 97 THEN 'holding' ELSE 'cancelled' END"
    )
    failed = "(g * 7919) % 100 BETWEEN 60 AND 74"
    ended = "(g * 7919) % 100 < 75"
    age = f"make_interval(secs => (g * 104729) % {WEEK})"
    expressions = {
        "pandaid": "g",
        "jeditaskid": task,
        "taskid": task,
        "jobstatus": status,
        "computingsite": f"({queue_array})[1 + g % {len(queues)}]",
        "modificationtime": f"now() - make_interval(secs => (g * 104729) % {WEEK})",
        "statechangetime": f"now() - make_interval(secs => (g * 104729) % {WEEK})",
        "creationtime": f"now() - make_interval(secs => (g * 104729) % {WEEK} + 7200)",
        "starttime": f"now() - make_interval(secs => (g * 104729) % {WEEK} + 3600)",
        "endtime": f"CASE WHEN {ended} THEN now() - {age} END",
        "produsername": f"({users})[1 + g % {len(USERS)}]",
        "prodsourcelabel": "CASE WHEN g % 4 = 0 THEN 'user' ELSE 'managed' END",
        "jobname": "'bench.job.' || g",
        "transformation": "'Sim_tf.py'",
        "processingtype": "'simul'",
        "cloud": f"(ARRAY[{','.join(repr(c) for c in CLOUDS)}])[1 + g % {len(CLOUDS)}]",
        "attemptnr": "1 + g % 3",
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
    }
    for index, (code_col, diag_col, codes) in enumerate(ERRORS):
        codes_array = "ARRAY[" + ",".join(str(c) for c in codes) + "]"
        mine = f"{failed} AND g % {len(ERRORS)} = {index}"
        expressions[code_col] = f"CASE WHEN {mine} THEN ({codes_array})[1 + g % {len(codes)}] ELSE 0 END"
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
    progress(f"grid: {len(queues)} queues, {N_TASKS} tasks")
    columns, select = _select_list(Job, _job_expressions(queues))
    for start in range(1, N_JOBS + 1, BATCH):
        end = min(start + BATCH - 1, N_JOBS)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Job._meta.db_table} ({columns}) SELECT {select} FROM generate_series({start}, {end}) g"
            )
        progress(f"jobs: {end:,}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
