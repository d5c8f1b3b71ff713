import json
import zlib

import pytest

from apps.ddm.interface import ddm
from apps.ddm.models import DataFile, Replica
from apps.jedi.models import Task, TaskParams
from apps.jedi.services.contents_feeder import contents_feeder_run
from apps.jedi.services.demo import (
    DEMO_INPUT_DATASET,
    DEMO_INPUT_FILES,
    DEMO_KINDS,
    DemoUserMissing,
    demo_task_params,
    demo_tasks_submit,
)
from apps.jedi.services.generator import job_generator_run
from apps.jedi.services.refiner import refiner_run
from apps.jedi.states import TaskStatus
from apps.jedi.taskparams import parse_task_params
from apps.jobs.models import FileType, Job, JobFile, JobParameters
from apps.jobs.services.demo import DemoQueueMissing, DemoStorageMissing
from apps.shares.models import GlobalShare
from apps.sites.models import PandaQueue, StorageEndpoint
from apps.sites.services.demo_grid import PILOT_USERNAME, demo_grid_load
from pilot.info.storage import deterministic_path

SCORE, MCORE = DEMO_KINDS


@pytest.fixture
def demo_grid(db, settings, tmp_path):
    """The quick start's own grid (apps/sites/demo/*.json) with its storage under a scratch VAR_DIR."""
    settings.VAR_DIR = tmp_path / "var"
    return demo_grid_load()


def submit(**kwargs):
    return demo_tasks_submit(server_url="http://127.0.0.1:8765", **kwargs)


def test_a_round_registers_one_production_task_per_kind_through_task_submission(demo_grid):
    result = submit()

    assert set(result.submitted) == {"score", "mcore"}
    assert all(outcome.success for outcome in result.submitted.values())
    tasks = Task.objects.order_by("jeditaskid")
    assert [(t.status, t.username, t.prodsourcelabel, t.tasktype, t.corecount) for t in tasks] == [
        (TaskStatus.REGISTERED, PILOT_USERNAME, "managed", "prod", 1),
        (TaskStatus.REGISTERED, PILOT_USERNAME, "managed", "prod", 8),
    ]
    assert all(t.transpath == "http://127.0.0.1:8765/trf/demo/run_demo.sh" for t in tasks)
    assert result.summary() == (
        f"score: jediTaskID={tasks[0].jeditaskid} submitted; mcore: jediTaskID={tasks[1].jeditaskid} submitted"
    )


def test_the_input_dataset_is_in_ddm_with_its_files_on_the_demo_storage_where_the_pilot_reads_them(demo_grid):
    submit()

    files = ddm().list_files(DEMO_INPUT_DATASET)
    assert len(files) == DEMO_INPUT_FILES
    for info in files:
        data = (demo_grid.storage_dir / deterministic_path(info.scope, info.lfn)).read_bytes()
        assert (info.fsize, info.adler32) == (len(data), f"{zlib.adler32(data) & 0xFFFFFFFF:08x}")
    assert set(Replica.objects.values_list("endpoint", "state")) == {("DEMO_SITE_DATADISK", "available")}


def test_the_global_share_tree_is_installed_for_dispatch(demo_grid):
    assert not GlobalShare.objects.exists()

    submit()

    assert GlobalShare.objects.filter(name="Test").exists()


def test_a_kind_with_a_task_in_progress_gets_no_new_one_and_the_inputs_are_not_registered_twice(demo_grid):
    first = submit()
    guids = dict(DataFile.objects.values_list("lfn", "guid"))

    again = submit()

    assert again.submitted == {}
    assert again.busy == {"score": first.submitted["score"].jeditaskid, "mcore": first.submitted["mcore"].jeditaskid}
    assert Task.objects.count() == 2
    assert dict(DataFile.objects.values_list("lfn", "guid")) == guids
    assert "still in progress" in again.summary()


