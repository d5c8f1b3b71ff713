"""JEDI benchmark: a task of N input files from submission to all jobs generated, against the COPY ceiling.

    .venv/bin/python bench/jedi/run.py                    # 10,000 and 100,000 files
    .venv/bin/python bench/jedi/run.py --sizes 2000       # quick harness check

For each size, on PostgreSQL (``--database-url``, default database ``bench_jedi`` on 127.0.0.1):

1. ``setup`` (a child process, not timed): drop/create/migrate the database, one site and queue,
   a DDM dataset of N files with replicas, and one registered analysis task (``nFilesPerJob=1``,
   ``skipScout``) over it with its parameter map.
2. ``feed`` (a child process): TaskRefiner and ContentsFeeder until the task is ``ready``; then
   ``measure`` (a fresh child process, so its peak RSS is the generator's alone): JobGenerator
   cycles until no more jobs come. Together the path "submission -> all jobs generated" (the
   Setupper is a separate agent and is not run). Jobs per second over that path and over the
   generator alone; peak RSS of the generator process (``resource.getrusage``).
3. ``ceiling`` (this process): every row the generator wrote (jobs, their status-log rows, files,
   parameters, output/log dataset contents) is exported with ``COPY TO`` and loaded again with one
   ``COPY FROM`` per table, in one transaction, into the same tables of a copy of the database
   taken after the feed (same indexes, same deferred foreign keys checked at commit, same input
   rows already there); N / that time (commit included) is the raw insert ceiling. The ratio
   generator / ceiling is printed, with the ceiling's seconds per table.

Goals: ≥ 3,000 jobs/s, ≥ 25 % of the ceiling, peak RSS flat with N.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
BASE = HERE.parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_jedi"
QUEUE = "BENCH_QUEUE"
DATASET = "mc23.EVNT.bench"


def single_queue_broker(task, *, files, scout):
    """The bench's job broker: every chunk to the one queue (brokerage is not what is measured)."""
    from apps.jedi.plugins import BrokerageResult

    return BrokerageResult(candidates=[(QUEUE, 1.0)])


def _django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pandaweb.settings")
    sys.path.insert(0, str(BASE))
    import django

    django.setup()
    from django.conf import settings

    path = "bench.jedi.run.single_queue_broker"
    settings.PANDA_JEDI_PLUGINS = {"job_broker": {"default": path, "*:managed": path, "*:test": path}}


def _admin_connect(url: str):
    import psycopg

    parsed = urlparse(url)
    return psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True)


def recreate_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, str(BASE / "manage.py"), "migrate", "-v", "0"], cwd=BASE, env=env, check=True)


def setup(url: str, n_files: int) -> None:
    _django(url)
    import json as _json
    import uuid

    from apps.ddm.models import DataFile, Dataset, DatasetFile, Replica
    from apps.jedi.models import Task, TaskParams
    from apps.jedi.services.transitions import task_log_creation
    from apps.sites.models import PandaQueue, ResourceType, Site, StorageEndpoint

    site = Site.objects.create(name="BENCH_SITE", cloud="CERN")
    PandaQueue.objects.create(
        name=QUEUE, site=site, document={"nickname": QUEUE, "maxwdir": 20000, "maxtime": 86400, "corepower": 10}
    )
    StorageEndpoint.objects.create(name="BENCH_SITE_DATADISK", site=site)
    ResourceType.objects.create(name="SCORE", mincore=1, maxcore=1)
    dataset = Dataset.objects.create(scope="mc23", name=DATASET)
    batch = 5000
    for start in range(0, n_files, batch):
        files = DataFile.objects.bulk_create(
            [
                DataFile(
                    scope="mc23",
                    lfn=f"{DATASET}._{i + 1:06d}.pool.root.1",
                    guid=str(uuid.uuid4()).upper(),
                    fsize=2_000_000_000,
                    adler32="0a1b2c3d",
                    nevents=1000,
                )
                for i in range(start, min(start + batch, n_files))
            ]
        )
        DatasetFile.objects.bulk_create([DatasetFile(dataset=dataset, file=f) for f in files])
        Replica.objects.bulk_create(
            [Replica(file=f, endpoint="BENCH_SITE_DATADISK", pfn=f"/se/mc23/{f.lfn}") for f in files]
        )
    params = {
        "taskName": "user.bench.jedi.001/",
        "userName": "Bench User",
        "vo": "atlas",
        "prodSourceLabel": "user",
        "taskType": "anal",
        "taskPriority": 1000,
        "transPath": "http://127.0.0.1/trf/run.sh",
        "architecture": "x86_64-el9-gcc13-opt",
        "coreCount": 1,
        "ramCount": 2000,
        "ramCountUnit": "MBPerCore",
        "walltime": 3600,
        "nFilesPerJob": 1,
        "skipScout": True,
        "site": QUEUE,
        "jobParameters": [
            {"type": "constant", "value": "--events 1000 --conditions OFLCOND-MC23-SDR-RUN3-01"},
            {"type": "template", "param_type": "input", "value": '-i "${IN/T}"', "dataset": f"mc23:{DATASET}"},
            {
                "type": "template",
                "param_type": "output",
                "value": "-o user.bench.$JEDITASKID._${SN/P}.HITS.pool.root",
                "dataset": "user.bench:user.bench.jedi.001_HITS/",
            },
        ],
        "log": {
            "type": "template",
            "param_type": "log",
            "dataset": "user.bench:user.bench.jedi.001.log/",
            "value": "user.bench.jedi.001.log.$JEDITASKID.${SN}.log.tgz",
        },
    }
    task = Task.objects.create(
        taskname=params["taskName"], username="Bench User", userdn="/CN=Bench User", status="registered"
    )
    TaskParams.objects.create(task=task, taskparams=_json.dumps(params))
    task_log_creation(task)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def feed(url: str) -> dict:
    """TaskRefiner + ContentsFeeder until the task leaves ``defined`` (timed)."""
    _django(url)
    from apps.jedi.models import Task
    from apps.jedi.services.contents_feeder import contents_feeder_run
    from apps.jedi.services.refiner import refiner_run

    Task.objects.exists()
    t0 = time.perf_counter()
    refiner_run()
    for _ in range(20):
        contents_feeder_run()
        if Task.objects.exclude(status__in=["registered", "defined"]).exists():
            break
    return {"status": Task.objects.values_list("status", flat=True).get(), "feed_s": time.perf_counter() - t0}


