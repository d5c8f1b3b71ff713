"""The permission matrix of iam.md §11 through the real endpoints, for six callers.

Each test sends one request as each caller — a user, a second user, a production manager, a pilot
robot, a Harvester robot and an anonymous caller — and checks the answer and the rows: changed when
the caller is allowed, untouched when refused. Jobs and tasks belong to the first user, by the
compact name the server itself reports for that user (``system/whoami``).
"""

import json

import pytest

from apps.jedi.models import Task, TaskCommand
from apps.jobs.models import Job
from apps.workers.models import HarvesterCommand, HarvesterInstance, Worker
from apps.workers.services.commands import harvester_command_add
from tests.dispatcher.iam_callers import (
    ANONYMOUS,
    CALLERS,
    HARVESTER,
    MANAGER,
    PILOT,
    SECOND_USER,
    USER,
    Caller,
    Callers,
    working_group_manager,
)
from tests.dispatcher.update_wire import accept_json, decode_json, legacy, post_json, post_urlencoded, v1
from tests.factories import (
    JobFactory,
    PandaQueueFactory,
    job_with_files,
    queue_document,
)
from tests.jedi_factories import TaskFactory, ddm_dataset_with_files, input_contents, task_params
from tests.jobs.wire_jobs import wire_job

pytestmark = pytest.mark.django_db

PRODUCTION = {MANAGER, HARVESTER}
AUTHENTICATED = set(CALLERS) - {ANONYMOUS}
NO_ROLE = "no production/pilot role in VOMS FQANs or non pilot owner"
AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"
QUEUE = "QUEUE_A"
HARVESTER_ID = "harvester-matrix"
OTHER_OWNER = "Prod Owner"


@pytest.fixture
def callers() -> Callers:
    return Callers()


@pytest.fixture
def owner(callers) -> str:
    return callers[USER].compact_name


def matrix(outcomes: dict[str, object]) -> pytest.MarkDecorator:
    """Parametrise over the six callers with the outcome each must get."""
    assert set(outcomes) == set(CALLERS)
    return pytest.mark.parametrize(("caller", "expected"), list(outcomes.items()), ids=list(outcomes))


def allowed_for(names: set[str]) -> pytest.MarkDecorator:
    return matrix({name: name in names for name in CALLERS})


def test_the_six_callers_are_six_different_identities(callers):
    names = [callers[name].compact_name for name in CALLERS]
    assert len(set(names)) == 6
    assert names[-1] is None


# --- getJob / pilot/acquire_jobs ------------------------------------------------------------------


@pytest.fixture
def queue():
    return PandaQueueFactory(name=QUEUE, site__name="SITE_A")


def legacy_get_job(caller: Caller, label: str):
    params = {"siteName": QUEUE, "prodSourceLabel": label, "node": "wn01"}
    return decode_json(post_urlencoded(legacy("getJob"), params, accept_json(caller.headers)))


@allowed_for(PRODUCTION | {PILOT})
def test_legacy_get_job_of_managed_jobs_needs_the_production_or_pilot_role(callers, caller, expected, queue):
    job = job_with_files(computingsite=QUEUE, prodsourcelabel="managed", produsername=OTHER_OWNER)

    body = legacy_get_job(callers[caller], "managed")

    if expected:
        assert (body["StatusCode"], body["PandaID"]) == (0, job.pandaid)
        assert Job.objects.get(pk=job.pk).jobstatus == "sent"
    else:
        assert body == {"StatusCode": 60, "errorDialog": NO_ROLE}
        assert Job.objects.get(pk=job.pk).jobstatus == "activated"


@matrix(
    {
        USER: "sent",
        SECOND_USER: "not offered",
        MANAGER: "sent",
        PILOT: "sent",
        HARVESTER: "sent",
        ANONYMOUS: "refused",
    }
)
def test_without_production_get_job_hands_out_only_the_callers_own_user_jobs(callers, caller, expected, owner, queue):
    job = job_with_files(computingsite=QUEUE, prodsourcelabel="user", produsername=owner)

    body = legacy_get_job(callers[caller], "user")

    outcome = {0: "sent", 20: "not offered", 60: "refused"}[body["StatusCode"]]
    assert outcome == expected
    assert Job.objects.get(pk=job.pk).jobstatus == ("sent" if expected == "sent" else "activated")