def test_a_kind_whose_task_ended_gets_a_new_task_with_new_output_datasets(demo_grid):
    first = submit(kinds=[SCORE])
    Task.objects.filter(pk=first.submitted["score"].jeditaskid).update(status=TaskStatus.DONE)

    second = submit(kinds=[SCORE])

    assert second.submitted["score"].success
    old, new = (
        json.loads(TaskParams.objects.get(task_id=o.jeditaskid).taskparams)
        for o in (first.submitted["score"], second.submitted["score"])
    )
    assert old["taskName"] != new["taskName"]
    assert old["log"]["dataset"] != new["log"]["dataset"]


def test_the_agents_make_one_activated_job_per_input_file_on_the_queue_that_fits_the_cores(
    demo_grid, django_capture_on_commit_callbacks
):
    submit(n_files=3, max_events=40)

    refiner_run()
    contents_feeder_run()
    with django_capture_on_commit_callbacks(execute=True):  # the Setupper, as the generator hands over
        job_generator_run()

    for kind in DEMO_KINDS:
        jobs = list(Job.objects.filter(corecount=kind.cores).order_by("pandaid"))
        assert [(j.jobstatus, j.computingsite, j.prodsourcelabel) for j in jobs] == [
            ("activated", kind.queue, "managed")
        ] * 3
        for job in jobs:
            [infile] = JobFile.objects.filter(job=job, type=FileType.INPUT)
            [output] = JobFile.objects.filter(job=job, type=FileType.OUTPUT)
            parameters = JobParameters.objects.get(job=job).jobparameters
            assert f"--inputEVNTFile={infile.lfn} --maxEvents=40 --outputHITSFile={output.lfn} " in parameters
            assert output.lfn.startswith(f"HITS.{job.jeditaskid}._")
            assert JobFile.objects.filter(job=job, type=FileType.LOG).count() == 1


def test_the_parameter_map_is_a_valid_production_task_without_scouts_below_the_strict_brokerage_priority():
    params = demo_task_params(MCORE, transformation="http://127.0.0.1:8000/trf/demo/run_demo.sh", tag="x")

    parsed = parse_task_params({**params, "userName": "demo"})

    assert parsed.columns["prodsourcelabel"] == "managed"
    assert parsed.columns["corecount"] == 8
    assert parsed.columns["taskpriority"] < 800
    assert "useScout" not in parsed.rules
    assert parsed.rules["nFilesPerJob"] == 1


def test_it_refuses_to_run_before_the_demo_grid_is_loaded(db):
    with pytest.raises(DemoQueueMissing, match="DEMO_QUEUE.*load_demo_grid"):
        submit()

    assert not Task.objects.exists()
    assert not DataFile.objects.exists()


def test_it_refuses_without_the_demo_pilot_user_and_changes_nothing(demo_grid):
    from apps.accounts.models import User

    User.objects.filter(username=PILOT_USERNAME).delete()

    with pytest.raises(DemoUserMissing, match="load_demo_grid"):
        submit()

    assert not Task.objects.exists()
    assert not DataFile.objects.exists()


def test_a_queue_without_posix_storage_is_refused_and_nothing_is_registered(demo_grid):
    StorageEndpoint.objects.filter(name="DEMO_SITE_DATADISK").update(
        arprotocols={}, rprotocols={"1": {"endpoint": "davs://se.example.org:443", "path": "/atlas", "id": 1}}
    )

    with pytest.raises(DemoStorageMissing, match="no file:// read_lan protocol"):
        submit()

    assert not Task.objects.exists()
    assert not DataFile.objects.exists()


@pytest.mark.parametrize("n_files", [0, DEMO_INPUT_FILES + 1])
def test_a_task_size_outside_the_input_dataset_is_refused(demo_grid, n_files):
    with pytest.raises(ValueError, match="n_files must be between 1 and"):
        submit(n_files=n_files)

    assert not Task.objects.exists()


def test_a_missing_queue_is_refused_before_anything_is_written(demo_grid):
    PandaQueue.objects.filter(name="DEMO_QUEUE_MCORE").delete()

    with pytest.raises(DemoQueueMissing, match="DEMO_QUEUE_MCORE"):
        submit()

    assert not Task.objects.exists()
    assert not DataFile.objects.exists()
