"""A task of 30 jobs, end to end: submitted over the v1 API, carried by the JEDI agents (run in the test
process, as the Celery beat runs them), its jobs run by real pilots that our Harvester starts under the
queue's cap, until the task is ``done``.

The inputs are 30 real files on the queue's storage endpoint, registered in the embedded DDM; each job
reads one, and its output and log go back to the endpoint.
"""

import json
import time
import urllib.request
import zlib

import pytest
from django.db import OperationalError

from apps.ddm.interface import ddm
from apps.ddm.services.registration import dataset_register_from_disk
from apps.jedi.models import ContentStatus, DatasetContent, Task, TaskDataset, TaskStatusLog
from apps.jedi.services.contents_feeder import contents_feeder_run
from apps.jedi.services.feedback import feedback_run
from apps.jedi.services.generator import job_generator_run
from apps.jedi.services.postprocessor import postprocessor_run
from apps.jedi.services.refiner import refiner_run
from apps.jedi.states import FINAL
from apps.jobs.models import FileType, Job, JobFile
from apps.jobs.services.adder import adder_run
from apps.shares.services.tree import ensure_default_shares
from apps.workers.models import JobWorker
from pilot.info.storage import deterministic_path
from tests.e2e.harvester_support import (
    HARVESTER_ID,
    HarvesterProcess,
    kill_leftover_workers,
    live_workers,
    write_config,
)
from tests.e2e.pilot_support import PilotSite, install_trf, make_site, wait_until
from tests.harvester.slurm_cluster import MISSING, SKIP_REASON, start_slurm
from tests.jedi_factories import task_params

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCOPE = "mc23"
INPUT_DATASET = "mc23:mc23.e2e.EVNT.e1"
N_JOBS = 30
CAP = 3


@pytest.fixture
def site(live_server, tmp_path, settings):
    install_trf(settings.PANDA_TRF_DIR)
    # allow_no_pilot: Harvester in PULL mode starts pilots only for activated jobs, so the brokerage
    # must not wait for a pilot to have been seen at the queue first.
    return make_site(tmp_path, live_server.url, timefloor=1, catchall="allow_no_pilot")


def put_inputs(site: PilotSite, n: int) -> list[str]:
    """``n`` files on the endpoint where the pilot looks for them, registered in DDM as the input dataset."""
    paths = []
    for i in range(1, n + 1):
        lfn = f"EVNT.e2e._{i:06d}.pool.root.1"
        path = site.se_root / deterministic_path(SCOPE, lfn)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"input {i} of the e2e task\n".encode() * i)
        paths.append(path)
    dataset_register_from_disk(dataset=INPUT_DATASET, paths=paths, endpoint=site.endpoint, nevents=10)
    return [p.name for p in paths]


