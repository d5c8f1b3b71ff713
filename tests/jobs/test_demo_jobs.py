from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.jobs.management.commands import demo_jobs as demo_jobs_command
from apps.jobs.models import FileType, Job, JobStatusLog
from apps.jobs.states import JobStatus
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, queue_document


@pytest.fixture
def demo_grid(db):
    site = SiteFactory(name="DEMO_SITE")
    single = PandaQueueFactory(
        name="DEMO_QUEUE",
        site=site,
        document=queue_document("DEMO_QUEUE", "DEMO_SITE", astorages={"pw": ["DEMO_DATADISK"]}),
    )
    multi = PandaQueueFactory(
        name="DEMO_QUEUE_MCORE", site=site, document=queue_document("DEMO_QUEUE_MCORE", "DEMO_SITE", corecount=8)
    )
    return single, multi


def run(*args: str) -> str:
    out = StringIO()
    call_command("demo_jobs", *args, stdout=out)
    return out.getvalue()


def activated(queue: str) -> int:
    return Job.objects.filter(computingsite=queue, jobstatus=JobStatus.ACTIVATED).count()


def test_one_round_adds_activated_jobs_to_both_demo_queues(demo_grid):
    out = run("--once", "--per-queue", "3")

    assert activated("DEMO_QUEUE") == 3
    assert activated("DEMO_QUEUE_MCORE") == 3
    assert "DEMO_QUEUE: +3" in out


def test_every_demo_job_went_defined_then_activated_through_the_status_log(demo_grid):
    run("--once", "--per-queue", "1")

    for job in Job.objects.all():
        rows = list(
            JobStatusLog.objects.filter(pandaid=job.pandaid).order_by("id").values_list("oldstatus", "jobstatus")
        )
        assert rows == [(None, "defined"), ("defined", "activated")]


def test_a_demo_job_has_inputs_outputs_a_log_file_last_and_about_a_kilobyte_of_parameters(demo_grid):
    run("--once", "--per-queue", "1", "--queue", "DEMO_QUEUE")

    job = Job.objects.get()
    files = list(job.files.order_by("row_id"))
    types = [f.type for f in files]
    assert types[-1] == FileType.LOG
    assert types.count(FileType.LOG) == 1
    assert FileType.OUTPUT in types
    assert FileType.INPUT in types
    for f in files:
        assert f.guid and f.scope and f.dataset and f.lfn
    for f in (f for f in files if f.type == FileType.INPUT):
        assert f.status == "ready"
        assert f.checksum.startswith("ad:") and len(f.checksum) == 11
        assert f.fsize > 0
    assert all(f.destinationdblocktoken == "ddd:DEMO_DATADISK" for f in files if f.type != FileType.INPUT)
    assert 800 <= len(job.params.jobparameters) <= 1500
    assert files[0].lfn in job.params.jobparameters
    assert (job.prodsourcelabel, job.attemptnr, job.corecount, job.resource_type) == ("managed", 1, 1, "SCORE")
    assert job.ninputfiles == types.count(FileType.INPUT)


def test_jobs_on_the_multicore_queue_ask_for_its_cores(demo_grid):
    run("--once", "--per-queue", "1", "--queue", "DEMO_QUEUE_MCORE")

    job = Job.objects.get()
    assert (job.corecount, job.resource_type, job.minramcount) == (8, "MCORE", 16000)


def test_a_queue_already_holding_max_waiting_activated_jobs_gets_nothing(demo_grid):
    JobFactory.create_batch(3, computingsite="DEMO_QUEUE", jobstatus=JobStatus.ACTIVATED)

    out = run("--once", "--per-queue", "2", "--max-waiting", "3")

    assert activated("DEMO_QUEUE") == 3
    assert activated("DEMO_QUEUE_MCORE") == 2
    assert "DEMO_QUEUE: skipped (3 activated waiting)" in out


def test_a_round_only_fills_a_queue_up_to_max_waiting(demo_grid):
    JobFactory.create_batch(2, computingsite="DEMO_QUEUE", jobstatus=JobStatus.ACTIVATED)

    run("--once", "--per-queue", "5", "--max-waiting", "3", "--queue", "DEMO_QUEUE")

    assert activated("DEMO_QUEUE") == 3


def test_dispatched_jobs_do_not_count_against_the_limit(demo_grid):
    JobFactory.create_batch(3, computingsite="DEMO_QUEUE", jobstatus=JobStatus.SENT)

    run("--once", "--per-queue", "2", "--max-waiting", "3", "--queue", "DEMO_QUEUE")

    assert activated("DEMO_QUEUE") == 2


def test_the_loop_keeps_adding_jobs_each_round_but_never_past_max_waiting(demo_grid, monkeypatch):
    rounds = []

    def stop_after_three_rounds(seconds):
        rounds.append(seconds)
        if len(rounds) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(demo_jobs_command.time, "sleep", stop_after_three_rounds)

    out = run("--interval", "5", "--per-queue", "2", "--max-waiting", "5")

    assert rounds == [5.0, 5.0, 5.0]
    assert activated("DEMO_QUEUE") == 5
    assert activated("DEMO_QUEUE_MCORE") == 5
    assert out.count("demo_jobs:") == 3


def test_it_refuses_to_run_before_the_demo_grid_is_loaded(db):
    with pytest.raises(CommandError, match="DEMO_QUEUE.*load_demo_grid"):
        run("--once")

    assert not Job.objects.exists()


def test_a_missing_queue_among_several_creates_no_job_anywhere(demo_grid):
    with pytest.raises(CommandError, match="NO_SUCH_QUEUE"):
        run("--once", "--queue", "DEMO_QUEUE", "--queue", "NO_SUCH_QUEUE")

    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0"], "--interval must be positive"),
        (["--per-queue", "0"], "at least 1"),
        (["--max-waiting", "-1"], "at least 1"),
    ],
)
def test_bad_options_are_refused_and_create_nothing(demo_grid, args, message):
    with pytest.raises(CommandError, match=message):
        run("--once", *args)

    assert not Job.objects.exists()
