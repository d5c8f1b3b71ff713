"""A task from submission to ``done`` through the real HTTP API of a live server (issue 3, end to end).

The user submits and steers the task over v1 ``task/*``; a played pilot
(:class:`~tests.e2e.played_pilot.PlayedPilot`) fetches and reports the jobs over v1 ``pilot/*``; the
JEDI agents and the server sweeps run in-process, one cycle of each in the order of the beat table
(:func:`run_agents`), as Celery beat would run them. The grid has two queues: ``GOOD_QUEUE`` holds
the input data on its read endpoint, ``SMALL_QUEUE`` has too little memory for the task.
"""

import json
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from apps.ddm.interface import ddm
from apps.jedi.models import ContentStatus, DatasetContent, JobRetryHistory, TaskDataset, TaskStatusLog
from apps.jobs.models import Job
from tests.ddm.storage import dataset_on, local_endpoint
from tests.e2e.played_pilot import PlayedPilot
from tests.factories import (
    PandaQueueFactory,
    ResourceTypeFactory,
    SiteFactory,
    UserFactory,
    production_user,
    queue_document,
    token_for,
)
from tests.jedi_factories import task_params

pytestmark = pytest.mark.django_db(transaction=True)

INPUT = "mc23:mc23.EVNT.e2e"
GOOD = "GOOD_QUEUE"
SMALL = "SMALL_QUEUE"
ENDPOINT = "GOOD_DATADISK"
# The periodic agents; the Setupper runs on its own when the JobGenerator hands jobs over.
AGENTS = [task for task, _ in settings.BEAT_TABLE]


def run_agents() -> None:
    """One cycle of every beat agent, in the order of ``settings.BEAT_TABLE``."""
    for task in AGENTS:
        import_string(task)()


def run_agents_until(predicate, *, cycles: int = 6, what: str = "condition"):
    """Cycles of :func:`run_agents` until ``predicate()`` holds (a bounded loop, no sleeping)."""
    for _ in range(cycles):
        run_agents()
        if value := predicate():
            return value
    raise AssertionError(f"{what} not reached after {cycles} agent cycles")


