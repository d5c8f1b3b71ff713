"""Monitor benchmark (issue 7): server time of the heaviest everyday pages over 1,000,000 jobs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_monitor .venv/bin/python bench/monitor/run.py

The first run loads the data (``bench/monitor/dataset.py``, a few minutes) into the database named by
``DATABASE_URL`` (migrated here; it must be a fresh database or one this script filled before), then builds
the monitor's derived tables (per-job error rows, hourly error aggregates) with the same management commands
Celery beat runs, and VACUUM ANALYZE. Every run takes a fresh queue snapshot first, as beat does each minute
(the dashboards ignore a snapshot older than five minutes). Each page is requested ``--repeat`` times
in-process through Django's test client (view + middleware + template/JSON rendering, no network) after one
warm-up request; the median and p95 are printed. Goal: p95 under 300 ms for each page.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pandaweb.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command, get_commands  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from apps.jobs.models import Job  # noqa: E402
from bench.monitor.dataset import BIG_TASK, monitor_dataset_load  # noqa: E402

GOAL_MS = 300.0
# Commands that build the derived tables, run when they exist (same as Celery beat would).
DERIVED = ("backfill_job_errors", "aggregate_errors_hourly")
SNAPSHOT = "take_queue_snapshot"


def pages(queue: str) -> list[tuple[str, str]]:
    return [
        ("jobs list, one queue, failed, 12 h", f"/jobs/?computingsite={queue}&jobstatus=failed&hours=12"),
        ("jobs list JSON, same selection", f"/jobs/?computingsite={queue}&jobstatus=failed&hours=12&json"),
        ("error summary, 24 h", "/errors/?hours=24"),
        ("task page, 50,000-job task", f"/task/{BIG_TASK}/"),
        ("queue dashboard", "/dash/region/"),
    ]


# Measured for information (not part of the goal): the pages the menu opens without a filter.
def info_pages() -> list[tuple[str, str]]:
    return [
        ("front page", "/"),
        ("tasks list, 7 days", "/tasks/"),
        ("jobs list, no filter, 12 h", "/jobs/"),
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def measure(client: Client, url: str, repeat: int) -> tuple[float, float, int]:
    response = client.get(url)  # warm-up (connection, template loading, plan cache)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), percentile(times, 0.95), response.status_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--info", action="store_true", help="also measure the unfiltered menu pages (no goal)")
    args = parser.parse_args()
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print("set DATABASE_URL=postgres://... (the benchmark runs on PostgreSQL)", file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0)
    if not Job.objects.exists():
        start = time.perf_counter()
        monitor_dataset_load(progress=lambda line: print("  load", line, flush=True))
        print(f"loaded in {time.perf_counter() - start:.0f} s")
        available = get_commands()
        for name in DERIVED:
            if name in available:
                start = time.perf_counter()
                call_command(name, verbosity=0)
                print(f"  {name}: {time.perf_counter() - start:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    if SNAPSHOT in get_commands():
        start = time.perf_counter()
        call_command(SNAPSHOT, verbosity=0)
        print(f"  {SNAPSHOT}: {time.perf_counter() - start:.1f} s")
    print(f"jobs: {Job.objects.count():,}")
    client = Client()
    failures = 0
    print(f"{'page':42} {'median ms':>10} {'p95 ms':>8}  status")
    for label, url in pages("BENCH_Q007"):
        median, p95, status = measure(client, url, args.repeat)
        ok = status == 200 and p95 < GOAL_MS
        failures += not ok
        verdict = "ok" if ok else "OVER GOAL" if status == 200 else "ERROR"
        print(f"{label:42} {median:10.1f} {p95:8.1f}  {status} {verdict}")
        print(f"    {url}")
    if args.info:
        print("for information (no goal):")
        for label, url in info_pages():
            median, p95, status = measure(client, url, args.repeat)
            print(f"{label:42} {median:10.1f} {p95:8.1f}  {status}")
            print(f"    {url}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
