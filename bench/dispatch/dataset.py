"""The benchmark's data: queues, a production identity (a robot token) and jobs shaped like ATLAS simulation jobs.

Jobs, files and parameters are generated inside PostgreSQL with ``INSERT ... SELECT
generate_series`` (hundreds of thousands of rows in seconds); the column list comes from the
Django models, so a field added to ``Job`` later is filled with its model default and the loader
keeps working. Only the hot queue is ever rewritten between phases (:func:`hot_jobs_reset`).
"""

import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import NOT_PROVIDED

from apps.accounts.models import AuthConfig
from apps.jobs.models import FileType, Job, JobFile, JobParameters, JobStatusLog
from apps.sites.models import PandaQueue, ResourceType, Site, StorageEndpoint

HOT_QUEUE = "BENCH_HOT"
HOT_SITE = "BENCH_HOT_SITE"
# Where the running jobs that receive heartbeats sit, so resetting the hot queue leaves them alone.
HEARTBEAT_QUEUE = "BENCH_HB"
SCOPE = "mc23_13p6TeV"
TASK_BASE = 34000000
# Each job: 3 inputs, 2 outputs, 1 log (the log is always last, protocol.md §5.6).
FILE_LAYOUT = ("input", "input", "input", "output", "output", "log")


@dataclass(frozen=True)
class Background:
    next_pandaid: int
    running: tuple[int, int]  # PandaIDs of the running jobs of the heartbeat queue


def queue_document(name: str, site: str) -> dict:
    return {
        "nickname": name, "panda_resource": name, "atlas_site": site, "site": site,
        "state": "ACTIVE", "status": "online", "resource_type": "grid", "type": "production",
        "copytools": {"rucio": {"setup": ""}},
        "acopytools": {"pr": ["rucio"], "pw": ["rucio"], "pl": ["rucio"], "default": ["rucio"]},
        "astorages": {"pr": [f"{site}_DATADISK"], "pw": [f"{site}_DATADISK"], "pl": [f"{site}_DATADISK"]},
        "aprotocols": {}, "acopytools_schemas": {}, "maxwdir": 14336, "maxrss": 16000, "maxtime": 172800,
        "timefloor": 0, "corecount": 8, "catchall": "", "params": {}, "container_type": "",
        "container_options": "", "direct_access_lan": False, "direct_access_wan": False, "allow_lan": True,
        "allow_wan": False, "is_cvmfs": True, "pledgedcpu": 0, "maxinputsize": 14336, "environ": "",
        "cmtconfig": "", "cloud": "CERN",
    }  # fmt: skip


def grid_create(*, n_queues: int) -> list[str]:
    """The hot and heartbeat queues plus ``n_queues`` others on ``n_queues // 3`` sites, each with a DATADISK."""
    sites = {HOT_SITE: Site(name=HOT_SITE, cloud="CERN", tier="T1")}
    queues = [(HOT_QUEUE, HOT_SITE), (HEARTBEAT_QUEUE, HOT_SITE)]
    for i in range(n_queues):
        site = f"BENCH_SITE_{i // 3:03d}"
        sites.setdefault(site, Site(name=site, cloud="CERN", tier="T2"))
        queues.append((f"BENCH_Q{i:03d}", site))
    Site.objects.bulk_create(sites.values())
    by_name = {site.name: site for site in Site.objects.all()}
    StorageEndpoint.objects.bulk_create(
        StorageEndpoint(
            name=f"{name}_DATADISK",
            site=site,
            rprotocols={
                "1": {
                    "endpoint": "root://se.example.org:1094",
                    "path": "/atlas/rucio",
                    "flavour": "XROOTD",
                    "id": 1,
                    "activities": [["read_lan", 1], ["write_lan", 1], ["read_wan", 1], ["write_wan", 1]],
                }
            },
        )  # fmt: skip
        for name, site in by_name.items()
    )
    rows = []
    for name, site in queues:
        queue = PandaQueue(name=name, site=by_name[site], document=queue_document(name, site))
        queue.sync_columns_from_document()  # bulk_create skips save(), which copies the typed columns
        rows.append(queue)
    PandaQueue.objects.bulk_create(rows)
    ResourceType.objects.get_or_create(name="SCORE", defaults={"mincore": 1, "maxcore": 1})
    ResourceType.objects.get_or_create(name="MCORE", defaults={"mincore": 2})
    return [name for name, _ in queues[2:]]


def production_token_issue(issuer) -> str:
    """The VO record of the bench's identity provider and its robot token with the production role."""
    fields = issuer.auth_config()
    AuthConfig.objects.update_or_create(name=fields.pop("name"), defaults=fields)
    return issuer.robot_token()


def _literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        return "'" + json.dumps(value).replace("'", "''") + "'"
    return "'" + str(value).replace("'", "''") + "'"