@dataclass
class Api:
    """A v1 client with one user's bearer token."""

    server_url: str
    token: str

    def _call(self, request: urllib.request.Request) -> dict:
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def get(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params)
        return self._call(urllib.request.Request(f"{self.server_url}/api/v1/{path}?{query}"))

    def post(self, path: str, **params) -> dict:
        request = urllib.request.Request(
            f"{self.server_url}/api/v1/{path}",
            data=json.dumps(params).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        return self._call(request)

    def status(self, task_id: int) -> str:
        answer = self.get("task/get_status", task_id=task_id)
        assert answer["success"], answer
        return answer["data"]


@dataclass
class Grid:
    owner: Api
    production: Api
    pilot: PlayedPilot


@pytest.fixture
def grid(live_server, tmp_path) -> Grid:
    ResourceTypeFactory(name="SCORE", mincore=1, maxcore=1)
    good_site = SiteFactory(name="GOOD")
    endpoint = local_endpoint(ENDPOINT, tmp_path / "se")
    storages = {"pr": [ENDPOINT], "pw": [ENDPOINT], "pl": [ENDPOINT], "default": [ENDPOINT]}
    PandaQueueFactory(name=GOOD, site=good_site, document=queue_document(GOOD, "GOOD", maxrss=4000, astorages=storages))
    small_site = SiteFactory(name="SMALL")
    PandaQueueFactory(name=SMALL, site=small_site, document=queue_document(SMALL, "SMALL", maxrss=500))
    dataset_on(endpoint, INPUT.split(":")[1], 20)
    pilot = PlayedPilot(live_server.url, token_for(production_user()), GOOD, ENDPOINT, label="user")
    # A pilot asked the queue for work before the task came: brokerage wants queues with pilots.
    assert pilot.acquire() == []
    return Grid(
        owner=Api(live_server.url, token_for(UserFactory())),
        production=Api(live_server.url, token_for(production_user())),
        pilot=pilot,
    )


def submit(api: Api, name: str, **overrides) -> int:
    stem = name.rstrip("/")
    params = task_params(
        taskName=name,
        jobParameters=[
            {"type": "constant", "value": "--events 10"},
            {"type": "template", "param_type": "input", "value": '-i "${IN/T}"', "dataset": INPUT, "expand": True},
            {
                "type": "template",
                "param_type": "output",
                "value": f"-o {stem}.$JEDITASKID._${{SN/P}}.out.root",
                "dataset": f"{stem}_out/",
            },
        ],
        log={
            "type": "template",
            "param_type": "log",
            "dataset": f"{stem}.log/",
            "value": f"{stem}.log.$JEDITASKID.${{SN}}.log.tgz",
        },
    )
    params.update(overrides)
    answer = api.post("task/submit", task_parameters=params)
    assert answer["success"], answer
    assert answer["message"] == f"succeeded. new jediTaskID={answer['data']}"
    return answer["data"]


def task_jobs(task_id: int):
    return Job.objects.filter(jeditaskid=task_id).order_by("pandaid")


def input_dataset(task_id: int) -> TaskDataset:
    return TaskDataset.objects.get(task_id=task_id, type="input")


NOT_ALLOWED = 4


def command(api: Api, name: str, task_id: int, **params) -> dict:
    return api.post(f"task/{name}", task_id=task_id, **params)


def assert_registered(answer: dict, name: str, task_id: int) -> None:
    message = f"command={name} is registered for task ID {task_id}. will be executed in a few minutes"
    assert answer == {"success": True, "message": message, "data": 0}


def assert_refused(answer: dict, name: str, status: str) -> None:
    message = f"Command rejected: the {name} command is not accepted if the task is in {status} status"
    # task/retry always answers success (panda-client reads the code from data).
    assert answer == {"success": name == "retry", "message": message, "data": NOT_ALLOWED}


def history(task_id: int) -> list[str]:
    """The task's states in order, from its status log."""
    return list(TaskStatusLog.objects.filter(jeditaskid=task_id).order_by("id").values_list("status", flat=True))


def statuses(task_id: int) -> dict[str, int]:
    """How many of the task's jobs are in each state."""
    return dict(Counter(task_jobs(task_id).values_list("jobstatus", flat=True)))


# --- 1. submission to done -----------------------------------------------------------------------


def test_a_task_runs_to_done_and_its_failed_files_are_retried_as_new_jobs(grid):
    task_id = submit(grid.owner, "user.jdoe.e2e.done/")
    assert grid.owner.status(task_id) == "registered"

    run_agents()

    jobs = list(task_jobs(task_id))
    assert len(jobs) == 10
    assert {(job.computingsite, job.jobstatus, job.attemptnr) for job in jobs} == {(GOOD, "activated", 1)}
    assert grid.owner.status(task_id) == "scouting"
    decisions = grid.owner.get("task/get_brokerage_decisions", task_id=task_id)["data"]["job_brokerage"]
    assert [queue["name"] for queue in decisions["kept"]] == [GOOD]
    assert decisions["rejected"] == {
        "memory": [
            {"name": SMALL, "reason": "memory: ramCount 1000 MB x corecount 1 = 1000 MB outside [0, 500] (maxrss)"}
        ]
    }

    fetched = grid.pilot.acquire(n_jobs=20)
    assert sorted(int(job["PandaID"]) for job in fetched) == [job.pandaid for job in jobs]
    failing = fetched[:2]
    for job in failing:
        grid.pilot.fail(job, pilot_error_code=1137, diag="payload failed")
    for job in fetched[2:]:
        grid.pilot.finish(job)

    failed_ids = {int(job["PandaID"]) for job in failing}
    retried = run_agents_until(
        lambda: list(task_jobs(task_id).filter(attemptnr=2, jobstatus="activated")), what="retry jobs activated"
    )
    assert len(retried) == 2
    assert {job.computingsite for job in retried} == {GOOD}
    links = JobRetryHistory.objects.filter(jeditaskid=task_id)
    assert {(link.oldpandaid, link.originpandaid, link.relationtype) for link in links} == {
        (pandaid, pandaid, "retry") for pandaid in failed_ids
    }
    assert {link.newpandaid for link in links} == {job.pandaid for job in retried}
    assert Job.objects.filter(pandaid__in=failed_ids, jobstatus="failed", piloterrorcode=1137).count() == 2
    # The retry keeps the name of the chain's first job (jedi.md §4).
    assert {job.jobname for job in retried} == {f"user.jdoe.e2e.done/.{pandaid}" for pandaid in failed_ids}
    assert grid.owner.status(task_id) == "running"

    again = grid.pilot.acquire(n_jobs=20)
    assert sorted(int(job["PandaID"]) for job in again) == sorted(job.pandaid for job in retried)
    assert {job["attemptNr"] for job in again} == {2}
    for job in again:
        grid.pilot.finish(job)

    run_agents_until(lambda: grid.owner.status(task_id) == "done", what="task done")

    dataset = input_dataset(task_id)
    assert (dataset.nfiles, dataset.nfilesfinished, dataset.nfilesfailed) == (20, 20, 0)
    assert set(DatasetContent.objects.filter(dataset=dataset).values_list("status", flat=True)) == {
        ContentStatus.FINISHED
    }
    details = grid.owner.get("task/get_details", task_id=task_id)["data"]
    assert details["statistics"] == "finished*20"
    assert details["jobStatistics"] == {"finished": 10, "failed": 2}
    outputs = ddm().list_files("user.jdoe.e2e.done_out")
    finished_outputs = Job.objects.filter(jeditaskid=task_id, jobstatus="finished")
    assert len(outputs) == 10
    assert {f.lfn for f in outputs} == {
        lfn for job in finished_outputs for lfn in job.files.filter(type="output").values_list("lfn", flat=True)
    }
    replicas = ddm().list_replicas([(f.scope, f.lfn) for f in outputs])
    assert {r.endpoint for places in replicas.values() for r in places} == {ENDPOINT}
    # Logs of every job, the failed ones included; the datasets are closed once the task is done.
    assert len(ddm().list_files("user.jdoe.e2e.done.log")) == 12
    assert ddm().get_dataset("user.jdoe.e2e.done_out").state == "closed"


# --- 2. no queue for the task --------------------------------------------------------------------


def test_a_task_no_queue_can_take_stays_pending_and_says_why(grid):
    # Big enough, but offline: submission accepts the task (some queue has the memory), brokerage does not.
    PandaQueueFactory(name="BIG_QUEUE", document=queue_document("BIG_QUEUE", "BIG", maxrss=16000, status="offline"))
    task_id = submit(grid.owner, "user.jdoe.e2e.pending/", ramCount=8000)

    for _ in range(3):
        run_agents()

    assert grid.owner.status(task_id) == "pending"
    assert not task_jobs(task_id).exists()
    details = grid.owner.get("task/get_details", task_id=task_id)
    assert details["success"], details
    job_brokerage = details["data"]["brokerage"]["job_brokerage"]
    assert job_brokerage["kept"] == []
    assert job_brokerage["rejected"] == {
        "memory": [
            {"name": GOOD, "reason": "memory: ramCount 8000 MB x corecount 1 = 8000 MB outside [0, 4000] (maxrss)"},
            {"name": SMALL, "reason": "memory: ramCount 8000 MB x corecount 1 = 8000 MB outside [0, 500] (maxrss)"},
        ],
        "status": [{"name": "BIG_QUEUE", "reason": "status: offline (not online)"}],
    }
    decisions = grid.owner.get("task/get_brokerage_decisions", task_id=task_id)["data"]
    assert decisions["status"] == "pending"
    assert decisions["errordialog"].startswith("no brokerage candidate: BIG_QUEUE: status: offline (not online);")
    assert decisions["job_brokerage"] == job_brokerage
    assert [entry["summary"] for entry in decisions["recent"]] == [
        "analysis brokerage: all queues, 0 of 3 kept; rejected 3: memory 2, status 1"
    ]

    # Its owner gives up: with no job to wait for, the kill ends it at once.
    assert command(grid.owner, "kill", task_id)["data"] == 0
    run_agents()
    assert grid.owner.status(task_id) == "aborted"
    assert history(task_id)[-4:] == ["pending", "aborting", "toabort", "aborted"]


# --- 3. commands on a task with jobs in flight ---------------------------------------------------


def started_task(grid: Grid, name: str, *, n_running: int, **overrides) -> tuple[int, list[dict]]:
    """A submitted task whose 10 scout jobs are activated, ``n_running`` of them running at the pilot."""
    task_id = submit(grid.owner, name, **overrides)
    run_agents()
    assert grid.owner.status(task_id) == "scouting"
    assert task_jobs(task_id).filter(jobstatus="activated").count() == 10
    running = grid.pilot.acquire(n_jobs=n_running)
    assert len(running) == n_running
    for job in running:
        grid.pilot.update(job, "running")
    return task_id, running


def test_kill_aborts_the_task_cancels_its_queued_jobs_and_kills_the_running_ones(grid):
    task_id, running = started_task(grid, "user.jdoe.e2e.kill/", n_running=3)

    assert_registered(command(grid.owner, "kill", task_id), "kill", task_id)
    # Queued, not executed: the task keeps going until the TaskCommando runs; one command at a time.
    assert grid.owner.status(task_id) == "scouting"
    busy = command(grid.owner, "finish", task_id)
    assert (busy["success"], busy["data"]) == (False, NOT_ALLOWED)
    assert "command=kill is already registered" in busy["message"]

    run_agents()

    assert grid.owner.status(task_id) == "aborting"
    assert statuses(task_id) == {"cancelled": 7, "running": 3}
    cancelled = task_jobs(task_id).filter(jobstatus="cancelled")
    assert set(cancelled.values_list("taskbuffererrorcode", flat=True)) == {100}
    assert_refused(command(grid.owner, "kill", task_id), "kill", "aborting")

    for job in running:
        assert grid.pilot.update(job, "running")["data"]["command"] == "tobekilled"
        grid.pilot.fail(job, pilot_error_code=1144, diag="job killed by the server")
    run_agents_until(lambda: grid.owner.status(task_id) == "aborted", what="task aborted")

    assert statuses(task_id) == {"cancelled": 10}
    assert history(task_id)[-4:] == ["scouting", "aborting", "toabort", "aborted"]
    for name in ("kill", "finish", "retry"):
        assert_refused(command(grid.owner, name, task_id), name, "aborted")
    for name in ("pause", "resume"):
        assert_refused(command(grid.production, name, task_id), name, "aborted")


def test_pause_stops_job_generation_and_resume_restores_it(grid):
    task_id, running = started_task(grid, "user.jdoe.e2e.pause/", n_running=10, nFilesPerJob=1)

    # pause and resume are production commands (protocol.md §10.1)
    refused = command(grid.owner, "pause", task_id)
    assert (refused["success"], refused["data"]) == (False, 3)
    assert_registered(command(grid.production, "pause", task_id), "pause", task_id)
    run_agents()
    assert grid.owner.status(task_id) == "paused"
    assert_refused(command(grid.production, "pause", task_id), "pause", "paused")

    # The scouts finish; a task that was not paused would avalanche now and generate the other 10 jobs.
    for job in running:
        grid.pilot.finish(job)
    for _ in range(3):
        run_agents()
    assert grid.owner.status(task_id) == "paused"
    assert statuses(task_id) == {"finished": 10}
    assert input_dataset(task_id).nfilesfinished == 10

    assert_registered(command(grid.production, "resume", task_id), "resume", task_id)
    run_agents_until(lambda: task_jobs(task_id).count() == 20, what="jobs generated after resume")
    assert grid.owner.status(task_id) == "running"
    assert statuses(task_id) == {"finished": 10, "activated": 10}

    for job in grid.pilot.acquire(n_jobs=20):
        grid.pilot.finish(job)
    run_agents_until(lambda: grid.owner.status(task_id) == "done", what="task done")
    assert history(task_id)[3:] == ["scouting", "paused", "scouting", "running", "prepared", "done"]
    assert input_dataset(task_id).nfilesfinished == 20
    assert_refused(command(grid.production, "resume", task_id), "resume", "done")


def test_a_soft_finish_lets_the_running_jobs_end_and_the_task_finishes(grid):
    task_id, running = started_task(grid, "user.jdoe.e2e.finish/", n_running=4)

    assert_registered(command(grid.owner, "finish", task_id, soft=True), "finish", task_id)
    run_agents()

    assert grid.owner.status(task_id) == "finishing"
    assert statuses(task_id) == {"cancelled": 6, "running": 4}
    for job in running:
        assert grid.pilot.update(job, "running")["data"]["command"] is None
        grid.pilot.finish(job)
    run_agents_until(lambda: grid.owner.status(task_id) == "finished", what="task finished")

    assert statuses(task_id) == {"cancelled": 6, "finished": 4}
    dataset = input_dataset(task_id)
    assert (dataset.nfiles, dataset.nfilesfinished) == (20, 8)
    assert len(ddm().list_files("user.jdoe.e2e.finish_out")) == 4
    assert history(task_id)[-4:] == ["scouting", "finishing", "passed", "finished"]
    assert_refused(command(grid.owner, "finish", task_id), "finish", "finished")
    assert_refused(command(grid.owner, "kill", task_id), "kill", "finished")


def test_a_hard_finish_kills_the_running_jobs_too_and_keeps_what_finished(grid):
    task_id, running = started_task(grid, "user.jdoe.e2e.hardfinish/", n_running=4)
    for job in running[:2]:
        grid.pilot.finish(job)

    assert_registered(command(grid.owner, "finish", task_id), "finish", task_id)
    run_agents()

    assert grid.owner.status(task_id) == "finishing"
    assert statuses(task_id) == {"finished": 2, "cancelled": 6, "running": 2}
    for job in running[2:]:
        assert grid.pilot.update(job, "running")["data"]["command"] == "tobekilled"
        grid.pilot.fail(job, pilot_error_code=1144, diag="job killed by the server")
    run_agents_until(lambda: grid.owner.status(task_id) == "finished", what="task finished")

    assert statuses(task_id) == {"finished": 2, "cancelled": 8}
    assert input_dataset(task_id).nfilesfinished == 4
    assert history(task_id)[-4:] == ["scouting", "finishing", "passed", "finished"]


def test_retry_of_a_finished_task_regenerates_its_failed_files_as_new_jobs(grid):
    # One attempt per file: the two failing jobs fail their files for good and the task ends finished.
    task_id, fetched = started_task(grid, "user.jdoe.e2e.retry/", n_running=10, maxAttempt=1)
    failing = fetched[:2]
    for job in failing:
        grid.pilot.fail(job)
    for job in fetched[2:]:
        grid.pilot.finish(job)
    run_agents_until(lambda: grid.owner.status(task_id) == "finished", what="task finished")
    dataset = input_dataset(task_id)
    assert (dataset.nfilesfinished, dataset.nfilesfailed) == (16, 4)

    assert_registered(command(grid.owner, "retry", task_id), "retry", task_id)
    retried = run_agents_until(
        lambda: list(task_jobs(task_id).filter(jobstatus="activated")), what="failed files regenerated"
    )
    assert len(retried) == 2
    # Regenerated as ordinary jobs: the task scouted once already.
    assert {(job.attemptnr, job.specialhandling) for job in retried} == {(2, None)}
    assert grid.owner.status(task_id) == "running"
    links = dict(JobRetryHistory.objects.filter(jeditaskid=task_id).values_list("oldpandaid", "newpandaid"))
    assert set(links) == {int(job["PandaID"]) for job in failing}
    assert set(links.values()) == {job.pandaid for job in retried}

    for job in grid.pilot.acquire(n_jobs=20):
        grid.pilot.finish(job)
    run_agents_until(lambda: grid.owner.status(task_id) == "done", what="task done")
    dataset = input_dataset(task_id)
    assert (dataset.nfilesfinished, dataset.nfilesfailed) == (20, 0)
    assert len(ddm().list_files("user.jdoe.e2e.retry_out")) == 10
    assert history(task_id)[-7:] == ["prepared", "finished", "toretry", "ready", "running", "prepared", "done"]
    assert_refused(command(grid.owner, "retry", task_id), "retry", "done")