def submit_task(site: PilotSite, name: str) -> int:
    """POST api/v1/task/submit with the production token, as a production system submits."""
    params = task_params(
        taskName=name,
        prodSourceLabel="managed",
        taskType="prod",
        taskPriority=500,
        cloud="CERN",
        transPath=f"{site.server_url}/trf/run.sh",
        nFilesPerJob=1,
        skipScout=True,
        jobParameters=[
            {"type": "template", "param_type": "input", "value": "${IN/L}", "dataset": INPUT_DATASET},
            {
                "type": "template",
                "param_type": "output",
                "value": "HITS.e2e.$JEDITASKID._${SN/P}.pool.root.1",
                "dataset": f"mc23:{name}.HITS",
            },
            # run.sh's exit code and a command it runs last: a one-second payload, so pilots overlap
            {"type": "constant", "value": "0 'sleep 1'"},
        ],
        log={
            "type": "template",
            "param_type": "log",
            "dataset": f"mc23:{name}.log",
            "value": "log.e2e.$JEDITASKID._${SN/P}.job.log.tgz.1",
        },
    )
    del params["userName"]
    request = urllib.request.Request(
        f"{site.server_url}/api/v1/task/submit",
        data=json.dumps({"task_parameters": params}).encode(),
        headers={
            "Authorization": f"Bearer {site.token_file.read_text().strip()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert answer["success"], answer
    return int(answer["data"])


def run_agents_until_task_final(task_id: int, *, timeout: float, on_poll, log) -> str:
    """One pass of every agent on the task's way (the beat's work) per poll, until the task is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            refiner_run()
            contents_feeder_run()
            job_generator_run()  # its Setupper runs in-process (eager Celery in tests)
            adder_run()
            feedback_run()
            postprocessor_run()
            on_poll()
            status = Task.objects.values_list("status", flat=True).get(pk=task_id)
        except OperationalError:
            status = None  # SQLite's shared test database is busy with the live server: next poll
        if status in FINAL:
            return status
        time.sleep(0.5)
    jobs: dict[str, int] = {}
    for job_status in Job.objects.filter(jeditaskid=task_id).values_list("jobstatus", flat=True):
        jobs[job_status] = jobs.get(job_status, 0) + 1
    task = Task.objects.get(pk=task_id)
    raise AssertionError(f"task {task.status} ({task.errordialog}), jobs {jobs}\n{log()}")


def run_thirty_job_task(site: PilotSite, harvester: HarvesterProcess, *, timeout: float) -> tuple:
    ensure_default_shares()
    lfns = put_inputs(site, N_JOBS)
    harvester.start()
    task_id = submit_task(site, "mc23.e2e.harvester_task.001")
    most_live: list[int] = []

    def observe():
        most_live.append(live_workers(harvester.config_path))

    status = run_agents_until_task_final(task_id, timeout=timeout, on_poll=observe, log=harvester.log)
    return task_id, status, lfns, most_live


def assert_task_done_with_every_job_run_once(site: PilotSite, task_id: int, status: str, lfns: list[str]) -> None:
    assert status == "done", Task.objects.get(pk=task_id).errordialog
    jobs = list(Job.objects.filter(jeditaskid=task_id))
    assert len(jobs) == N_JOBS
    assert {(job.jobstatus, job.computingsite, job.attemptnr) for job in jobs} == {("finished", site.queue, 1)}
    # one input file per job, each file of the dataset exactly once
    inputs = JobFile.objects.filter(job__jeditaskid=task_id, type=FileType.INPUT)
    assert sorted(inputs.values_list("lfn", flat=True)) == sorted(lfns)
    # JEDI's view: every input file finished at its first attempt; outputs registered with the pilot's figures
    master = TaskDataset.objects.get(task_id=task_id, type="input")
    assert (master.nfiles, master.nfilesfinished, master.nfilesfailed) == (N_JOBS, N_JOBS, 0)
    rows = DatasetContent.objects.filter(task_id=task_id, dataset=master)
    assert set(rows.values_list("status", "attemptnr")) == {(ContentStatus.FINISHED, 0)}
    for output in JobFile.objects.filter(job__jeditaskid=task_id).exclude(type=FileType.INPUT):
        data = (site.se_root / deterministic_path(output.scope, output.lfn)).read_bytes()
        assert (output.status, output.fsize) == ("ready", len(data))
        assert output.checksum == f"ad:{zlib.adler32(data) & 0xFFFFFFFF:08x}"
    name = Task.objects.get(pk=task_id).taskname
    assert len(ddm().list_files(f"mc23:{name}.HITS")) == N_JOBS
    history = list(TaskStatusLog.objects.filter(jeditaskid=task_id).order_by("id").values_list("status", flat=True))
    assert history == ["registered", "defined", "ready", "running", "prepared", "done"]
    # every job ran in a pilot of this Harvester (getJob recorded the worker)
    ran_in = set(JobWorker.objects.filter(harvesterid=HARVESTER_ID).values_list("pandaid", flat=True))
    assert ran_in == {job.pandaid for job in jobs}


# SQLite's in-memory test database is shared by the live server's threads and refuses concurrent
# writers ("database table is locked"), so several pilots at once need PostgreSQL.
@pytest.mark.postgres
def test_a_thirty_job_task_is_done_by_pilots_the_harvester_starts_never_more_than_the_cap(site, tmp_path):
    config_path = write_config(tmp_path, site, maxWorkers=CAP, nQueueLimitWorker=CAP, maxNewWorkersPerCycle=CAP)
    harvester = HarvesterProcess(config_path, tmp_path / "harvester.log")
    try:
        task_id, status, lfns, most_live = run_thirty_job_task(site, harvester, timeout=500)
    finally:
        harvester.stop()
        kill_leftover_workers(config_path)

    assert_task_done_with_every_job_run_once(site, task_id, status, lfns)
    assert 0 < max(most_live) <= CAP


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    yield cluster
    cluster.stop()


@pytest.mark.postgres
@pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON or "slurm")
def test_a_thirty_job_task_is_done_by_pilots_submitted_to_slurm_never_more_batch_jobs_than_the_cap(
    site, tmp_path, slurm
):
    config_path = write_config(
        tmp_path,
        site,
        plugin={"name": "slurm", "partition": "debug", "slurm_conf": str(slurm.conf)},
        maxWorkers=CAP,
        nQueueLimitWorker=CAP,
        maxNewWorkersPerCycle=CAP,
    )
    harvester = HarvesterProcess(config_path, tmp_path / "harvester.log")
    try:
        task_id, status, lfns, most_live = run_thirty_job_task(site, harvester, timeout=900)
        wait_until(
            lambda: live_workers(config_path) == 0, timeout=120, what="the batch jobs to end", output=harvester.log
        )
    finally:
        harvester.stop()
        kill_leftover_workers(config_path)

    assert_task_done_with_every_job_run_once(site, task_id, status, lfns)
    assert 0 < max(most_live) <= CAP
