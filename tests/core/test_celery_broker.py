"""A real Celery worker process on the real Redis broker runs a real agent against the test database."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from celery.exceptions import AlwaysEagerIgnored
from django.conf import settings

from apps.core.timeutil import utcnow
from apps.jobs.models import Job
from apps.jobs.states import JobStatus
from pandaweb.celery import app
from tests.factories import JobFactory, PandaQueueFactory

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

# Generous: a cold worker start imports Django and every app; the test ends as soon as the effect shows.
EFFECT_DEADLINE_SECONDS = 90


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    queue: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def worker_database_url() -> str:
    """The URL of the database pytest-django created, for a process outside this one."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


def stop(process: subprocess.Popen) -> None:
    """Warm shutdown by pid; SIGKILL only if the worker ignores it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path) -> Iterator[WorkerProcess]:
    # A queue of its own, so the worker takes only what this test sends (and nothing left in Redis).
    queue = f"test-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"],
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DB_CONN_MAX_AGE": "0",
        "PANDA_VAR_DIR": str(tmp_path / "var"),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "pandaweb",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--queues",
        queue,
        "--hostname",
        f"{queue}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield WorkerProcess(process=process, queue=queue, log=log)
    finally:
        stop(process)


def send(task: str, worker: WorkerProcess) -> None:
    """Publish ``task`` by name to the worker's queue on the broker (never run in this process)."""
    with warnings.catch_warnings():
        # The suite runs other tasks eagerly; send_task always publishes, which is the point here.
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        app.send_task(task, queue=worker.queue)


def wait_for(condition, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + EFFECT_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        assert worker.process.poll() is None, f"the worker exited early:\n{worker.output()}"
        time.sleep(0.2)
    pytest.fail(f"the task's effect did not show up in the database; worker log:\n{worker.output()}")


def test_the_watcher_sent_by_name_through_redis_fails_a_sent_job_the_pilot_never_answered(celery_worker_process):
    queue = PandaQueueFactory(name="BROKER_QUEUE")
    silent = JobFactory(jobstatus=JobStatus.SENT, computingsite=queue.name)
    fresh = JobFactory(jobstatus=JobStatus.SENT, computingsite=queue.name)
    Job.objects.filter(pk=silent.pk).update(modificationtime=utcnow() - dt.timedelta(minutes=45))

    send("apps.jobs.tasks.run_watcher", celery_worker_process)

    wait_for(lambda: Job.objects.get(pk=silent.pk).jobstatus == JobStatus.FAILED, celery_worker_process)
    silent.refresh_from_db()
    assert silent.jobdispatchererrorcode == 102
    assert Job.objects.get(pk=fresh.pk).jobstatus == JobStatus.SENT


def test_the_worker_stops_on_sigterm_to_its_pid(celery_worker_process):
    send("apps.jobs.tasks.run_watcher", celery_worker_process)
    wait_for(lambda: "succeeded in" in celery_worker_process.output(), celery_worker_process)

    stop(celery_worker_process.process)

    assert celery_worker_process.process.returncode == 0
    assert "warm shutdown" in celery_worker_process.output().lower()
