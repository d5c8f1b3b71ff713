import json
import os
import random
import stat
import subprocess
import zlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.jobs.management import demo_loop
from apps.jobs.models import FileType, Job, JobFile, JobStatusLog
from apps.jobs.services.demo import (
    DEMO_TRF_PATH,
    DEMO_TRF_SOURCE,
    demo_jobs_create,
    demo_trf_install,
)
from apps.jobs.states import JobStatus
from apps.sites.models import StorageEndpoint
from apps.sites.services.demo_grid import demo_grid_load
from pilot.info.storage import deterministic_path
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, queue_document


@pytest.fixture
def demo_grid(db, settings, tmp_path):
    """The quick start's own grid (apps/sites/demo/*.json) with its storage under a scratch VAR_DIR."""
    settings.VAR_DIR = tmp_path / "var"
    return demo_grid_load()


def run(*args: str) -> str:
    out = StringIO()
    call_command("demo_jobs", *args, stdout=out)
    return out.getvalue()


def activated(queue: str) -> int:
    return Job.objects.filter(computingsite=queue, jobstatus=JobStatus.ACTIVATED).count()


def replica(grid, f: JobFile):
    return grid.storage_dir / deterministic_path(f.scope, f.lfn)


def adler32(data: bytes) -> str:
    return f"ad:{zlib.adler32(data) & 0xFFFFFFFF:08x}"


def test_one_round_adds_activated_jobs_to_both_demo_queues(demo_grid):
    out = run("--once", "--per-queue", "3")

    assert activated("DEMO_QUEUE") == 3
    assert activated("DEMO_QUEUE_MCORE") == 3
    assert "DEMO_QUEUE: +3" in out


def test_each_round_says_how_many_jobs_of_the_demo_queues_are_in_each_state(demo_grid):
    JobFactory(computingsite="DEMO_QUEUE", jobstatus=JobStatus.FINISHED)
    JobFactory(computingsite="DEMO_QUEUE_MCORE", jobstatus=JobStatus.RUNNING)
    JobFactory(computingsite="ELSEWHERE", jobstatus=JobStatus.FAILED)

    out = run("--once", "--per-queue", "1")

    assert out.strip().endswith("| jobs on the demo queues: activated 2, running 1, finished 1")


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
    assert all(f.destinationdblocktoken == "ddd:DEMO_SITE_DATADISK" for f in files if f.type != FileType.INPUT)
    assert 800 <= len(job.params.jobparameters) <= 1500
    assert files[0].lfn in job.params.jobparameters
    assert (job.prodsourcelabel, job.attemptnr, job.corecount, job.resource_type) == ("managed", 1, 1, "SCORE")
    assert job.ninputfiles == types.count(FileType.INPUT)


def test_every_input_is_on_the_demo_storage_at_the_pilots_path_with_the_recorded_size_and_adler32(demo_grid):
    run("--once", "--per-queue", "3")

    inputs = list(JobFile.objects.filter(type=FileType.INPUT))
    assert len(inputs) >= 6
    for f in inputs:
        data = replica(demo_grid, f).read_bytes()
        assert f.fsize == len(data)
        assert f.checksum == adler32(data)
    job = Job.objects.filter(computingsite="DEMO_QUEUE").first()
    assert job.inputfilebytes == sum(f.fsize for f in job.files.filter(type=FileType.INPUT))


def test_an_input_name_used_again_is_the_same_file_so_earlier_jobs_stay_valid(demo_grid):
    # The same seed draws the same input names twice: the second round must not change the first's files.
    demo_jobs_create(queues=["DEMO_QUEUE"], per_queue=1, rng=random.Random(7))
    demo_jobs_create(queues=["DEMO_QUEUE"], per_queue=1, rng=random.Random(7))

    first, second = Job.objects.order_by("pandaid")
    names = {f.lfn: f for f in first.files.filter(type=FileType.INPUT)}
    again = {f.lfn: f for f in second.files.filter(type=FileType.INPUT)}
    assert names.keys() == again.keys()
    for lfn, f in names.items():
        assert (f.fsize, f.checksum) == (again[lfn].fsize, again[lfn].checksum)
        assert adler32(replica(demo_grid, f).read_bytes()) == f.checksum


def test_the_transformation_is_run_demo_sh_on_the_server_the_pilots_use(demo_grid, settings):
    run("--once", "--per-queue", "1", "--server-url", "http://127.0.0.1:8765/")

    assert set(Job.objects.values_list("transformation", flat=True)) == {"http://127.0.0.1:8765/trf/demo/run_demo.sh"}
    script = settings.PANDA_TRF_DIR / DEMO_TRF_PATH
    assert script.read_bytes() == DEMO_TRF_SOURCE.read_bytes()
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    response = Client().get("/trf/demo/run_demo.sh")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content]) == script.read_bytes()