def measure(url: str) -> dict:
    """JobGenerator cycles until no job comes (timed), in a fresh process: its peak RSS is the generator's."""
    _django(url)
    from apps.jedi.services.generator import job_generator_run
    from apps.jobs.models import Job

    Job.objects.exists()  # connect and import everything before the clock starts
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    jobs = 0
    while made := job_generator_run(setup=False).jobs:
        jobs += made
    return {
        "jobs": jobs,
        "defined": Job.objects.filter(jobstatus="defined").count(),
        "generate_s": time.perf_counter() - t0,
        "rss_before_mb": rss_before,
        "rss_peak_mb": _rss_mb(),
    }


# What the generator writes, per table: (table, rows of it that the generator made). The
# ``jedi_dataset_contents`` rows that existed before (the task's inputs) are not the generator's.
GENERATED = [
    ("jobs", "TRUE"),
    ("jobs_statuslog", "TRUE"),
    ("filestable4", "TRUE"),
    ("jobparamstable", "TRUE"),
    ("jedi_dataset_contents", "type IN ('output', 'log')"),
]


def _ceiling_url(url: str) -> str:
    parsed = urlparse(url)
    return parsed._replace(path=parsed.path + "_ceiling").geturl()


def snapshot_for_ceiling(url: str) -> None:
    """A copy of the fed database (before any job exists) for :func:`copy_ceiling`."""
    name, copy = urlparse(url).path.lstrip("/"), urlparse(_ceiling_url(url)).path.lstrip("/")
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')


def copy_ceiling(url: str) -> dict:
    """The raw insert ceiling: the rows the generator wrote, loaded again with one ``COPY`` per
    table into the same tables (same indexes, same foreign keys, same pre-existing input rows) of
    the snapshot taken before generation, in one transaction, commit included."""
    import psycopg

    exported: dict[str, bytes] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        n_jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        for table, where in GENERATED:
            data = bytearray()
            with conn.cursor().copy(f"COPY (SELECT * FROM {table} WHERE {where}) TO STDOUT (FORMAT binary)") as copy:
                for block in copy:
                    data += block
            exported[table] = bytes(data)
    timings = {}
    with psycopg.connect(_ceiling_url(url), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        start = time.perf_counter()
        with conn.transaction():
            for table, _ in GENERATED:
                began = time.perf_counter()
                with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                    copy.write(exported[table])
                timings[table] = time.perf_counter() - began
            began = time.perf_counter()
        timings["commit"] = time.perf_counter() - began  # deferred foreign-key checks and the WAL flush
        copy_s = time.perf_counter() - start
    with _admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE "{urlparse(_ceiling_url(url)).path.lstrip("/")}" WITH (FORCE)')
    return {"jobs": n_jobs, "copy_s": copy_s, "per_table_s": timings}


def _child(mode: str, url: str, n_files: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--database-url", url, "--sizes", str(n_files)],
        cwd=BASE,
        check=True,
        capture_output=True,
        text=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated numbers of input files")
    parser.add_argument("--child", choices=["setup", "feed", "measure"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child == "setup":
        setup(args.database_url, sizes[0])
        print("{}")
        return
    if args.child == "feed":
        print(json.dumps(feed(args.database_url)))
        return
    if args.child == "measure":
        print(json.dumps(measure(args.database_url)))
        return
    rows = []
    for n in sizes:
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
        recreate_database(args.database_url)
        _child("setup", args.database_url, n)
        fed = _child("feed", args.database_url, n)
        snapshot_for_ceiling(args.database_url)
        result = _child("measure", args.database_url, n)
        result["refine_feed_s"] = fed["feed_s"]
        result["total_s"] = fed["feed_s"] + result["generate_s"]
        ceiling = copy_ceiling(args.database_url)
        rows.append((n, result, ceiling))
        gen_rate = result["jobs"] / result["generate_s"]
        total_rate = result["jobs"] / result["total_s"]
        copy_rate = ceiling["jobs"] / ceiling["copy_s"]
        print(
            f"files={n:>7} jobs={result['jobs']:>7} (defined {result['defined']}) "
            f"refine+feed={result['refine_feed_s']:.1f}s generate={result['generate_s']:.1f}s "
            f"=> {gen_rate:,.0f} jobs/s generator, {total_rate:,.0f} jobs/s submission->generated; "
            f"COPY ceiling {copy_rate:,.0f} jobs/s ({ceiling['copy_s']:.2f}s) ratio {gen_rate / copy_rate:.0%}; "
            f"peak RSS {result['rss_peak_mb']:.0f} MB (at start {result['rss_before_mb']:.0f} MB)",
            flush=True,
        )
        per_table = ", ".join(f"{table} {seconds:.2f}s" for table, seconds in ceiling["per_table_s"].items())
        print(f"    COPY ceiling per table: {per_table}; load average before setup {load}", flush=True)


if __name__ == "__main__":
    main()