def _select_list(model, expressions: dict[str, str]) -> tuple[str, str]:
    """Columns and SELECT expressions for every concrete field: ours, else the model default."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        column = field.column
        if field.primary_key and field.get_internal_type().endswith("AutoField") and column not in expressions:
            continue  # the identity column numbers the row
        if column in expressions:
            value = expressions[column]
        elif field.default is not NOT_PROVIDED:
            default = field.default() if callable(field.default) else field.default
            value = "NOW_UTC" if hasattr(default, "isoformat") else _literal(default)
        elif field.null:
            value = "NULL"
        else:
            raise ValueError(f"{model.__name__}.{field.name} is NOT NULL without a default: give the loader a value")
        columns.append(connection.ops.quote_name(column))
        values.append(value.replace("NOW_UTC", "now()"))
    return ", ".join(columns), ", ".join(values)


# ``g`` is the PandaID inside the generate_series; ``:site_expr`` and ``:status`` are filled per batch.
JOB_EXPRESSIONS = {
    "pandaid": "g",
    "jobdefinitionid": "g / 50",
    "schedulerid": "'harvester-bench'",
    "creationtime": "NOW_UTC - interval '2 hours'",
    "creationhost": "'aipanda-jedi-bench.cern.ch'",
    "modificationtime": "NOW_UTC - interval '1 hour'",
    "atlasrelease": "'Atlas-23.0.20'",
    "transformation": "'Sim_tf.py'",
    "homepackage": "'AtlasOffline/23.0.20'",
    "prodserieslabel": "'pandatest'",
    "prodsourcelabel": "'managed'",
    "produserid": "'/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=atlpilo1/CN=614260/CN=Robot: ATLAS Pilot1'",
    "assignedpriority": "800 + (g * 7919) % 200",
    "currentpriority": "800 + (g * 7919) % 200",
    "attemptnr": "1",
    "maxattempt": "5",
    "jobstatus": ":status",
    "jobname": f"'{SCOPE}.601229.PhPy8EG_A14_ttbar_hdamp258p75_SingleLep.simul.e8514_s4162.' || g",
    "maxcpucount": "86400",
    "maxcpuunit": "'HS06sPerEvent'",
    "maxdiskcount": "5000",
    "maxdiskunit": "'MB'",
    "minramcount": "2000",
    "minramunit": "'MB'",
    "computingsite": ":site_expr",
    "proddblock": f"'{SCOPE}:{SCOPE}.601229.PhPy8EG_A14_ttbar.evgen.EVNT.e8514_tid' || ({TASK_BASE} + g / 1000)",
    "destinationdblock": f"'{SCOPE}.601229.PhPy8EG_A14_ttbar.simul.HITS.e8514_s4162_tid' || ({TASK_BASE} + g / 1000)",
    "destinationse": "'nucleus:CERN-PROD'",
    "cloud": "'CERN'",
    "taskid": f"{TASK_BASE} + g / 1000",
    "cmtconfig": "'x86_64-el9-gcc13-opt'",
    "statechangetime": "NOW_UTC - interval '1 hour'",
    "lockedby": "'jedi'",
    "vo": "'atlas'",
    "processingtype": "'simul'",
    "produsername": "'atlpilo1'",
    "ninputfiles": "3",
    "ninputdatafiles": "3",
    "inputfiletype": "'EVNT'",
    "inputfileproject": f"'{SCOPE}'",
    "inputfilebytes": "3 * 52428800",
    "jobsetid": "g / 50",
    "corecount": "1",
    "workqueue_id": "16",
    "jeditaskid": f"{TASK_BASE} + g / 1000",
    "reqid": "48000",
    "maxwalltime": "86400",
    "nucleus": "'CERN-PROD'",
    "eventservice": "0",
    "gshare": "'MC 16'",
    "resource_type": "'SCORE'",
    "outputfiletype": "'HITS'",
}

# A Sim_tf command line like JEDI writes them, padded to ~1 kB.
_PARAMS = (
    "--inputEVNTFile=EVNT.{t}._000{k}.pool.root.1 --maxEvents=200 "
    '--postInclude "default:PyJobTransforms/UseFrontier.py" '
    '--preInclude "EVNTtoHITS:Campaigns/MC23aSimulationMultipleIoV.py" --skipEvents={s} --firstEvent={s} '
    "--outputHITSFile=HITS.{t}._{g}.pool.root.1 --physicsList=FTFP_BERT_ATL --truthStrategy=MC15aPlus "
    "--simulator=FullG4MT_QS --postExec 'EVNTtoHITS:from AthenaCommon.CfgGetter import getService' "
    '--DBRelease="all:current" --conditionsTag "default:OFLCOND-MC23-SDR-RUN3-02" '
    '--geometryVersion="default:ATLAS-R3S-2021-03-02-00" --runNumber=601229 --AMITag=s4162 '
    "--jobNumber={g} --randomSeed={g} --multithreaded=True --imf=False --athenaopts=--preloadlib="
    "${{ATLASMKLLIBDIR_PRELOAD}}/libimf.so --CA=True --digiSteeringConf=StandardSignalOnlyTruth "
    "--preExec 'EVNTtoHITS:flags.Sim.ISFRun=True;flags.Sim.RecordStepInfo=False;"
    "flags.Sim.TightMuonStepping=True' --steering=doEVNT_to_HITS --valid=False"
)
PARAMS_SQL = (
    "'"
    + _PARAMS.replace("'", "''")
    .replace("{t}", "' || g / 1000 || '")
    .replace("{k}", "' || g % 1000 || '")
    .replace("{s}", "' || (g % 50) * 200 + 1 || '")
    .replace("{g}", "' || g || '")
    .replace("${{", "${")
    + "'"
)

FILE_EXPRESSIONS = {
    "pandaid": "g",
    "guid": "upper(gen_random_uuid()::text)",
    "lfn": (
        "CASE f.kind WHEN 'input' THEN 'EVNT.' || (g / 1000) || '._' || lpad((g * 3 + f.n)::text, 6, '0') || "
        "'.pool.root.1' WHEN 'output' THEN (CASE f.n WHEN 3 THEN 'HITS.' ELSE 'NTUP_TRUTH.' END) || g || "
        "'._' || lpad((g % 100000)::text, 6, '0') || '.pool.root.1' ELSE 'log.' || g || '._' || "
        "lpad((g % 100000)::text, 6, '0') || '.job.log.tgz.1' END"
    ),
    "type": "f.kind",
    "dataset": (
        f"CASE f.kind WHEN 'input' THEN '{SCOPE}:{SCOPE}.601229.PhPy8EG_A14_ttbar.evgen.EVNT.e8514_tid' "
        f"|| ({TASK_BASE} + g / 1000) ELSE '{SCOPE}:{SCOPE}.601229.PhPy8EG_A14_ttbar.simul.' || "
        f"CASE f.kind WHEN 'log' THEN 'log' ELSE 'HITS' END || '.e8514_s4162_tid' || ({TASK_BASE} + g / 1000) END"
    ),
    "status": "CASE f.kind WHEN 'input' THEN 'ready' ELSE 'unknown' END",
    "proddblock": (
        f"CASE f.kind WHEN 'input' THEN '{SCOPE}:{SCOPE}.601229.PhPy8EG_A14_ttbar.evgen.EVNT.e8514_tid' "
        f"|| ({TASK_BASE} + g / 1000) ELSE NULL END"
    ),
    "proddblocktoken": "NULL",
    "dispatchdblock": "NULL",
    "destinationdblock": (
        f"CASE f.kind WHEN 'input' THEN NULL ELSE '{SCOPE}.601229.PhPy8EG_A14_ttbar.simul.HITS.e8514_s4162_tid' "
        f"|| ({TASK_BASE} + g / 1000) || '_sub0' || (g / 1000) END"
    ),
    "destinationdblocktoken": "CASE f.kind WHEN 'input' THEN NULL ELSE 'ddd:CERN-PROD_DATADISK' END",
    "destinationse": "CASE f.kind WHEN 'input' THEN NULL ELSE 'nucleus:CERN-PROD' END",
    "fsize": "CASE f.kind WHEN 'input' THEN 52428800 + g % 1000 ELSE 0 END",
    "checksum": "CASE f.kind WHEN 'input' THEN 'ad:' || substr(md5(g::text || f.n), 1, 8) ELSE NULL END",
    "scope": f"'{SCOPE}'",
    "jeditaskid": f"{TASK_BASE} + g / 1000",
    "datasetid": f"CASE f.kind WHEN 'input' THEN 1 WHEN 'log' THEN 3 ELSE 2 END + ({TASK_BASE} + g / 1000) * 10",
    "fileid": "g * 6 + f.n",
    "attemptnr": "CASE f.kind WHEN 'input' THEN 1 ELSE 0 END",
    "modificationtime": "NOW_UTC",
}

_FILE_KINDS = "VALUES " + ", ".join(f"({n}, '{kind}')" for n, kind in enumerate(FILE_LAYOUT))
assert {kind.value for kind in FileType} >= set(FILE_LAYOUT)


def jobs_insert(cursor, *, first: int, count: int, status: str, site_expr: str) -> None:
    """Jobs ``first .. first+count-1`` with their parameters, six files and a creation log row."""
    if count <= 0:
        return
    # The rows are consistent by construction: skip the per-row foreign-key triggers, which would
    # otherwise queue one deferred check per file and triple the load time.
    cursor.execute("SET LOCAL session_replication_role = replica")
    last = first + count - 1
    series = f"generate_series({first}::bigint, {last}::bigint) AS g"
    expressions = {**JOB_EXPRESSIONS, "jobstatus": _literal(status), "computingsite": site_expr}
    columns, values = _select_list(Job, expressions)
    cursor.execute(f"INSERT INTO {Job._meta.db_table} ({columns}) SELECT {values} FROM {series}")
    columns, values = _select_list(JobParameters, {"pandaid": "g", "jobparameters": PARAMS_SQL})
    cursor.execute(f"INSERT INTO {JobParameters._meta.db_table} ({columns}) SELECT {values} FROM {series}")
    columns, values = _select_list(JobFile, FILE_EXPRESSIONS)
    cursor.execute(
        f"INSERT INTO {JobFile._meta.db_table} ({columns}) SELECT {values} FROM {series} "
        f"CROSS JOIN ({_FILE_KINDS}) AS f(n, kind) ORDER BY g, f.n"
    )
    columns, values = _select_list(
        JobStatusLog,
        {
            "pandaid": "g",
            "modificationtime": "NOW_UTC - interval '2 hours'",
            "oldstatus": "'assigned'",
            "jobstatus": _literal(status),
            "computingsite": site_expr,
            "prodsourcelabel": "'managed'",
            "reason": "'bench preload'",
        },
    )
    cursor.execute(f"INSERT INTO {JobStatusLog._meta.db_table} ({columns}) SELECT {values} FROM {series}")


def background_load(*, queues: list[str], n_other: int, n_history: int, n_running: int) -> Background:
    """Finished and activated jobs spread over ``queues``, running jobs on the heartbeat queue."""
    queue_array = "(ARRAY[" + ", ".join(_literal(name) for name in queues) + "])"
    site_expr = f"{queue_array}[1 + g % {len(queues)}]"
    first_running = n_history + n_other + 1
    with transaction.atomic(), connection.cursor() as cursor:
        jobs_insert(cursor, first=1, count=n_history, status="finished", site_expr=site_expr)
        jobs_insert(cursor, first=n_history + 1, count=n_other, status="activated", site_expr=site_expr)
        jobs_insert(cursor, first=first_running, count=n_running, status="running", site_expr=_literal(HEARTBEAT_QUEUE))
    return Background(next_pandaid=first_running + n_running, running=(first_running, first_running + n_running - 1))


def _tables_referencing_jobs(cursor) -> list[tuple[str, str]]:
    """(table, column) of every foreign key onto ``jobs`` and every other ``pandaid`` column, whoever added it."""
    cursor.execute(
        "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE c.contype = 'f' AND c.confrelid = %s::regclass "
        "UNION SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name = 'pandaid' AND table_name <> %s",
        [Job._meta.db_table, Job._meta.db_table],
    )
    return cursor.fetchall()


def hot_jobs_reset(*, first: int, n_activated: int) -> tuple[int, int]:
    """Replace every job of the hot queue with ``n_activated`` fresh activated ones from PandaID ``first``.

    Whatever a phase did to the hot queue (claims, updates, output reports, worker relations,
    status-log rows) is deleted, then the tables are vacuumed and analysed, and a checkpoint is
    forced so the next phase starts from the same state and no checkpoint lands inside it.
    """
    hot = _literal(HOT_QUEUE)
    with transaction.atomic(), connection.cursor() as cursor:
        # Deleting jobs would otherwise queue one deferred foreign-key check per row and file.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            f"CREATE TEMP TABLE hot_ids ON COMMIT DROP AS SELECT pandaid FROM jobs WHERE computingsite = {hot}"
        )
        for table, column in _tables_referencing_jobs(cursor):
            cursor.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT pandaid FROM hot_ids)")
        cursor.execute("DELETE FROM jobs WHERE pandaid IN (SELECT pandaid FROM hot_ids)")
        jobs_insert(cursor, first=first, count=n_activated, status="activated", site_expr=hot)
        cursor.execute("SELECT setval(pg_get_serial_sequence('jobs', 'pandaid'), %s)", [first + n_activated])
    database_settle()
    return first, first + n_activated - 1


def heartbeat_counters_reset(*, running: tuple[int, int]) -> None:
    """Zero the CPU counters the heartbeat phases count with and let the next phase start clean."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE jobs SET cpuconsumptiontime = 0 WHERE pandaid BETWEEN %s AND %s", list(running))
    database_settle()


def database_settle() -> None:
    """Vacuum and analyse what the phases churn, and checkpoint so no checkpoint lands inside a phase."""
    with connection.cursor() as cursor:
        for table in ("jobs", "filestable4", "jobparamstable", "jobs_statuslog"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")