@allowed_for(PRODUCTION)
def test_v1_acquire_jobs_of_managed_jobs_needs_the_production_role(callers, caller, expected, queue):
    job = job_with_files(computingsite=QUEUE, prodsourcelabel="managed", produsername=OTHER_OWNER)

    response = post_json(
        v1("pilot/acquire_jobs"), {"site_name": QUEUE, "prod_source_label": "managed"}, callers[caller].headers
    )

    body = decode_json(response)
    if expected:
        assert body["success"] is True and body["data"]["jobs"][0]["PandaID"] == job.pandaid
        assert Job.objects.get(pk=job.pk).jobstatus == "sent"
    else:
        assert body == {"success": False, "message": NO_ROLE, "data": None}
        assert Job.objects.get(pk=job.pk).jobstatus == "activated"


# --- updateJob / pilot/update_job -----------------------------------------------------------------


@allowed_for(PRODUCTION | {PILOT})
def test_legacy_update_job_needs_the_production_or_pilot_role(callers, caller, expected):
    job = JobFactory(jobstatus="starting")

    response = post_urlencoded(
        legacy("updateJob"), {"jobId": job.pandaid, "state": "running"}, accept_json(callers[caller].headers)
    )

    body = decode_json(response)
    if expected:
        assert body == {"StatusCode": 0, "command": "NULL"}
        assert Job.objects.get(pk=job.pk).jobstatus == "running"
    else:
        assert body == {"StatusCode": 60, "errorDialog": NO_ROLE}
        assert Job.objects.get(pk=job.pk).jobstatus == "starting"


@allowed_for(PRODUCTION)
def test_v1_update_job_needs_the_production_role(callers, caller, expected):
    job = JobFactory(jobstatus="starting")

    response = post_json(
        v1("pilot/update_job"), {"job_id": job.pandaid, "job_status": "running"}, callers[caller].headers
    )

    body = decode_json(response)
    assert body["success"] is expected
    assert Job.objects.get(pk=job.pk).jobstatus == ("running" if expected else "starting")
    if not expected:
        assert body["message"] == NO_ROLE


# --- job/submit -----------------------------------------------------------------------------------


@pytest.fixture
def submit_queue():
    return PandaQueueFactory(name="Q_SUBMIT", site__name="SITE_SUBMIT")


def submit_jobs(caller: Caller, label: str):
    jobs = json.dumps([wire_job(prodSourceLabel=label, jobName=f"{label}.job")])
    return post_json(v1("job/submit"), {"jobs": jobs}, caller.headers)


@allowed_for(PRODUCTION)
def test_submitting_managed_jobs_needs_the_production_role(callers, caller, expected, submit_queue):
    response = submit_jobs(callers[caller], "managed")

    if caller == ANONYMOUS:
        assert (response.status_code, response.content.decode()) == (403, AUTH_REQUIRED)
    else:
        body = decode_json(response)
        assert body["success"] is expected
        if not expected:
            assert body["message"].endswith("is missing production for prodSourceLabel=managed submission")
    assert Job.objects.count() == (1 if expected else 0)


@allowed_for(AUTHENTICATED)
def test_any_authenticated_caller_submits_user_jobs_that_become_its_own(callers, caller, expected, submit_queue):
    response = submit_jobs(callers[caller], "user")

    if expected:
        assert decode_json(response)["success"] is True
        assert Job.objects.get().produsername == callers[caller].compact_name
    else:
        assert response.status_code == 403
        assert not Job.objects.exists()


# --- task/submit ----------------------------------------------------------------------------------


@pytest.fixture
def task_world():
    ddm_dataset_with_files("mc23.EVNT.e1", 2)
    PandaQueueFactory(name="Q1", document=queue_document("Q1", "SITE1", maxrss=4000, maxtime=86400))


def submit_task(caller: Caller, **overrides):
    return post_json(v1("task/submit"), {"task_parameters": task_params(**overrides)}, caller.headers)


