import json
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.core.timeutil import utcnow
from apps.jobs import tasks
from apps.jobs.models import FileType, Job, JobFile, JobOutputReport
from pandaweb.celery import app
from tests.factories import JobFactory, job_with_files

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_celery():
    """Run ``delay()`` in-process: the settings are loaded before tests/conftest.py sets the env var."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def fresh(job):
    return Job.objects.get(pk=job.pk)


def holding_with_report():
    job = job_with_files(jobstatus="holding", n_outputs=1)
    data = {
        f.lfn: {"guid": f"G{f.pk}", "fsize": 10, "adler32": "0a0b0c0d"}
        for f in JobFile.objects.filter(job=job, type__in=[FileType.OUTPUT, FileType.LOG])
    }
    JobOutputReport.objects.create(job=job, attemptnr=job.attemptnr, final_status="finished", data=json.dumps(data))
    return job


def run(command, *args, **options) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, **options)
    return out.getvalue().strip()


def test_the_beat_table_names_the_three_tasks():
    for name in ("run_adder", "run_watcher", "run_activator"):
        assert settings.CELERY_BEAT_SCHEDULE[name]["task"] == f"apps.jobs.tasks.{name}"
        assert f"apps.jobs.tasks.{name}" in app.tasks


def test_the_adder_task_runs_the_adder_and_answers_a_summary():
    job = holding_with_report()

    result = tasks.run_adder.delay().get()

    assert fresh(job).jobstatus == "finished"
    assert result.startswith("adder: claimed=1 finished=1")


def test_the_watcher_task_runs_the_watcher_and_answers_a_summary():
    job = JobFactory(jobstatus="sent", modificationtime=utcnow() - timedelta(hours=1))

    result = tasks.run_watcher.delay().get()

    assert fresh(job).jobstatus == "failed"
    assert result == "watcher: 1 jobs; sent=1"


def test_the_activator_task_runs_the_setupper_and_activator_and_answers_a_summary():
    job = job_with_files(jobstatus="defined")

    result = tasks.run_activator.delay().get()

    assert fresh(job).jobstatus == "activated"
    assert result == "activator: defined->activated=1 defined->assigned=0 assigned->activated=0"


def test_the_run_adder_command_runs_the_adder():
    job = holding_with_report()

    output = run("run_adder", "--batch-size", "5", "--worker-name", "ops")

    assert fresh(job).jobstatus == "finished"
    assert output.startswith("adder: claimed=1 finished=1")


def test_the_run_watcher_command_runs_the_watcher():
    job = JobFactory(jobstatus="pending", modificationtime=utcnow() - timedelta(hours=2))

    output = run("run_watcher", "--batch-size", "10")

    assert fresh(job).jobstatus == "closed"
    assert output == "watcher: 1 jobs; pending=1"


def test_the_run_activator_command_runs_the_activator():
    job = JobFactory(jobstatus="assigned", statechangetime=utcnow() - timedelta(minutes=10))

    output = run("run_activator", "--min-age", "60")

    assert fresh(job).jobstatus == "activated"
    assert output.endswith("assigned->activated=1")


def test_the_kill_jobs_command_kills_with_the_given_code_and_options():
    queued = job_with_files(jobstatus="activated")
    running = JobFactory(jobstatus="running")
    final = JobFactory(jobstatus="finished")

    output = run(
        "kill_jobs",
        str(queued.pandaid),
        str(running.pandaid),
        str(final.pandaid),
        "--code",
        "60",
        "--keep-unmerged",
        "--job-sub-status",
        "pilot_noWork",
    )

    queued = fresh(queued)
    assert (queued.jobstatus, queued.jobsubstatus) == ("closed", "pilot_noWork")
    assert JobFile.objects.get(job=queued, type=FileType.OUTPUT).status == "unknown"
    assert fresh(running).commandtopilot == "tobekilled"
    assert output.splitlines() == [
        f"PandaID={queued.pandaid} killed",
        f"PandaID={running.pandaid} killed",
        f"PandaID={final.pandaid} not killed",
    ]


def test_the_kill_jobs_command_refuses_a_non_numeric_pandaid():
    with pytest.raises(CommandError):
        run("kill_jobs", "abc")