def test_the_server_url_defaults_to_the_quick_starts_port(demo_grid, monkeypatch):
    monkeypatch.setenv("PANDA_PORT", "8799")

    run("--once", "--per-queue", "1", "--queue", "DEMO_QUEUE")

    assert Job.objects.get().transformation == "http://127.0.0.1:8799/trf/demo/run_demo.sh"


def test_installing_the_script_again_rewrites_it_only_when_it_changed():
    script = demo_trf_install()
    inode = script.stat().st_ino

    assert demo_trf_install() == script
    assert script.stat().st_ino == inode  # the same file: not rewritten

    script.write_text("#!/bin/sh\nexit 1\n")
    script.chmod(0o600)
    demo_trf_install()
    assert script.read_bytes() == DEMO_TRF_SOURCE.read_bytes()
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert [p.name for p in script.parent.iterdir()] == ["run_demo.sh"]  # no partial file left behind


def test_another_transformation_can_be_asked_for(demo_grid, settings):
    run("--once", "--per-queue", "1", "--queue", "DEMO_QUEUE", "--transformation", "Sim_tf.py")

    assert Job.objects.get().transformation == "Sim_tf.py"
    assert not (settings.PANDA_TRF_DIR / DEMO_TRF_PATH).exists()


def test_the_payload_length_follows_max_events(demo_grid):
    run("--once", "--per-queue", "1", "--queue", "DEMO_QUEUE", "--max-events", "40")

    job = Job.objects.get()
    assert job.nevents == 40
    assert "--maxEvents=40 " in job.params.jobparameters


def test_the_demo_script_reads_the_inputs_and_writes_the_outputs_named_in_the_job_parameters(demo_grid, tmp_path):
    run("--once", "--per-queue", "1", "--queue", "DEMO_QUEUE", "--max-events", "0")
    job = Job.objects.get()
    workdir = tmp_path / "job"
    workdir.mkdir()
    for f in job.files.filter(type=FileType.INPUT):
        (workdir / f.lfn).write_bytes(replica(demo_grid, f).read_bytes())

    # As the pilot runs it: ./<basename> <jobPars> through bash in the job directory.
    result = subprocess.run(
        ["bash", "-c", f"{DEMO_TRF_SOURCE} {job.params.jobparameters}"],
        cwd=workdir,
        env={**os.environ, "PandaID": str(job.pandaid)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    [output] = job.files.filter(type=FileType.OUTPUT)
    assert (workdir / output.lfn).read_bytes().startswith(f"demo HITS of PandaID {job.pandaid}".encode())
    report = json.loads((workdir / "jobReport.json").read_text())
    assert report["exitCode"] == 0
    assert report["files"]["output"] == [{"subFiles": [{"name": output.lfn, "nentries": 0}]}]


def test_the_demo_script_fails_like_a_transform_when_an_input_is_missing(tmp_path):
    result = subprocess.run(
        ["bash", "-c", f"{DEMO_TRF_SOURCE} --inputEVNTFile=EVNT.1 --maxEvents=0 --outputHITSFile=HITS.1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 66
    assert "missing input EVNT.1" in result.stderr
    assert not (tmp_path / "HITS.1").exists()


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

    monkeypatch.setattr(demo_loop.time, "sleep", stop_after_three_rounds)

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


def test_a_queue_whose_storage_endpoint_is_missing_gets_no_job_and_nothing_anywhere(demo_grid):
    site = SiteFactory()
    PandaQueueFactory(
        name="NO_STORAGE", site=site, document=queue_document("NO_STORAGE", site.name, astorages={"pr": ["GONE"]})
    )

    with pytest.raises(CommandError, match="NO_STORAGE: storage endpoint GONE does not exist"):
        run("--once", "--queue", "DEMO_QUEUE", "--queue", "NO_STORAGE")

    assert not Job.objects.exists()
    assert not any(demo_grid.storage_dir.iterdir())


def test_a_queue_reading_from_a_non_posix_endpoint_is_refused(demo_grid):
    StorageEndpoint.objects.filter(name="DEMO_SITE_DATADISK").update(
        arprotocols={}, rprotocols={"1": {"endpoint": "davs://se.example.org:443", "path": "/atlas", "id": 1}}
    )

    with pytest.raises(CommandError, match="no file:// read_lan protocol"):
        run("--once")

    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0"], "--interval must be positive"),
        (["--per-queue", "0"], "at least 1"),
        (["--max-waiting", "-1"], "at least 1"),
        (["--max-events", "-1"], "--max-events must not be negative"),
        (["--server-url", "127.0.0.1:8000"], "--server-url must start with http"),
    ],
)
def test_bad_options_are_refused_and_create_nothing(demo_grid, args, message):
    with pytest.raises(CommandError, match=message):
        run("--once", *args)

    assert not Job.objects.exists()