@allowed_for(AUTHENTICATED)
def test_without_production_a_submitted_task_becomes_an_analysis_task_of_the_caller(
    callers, caller, expected, task_world
):
    response = submit_task(callers[caller], userName="Someone Else", taskType="prod")

    if not expected:
        assert (response.status_code, response.content.decode()) == (403, AUTH_REQUIRED)
        assert not Task.objects.exists()
        return
    assert decode_json(response)["success"] is True
    task = Task.objects.get()
    if caller in PRODUCTION:
        assert (task.username, task.tasktype) == ("Someone Else", "prod")
    else:
        assert (task.username, task.tasktype) == (callers[caller].compact_name, "anal")


@allowed_for(PRODUCTION)
def test_a_managed_task_needs_the_production_role(callers, caller, expected, task_world):
    response = submit_task(callers[caller], prodSourceLabel="managed", taskType="prod")

    if caller == ANONYMOUS:
        assert response.status_code == 403
    else:
        body = decode_json(response)
        assert body["success"] is expected
        if not expected:
            assert body["message"] == "refused: prodSourceLabel=managed needs the production role"
    assert Task.objects.count() == (1 if expected else 0)


# --- job/kill and killJobs ------------------------------------------------------------------------


def kill(caller: Caller, job: Job, code: int):
    return post_json(v1("job/kill"), {"job_ids": [job.pandaid], "code": code}, caller.headers)


def assert_killed(job: Job, response, expected: bool):
    if response.status_code == 403:
        assert not expected
    else:
        assert decode_json(response)["data"] == [expected]
    assert (Job.objects.get(pk=job.pk).jobstatus != "activated") is expected


@allowed_for({USER} | PRODUCTION)
def test_the_owner_and_production_kill_a_user_job_with_a_production_code(callers, caller, expected, owner):
    job = JobFactory(prodsourcelabel="user", produsername=owner)

    assert_killed(job, kill(callers[caller], job, 9), expected)


@allowed_for({USER})
def test_production_may_not_kill_a_user_job_with_a_code_outside_its_list(callers, caller, expected, owner):
    job = JobFactory(prodsourcelabel="user", produsername=owner)

    assert_killed(job, kill(callers[caller], job, 3), expected)


@allowed_for(PRODUCTION)
def test_legacy_kill_jobs_of_a_managed_job_is_for_its_owner_or_production(callers, caller, expected):
    job = JobFactory(prodsourcelabel="managed", produsername=OTHER_OWNER)

    response = post_urlencoded(
        legacy("killJobs"), {"ids": json.dumps([job.pandaid]), "code": 3}, callers[caller].headers
    )

    if caller == ANONYMOUS:
        assert response.status_code == 403
    else:
        assert decode_json(response) == [expected]
    assert (Job.objects.get(pk=job.pk).jobstatus == "cancelled") is expected


# --- task commands --------------------------------------------------------------------------------


def task_command(caller: Caller, task: Task, command: str, **params):
    return post_json(v1(f"task/{command}"), {"task_id": task.jeditaskid, **params}, caller.headers)


def assert_task_command(response, expected: bool, task: Task, command: str):
    if response.status_code == 403:
        assert not expected
        assert response.content.decode() == AUTH_REQUIRED
    else:
        body = decode_json(response)
        assert body["data"] == (0 if expected else 3), body
        if not expected:
            assert body["message"] == "Permission denied: not the task owner or no production role"
    queued = list(TaskCommand.objects.filter(task_id=task.jeditaskid).values_list("command", flat=True))
    assert queued == ([command] if expected else [])


@pytest.mark.parametrize("command", ["kill", "finish"])
@allowed_for({USER} | PRODUCTION)
def test_the_owner_or_production_kill_and_finish_a_task(callers, caller, expected, owner, command):
    task = TaskFactory(username=owner, status="running")

    assert_task_command(task_command(callers[caller], task, command), expected, task, command)


@allowed_for({USER} | PRODUCTION)
def test_the_owner_or_production_retry_a_finished_task(callers, caller, expected, owner):
    task = TaskFactory(username=owner, status="finished")
    input_contents(task, 1)

    assert_task_command(task_command(callers[caller], task, "retry"), expected, task, "retry")


@allowed_for(PRODUCTION)
def test_only_production_retries_an_exhausted_task_even_its_owner_may_not(callers, caller, expected, owner):
    task = TaskFactory(username=owner, status="exhausted")

    assert_task_command(task_command(callers[caller], task, "retry"), expected, task, "retry")


@pytest.mark.parametrize(("command", "status"), [("pause", "running"), ("resume", "paused")])
@allowed_for(PRODUCTION)
def test_only_production_pauses_and_resumes_a_task(callers, caller, expected, owner, command, status):
    task = TaskFactory(username=owner, status=status)

    assert_task_command(task_command(callers[caller], task, command), expected, task, command)


@allowed_for(PRODUCTION)
def test_only_production_changes_a_task_priority(callers, caller, expected, owner):
    task = TaskFactory(username=owner, status="running", currentpriority=1000)

    response = task_command(callers[caller], task, "change_priority", priority=5000)

    if caller == ANONYMOUS:
        assert response.status_code == 403
    else:
        assert decode_json(response)["data"] == (0 if expected else 3)
    assert Task.objects.get(pk=task.pk).currentpriority == (5000 if expected else 1000)


# --- job/set_command and job/set_debug_mode -------------------------------------------------------


@allowed_for(PRODUCTION)
def test_only_production_sets_a_job_command(callers, caller, expected, owner):
    job = JobFactory(jobstatus="running", produsername=owner)

    response = post_json(v1("job/set_command"), {"job_id": job.pandaid, "command": "debug,ls"}, callers[caller].headers)

    body = decode_json(response)
    assert body["success"] is expected
    assert Job.objects.get(pk=job.pk).commandtopilot == ("debug,ls" if expected else None)
    if not expected:
        assert body["message"] == "production role is required to set a command"


def set_debug_mode(caller: Caller, job: Job):
    return decode_json(post_json(v1("job/set_debug_mode"), {"job_id": job.pandaid, "mode": True}, caller.headers))


@allowed_for({USER} | PRODUCTION)
def test_the_owner_or_production_set_debug_mode(callers, caller, expected, owner):
    job = JobFactory(jobstatus="running", produsername=owner, prodsourcelabel="user")

    body = set_debug_mode(callers[caller], job)

    assert body["success"] is expected
    assert (Job.objects.get(pk=job.pk).specialhandling == "dm") is expected
    if not expected:
        assert body["message"] == "Permission denied. Not the owner or production manager"


def test_the_owner_has_at_most_three_debug_jobs_production_has_no_limit(callers, owner):
    debugging = [JobFactory(jobstatus="running", produsername=owner, specialhandling="dm") for _ in range(3)]
    job = JobFactory(jobstatus="running", produsername=owner, prodsourcelabel="user")

    refused = set_debug_mode(callers[USER], job)
    ids = ",".join(str(j.pandaid) for j in sorted(debugging, key=lambda j: j.pandaid))
    assert refused == {
        "success": False,
        "message": "You already hit the limit on the maximum number of debug subjobs (3 jobs). "
        f"Please set the debug mode off for one of the following PandaIDs : {ids}",
        "data": None,
    }
    assert Job.objects.get(pk=job.pk).specialhandling is None

    assert set_debug_mode(callers[MANAGER], job)["success"] is True
    assert Job.objects.get(pk=job.pk).specialhandling == "dm"


def test_working_group_production_has_at_most_ten_debug_jobs_of_its_group(callers):
    manager = working_group_manager("phys-higgs")
    for _ in range(9):
        JobFactory(jobstatus="running", produsername=OTHER_OWNER, workinggroup="phys-higgs", specialhandling="dm")
    tenth, eleventh = (
        JobFactory(jobstatus="running", produsername=OTHER_OWNER, workinggroup="phys-higgs") for _ in "ab"
    )
    elsewhere = JobFactory(jobstatus="running", produsername=OTHER_OWNER, workinggroup="phys-top")

    assert set_debug_mode(manager, tenth)["success"] is True
    refused = set_debug_mode(manager, eleventh)
    assert refused["message"].startswith("You already hit the limit on the maximum number of debug subjobs (10 jobs).")
    assert set_debug_mode(manager, elsewhere)["message"] == "Permission denied. Not the owner or production manager"
    assert set_debug_mode(callers[MANAGER], eleventh)["success"] is True
    specialhandling = dict(Job.objects.values_list("pandaid", "specialhandling"))
    assert (specialhandling[tenth.pandaid], specialhandling[eleventh.pandaid]) == ("dm", "dm")
    assert specialhandling[elsewhere.pandaid] is None


def test_working_group_production_kills_the_managed_jobs_of_its_group_only():
    manager = working_group_manager("phys-higgs")
    ours = JobFactory(prodsourcelabel="managed", produsername=OTHER_OWNER, workinggroup="phys-higgs")
    theirs = JobFactory(prodsourcelabel="managed", produsername=OTHER_OWNER, workinggroup="phys-top")
    analysis = JobFactory(prodsourcelabel="user", produsername=OTHER_OWNER, workinggroup="phys-higgs")

    assert_killed(ours, kill(manager, ours, 3), True)
    assert_killed(theirs, kill(manager, theirs, 3), False)
    assert_killed(analysis, kill(manager, analysis, 9), False)


# --- Harvester ------------------------------------------------------------------------------------


def harvester_call(caller: Caller, method: str, params: dict):
    return post_json(v1(f"harvester/{method}"), params, caller.headers)


def assert_v1_outcome(response, expected: bool, caller: str):
    if caller == ANONYMOUS:
        assert (response.status_code, response.content.decode()) == (403, AUTH_REQUIRED)
        return
    body = decode_json(response)
    assert body["success"] is expected
    if not expected:
        assert body["message"] == NO_ROLE


@allowed_for(PRODUCTION)
def test_only_production_acquires_harvester_commands(callers, caller, expected):
    harvester_command_add(harvester_id=HARVESTER_ID, command="KILL_WORKERS", params={"computingSite": [QUEUE]})

    response = harvester_call(callers[caller], "acquire_commands", {"harvester_id": HARVESTER_ID, "n_commands": 5})

    assert_v1_outcome(response, expected, caller)
    assert HarvesterCommand.objects.get().status == ("retrieved" if expected else "new")


@allowed_for(PRODUCTION)
def test_only_production_adds_a_sweep_command(callers, caller, expected):
    PandaQueueFactory(name="QUEUE_H", document=queue_document("QUEUE_H", "SITE_H", harvester=HARVESTER_ID))
    params = {"panda_queue": "QUEUE_H", "status_list": ["running"], "ce_list": "ALL", "submission_host_list": []}

    response = harvester_call(callers[caller], "add_sweep_command", params)

    assert_v1_outcome(response, expected, caller)
    assert HarvesterCommand.objects.filter(harvester_id=HARVESTER_ID).count() == (1 if expected else 0)


@allowed_for(AUTHENTICATED)
def test_any_authenticated_caller_updates_workers(callers, caller, expected):
    worker = {"workerID": 7, "status": "running", "computingSite": QUEUE, "batchID": "42"}
    params = {"harvesterID": HARVESTER_ID, "workers": json.dumps([worker])}

    response = post_urlencoded(legacy("updateWorkers"), params, callers[caller].headers)

    if expected:
        assert decode_json(response) == [True, [True]]
    else:
        assert (response.status_code, response.content.decode()) == (403, AUTH_REQUIRED)
    assert Worker.objects.filter(harvesterid=HARVESTER_ID, workerid=7).exists() is expected


@allowed_for(AUTHENTICATED)
def test_any_authenticated_caller_sends_a_harvester_heartbeat(callers, caller, expected):
    response = harvester_call(callers[caller], "heartbeat", {"harvester_id": HARVESTER_ID, "data": {"sw_version": "1"}})

    if expected:
        assert decode_json(response)["success"] is True
    else:
        assert (response.status_code, response.content.decode()) == (403, AUTH_REQUIRED)
    assert HarvesterInstance.objects.filter(harvester_id=HARVESTER_ID).exists() is expected
