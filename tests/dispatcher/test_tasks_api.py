import json
from datetime import timedelta

import pytest
from django.test import Client

from apps.brokerage.models import BrokerageDecision
from apps.core.timeutil import utcnow
from apps.jedi.models import DatasetContent, Task, TaskCommand, TaskParams
from apps.jobs.models import Job
from tests.factories import JobFactory, UserFactory, auth_header, job_with_files, production_user
from tests.jedi_factories import TaskDatasetFactory, TaskFactory, input_contents, task_params

pytestmark = pytest.mark.django_db

V1 = "/api/v1/task/"
AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"


@pytest.fixture
def client():
    return Client()


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def stranger():
    return UserFactory()


@pytest.fixture
def manager():
    return production_user()


def task_of(user, **fields):
    return TaskFactory(username=user.panda_name, **fields)


def envelope(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def get(client, method, user=None, **params):
    headers = auth_header(user) if user else {}
    return client.get(V1 + method, params, **headers)


def post(client, method, user=None, **body):
    headers = auth_header(user) if user else {}
    return client.post(V1 + method, json.dumps(body), content_type="application/json", **headers)


def queued_commands():
    return list(TaskCommand.objects.filter(status="queued").values_list("task_id", "command", "parameters"))


def registered(command, task):
    return f"command={command} is registered for task ID {task.jeditaskid}. will be executed in a few minutes"


# --- task/get_status ---------------------------------------------------------------------------------


def test_get_status_answers_the_status_string(client, owner):
    task = task_of(owner, status="scouting")

    assert envelope(get(client, "get_status", owner, task_id=task.jeditaskid)) == {
        "success": True,
        "message": "",
        "data": "scouting",
    }


@pytest.mark.parametrize("task_id", ["987654", "0", "99999999999999999999"])
def test_get_status_of_an_unknown_task_says_task_not_found(client, owner, task_id):
    assert envelope(get(client, "get_status", owner, task_id=task_id)) == {
        "success": False,
        "message": "Task not found",
        "data": None,
    }


def test_the_task_queries_need_an_authenticated_caller(client):
    task = TaskFactory()
    by_task = {"task_id": task.jeditaskid}
    for method, params in (
        ("get_status", by_task),
        ("get_details", by_task),
        ("get_job_ids", by_task),
        ("get_tasks_modified_since", {"since": "2025-01-01 00:00:00"}),
        ("get_datasets_and_files", by_task),
        ("get_job_descriptions", by_task),
    ):
        response = client.get(V1 + method, params)
        assert (response.status_code, response.content.decode()) == (403, AUTH_REQUIRED), method


def test_a_query_with_the_wrong_http_method_or_a_missing_argument_is_refused(client, owner):
    task = task_of(owner)

    assert envelope(post(client, "get_status", owner, task_id=task.jeditaskid))["message"].startswith("expecting GET")
    assert envelope(get(client, "get_status", owner)) == {
        "success": False,
        "message": "Argument error: missing required argument task_id",
        "data": None,
    }


# --- task/get_details -------------------------------------------------------------------------------


def test_get_details_names_the_datasets_counts_files_and_jobs(client, owner):
    task = task_of(owner, status="running")
    inputs = input_contents(task, 4, dataset="mc23:mc23.EVNT.e1")
    inputs[0].dataset.__class__.objects.filter(pk=inputs[0].dataset_id).update(
        containername="mc23:mc23.EVNT.cont/", nfiles=4, nfilesused=3, nfilesfinished=1, nfilesfailed=1
    )
    TaskDatasetFactory(task=task, type="output", datasetname="user.jdoe.out/", streamname="OUTPUT0")
    TaskDatasetFactory(task=task, type="log", datasetname="user.jdoe.log/", streamname="LOG0")
    TaskDatasetFactory(task=task, type="tmpl_output", datasetname="user.jdoe.tmpl/", streamname="OUTPUT0")
    jobs = [JobFactory(jeditaskid=task.jeditaskid, jobstatus=s) for s in ("running", "running", "finished")]

    data = envelope(get(client, "get_details", owner, task_id=task.jeditaskid))["data"]

    assert data == {
        "inDS": "mc23:mc23.EVNT.cont/",
        "outDS": "user.jdoe.out/,user.jdoe.log/",
        "statistics": "tobedone*1,finished*1,failed*1,picked*1",
        "PandaID": sorted(job.pandaid for job in jobs),
        "jobStatistics": {"running": 2, "finished": 1},
        "mergeStatus": None,
        "mergePandaID": [],
        "brokerage": {"job_brokerage": None, "task_brokerage": None},
    }


def test_get_details_explains_the_latest_brokerage_decision(client, owner):
    task = task_of(owner, status="pending")
    BrokerageDecision.objects.create(
        jeditaskid=task.jeditaskid,
        kind="job",
        chosen=[],
        rejected={"QUEUE_A": "memory: 8000 MB > maxrss 4000"},
        summary="no candidate",
    )

    job = envelope(get(client, "get_details", owner, task_id=task.jeditaskid))["data"]["brokerage"]["job_brokerage"]

    assert job["summary"] == "no candidate"
    assert job["rejected"] == {"memory": [{"name": "QUEUE_A", "reason": "memory: 8000 MB > maxrss 4000"}]}


def test_get_details_adds_the_status_and_the_parameters_when_asked(client, owner):
    task = task_of(owner, status="done")
    params = task_params(taskName=task.taskname, cliParams="prun --exec ls")
    TaskParams.objects.filter(task=task).update(taskparams=json.dumps(params))

    data = envelope(
        get(client, "get_details", owner, task_id=task.jeditaskid, include_parameters="True", include_status="True")
    )["data"]

    assert data["status"] == "done"
    assert data["taskParams"] == params
    assert data["cliParams"] == "prun --exec ls"


def test_get_details_of_an_unknown_task_fails(client, owner):
    assert envelope(get(client, "get_details", owner, task_id=987654)) == {
        "success": False,
        "message": "Task not found or error retrieving the details",
        "data": None,
    }


# --- task/get_job_ids, task/get_job_descriptions ----------------------------------------------------


def test_get_job_ids_lists_every_job_of_the_task_in_order(client, owner):
    task = task_of(owner)
    ids = [JobFactory(jeditaskid=task.jeditaskid, jobstatus=s).pandaid for s in ("finished", "running", "failed")]
    JobFactory(jeditaskid=task.jeditaskid + 1)

    assert envelope(get(client, "get_job_ids", owner, task_id=task.jeditaskid))["data"] == sorted(ids)


def test_get_job_descriptions_gives_full_job_dicts_and_can_keep_only_the_unsuccessful(client, owner):
    task = task_of(owner)
    good = job_with_files(jeditaskid=task.jeditaskid, jobstatus="finished")
    bad = job_with_files(jeditaskid=task.jeditaskid, jobstatus="failed")

    every = envelope(get(client, "get_job_descriptions", owner, task_id=task.jeditaskid))["data"]
    unsuccessful = envelope(
        get(client, "get_job_descriptions", owner, task_id=task.jeditaskid, unsuccessful_only="true")
    )["data"]

    assert [(d["PandaID"], d["jobStatus"]) for d in every] == [(good.pandaid, "finished"), (bad.pandaid, "failed")]
    assert [d["PandaID"] for d in unsuccessful] == [bad.pandaid]
    assert {f["lfn"] for f in every[0]["Files"]} == set(good.files.values_list("lfn", flat=True))


# --- task/get_task_parameters ------------------------------------------------------------------------


def test_get_task_parameters_needs_no_authentication(client):
    task = TaskFactory()

    data = envelope(client.get(V1 + "get_task_parameters", {"task_id": task.jeditaskid}))["data"]

    assert data == task_params(taskName=task.taskname)


def test_get_task_parameters_of_an_unknown_or_corrupt_task_fails(client):
    task = TaskFactory()
    TaskParams.objects.filter(task=task).update(taskparams="{not json")

    assert envelope(client.get(V1 + "get_task_parameters", {"task_id": 987654}))["message"] == "Task not found"
    answer = envelope(client.get(V1 + "get_task_parameters", {"task_id": task.jeditaskid}))
    assert answer["success"] is False
    assert answer["message"].startswith("Error decoding the task parameters")


# --- task/get_tasks_modified_since -------------------------------------------------------------------


def test_get_tasks_modified_since_lists_the_callers_recent_tasks_by_id(client, owner, stranger):
    now = utcnow()
    recent = task_of(owner, modificationtime=now - timedelta(days=2))
    task_of(owner, modificationtime=now - timedelta(days=40))  # beyond the 30-day clamp
    task_of(owner, modificationtime=now - timedelta(days=2), prodsourcelabel="managed")
    task_of(stranger, modificationtime=now - timedelta(days=2))

    data = envelope(get(client, "get_tasks_modified_since", owner, since="2000-01-01 00:00:00"))["data"]

    assert list(data) == [str(recent.jeditaskid)]
    assert data[str(recent.jeditaskid)] == {
        "jediTaskID": recent.jeditaskid,
        "modificationTime": {"__datetime__": recent.modificationtime.isoformat()},
        "status": "ready",
        "processingType": None,
        "transUses": None,
        "transHome": None,
        "architecture": "x86_64-el9-gcc13-opt",
        "reqID": None,
        "creationDate": {"__datetime__": recent.creationdate.isoformat()},
        "site": None,
        "cloud": None,
        "taskName": recent.taskname,
    }


def test_get_tasks_modified_since_filters_by_dn_label_min_id_and_gives_full_records(client, owner, stranger):
    now = utcnow()
    first = task_of(stranger, modificationtime=now, prodsourcelabel="managed")
    second = task_of(stranger, modificationtime=now, prodsourcelabel="managed")

    data = envelope(
        get(
            client,
            "get_tasks_modified_since",
            owner,
            since=(now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
            dn=stranger.dn,
            full="True",
            min_task_id=first.jeditaskid,
            prod_source_label="managed",
        )
    )["data"]

    assert list(data) == [str(second.jeditaskid)]
    assert data[str(second.jeditaskid)]["userName"] == stranger.panda_name
    assert data[str(second.jeditaskid)]["splitRule"] == "NF=2"


def test_get_tasks_modified_since_refuses_a_bad_time(client, owner):
    answer = envelope(get(client, "get_tasks_modified_since", owner, since="yesterday"))

    assert answer["success"] is False
    assert answer["message"].startswith("Argument error: since must be")


# --- task/get_datasets_and_files ---------------------------------------------------------------------


def test_get_datasets_and_files_lists_the_input_datasets_with_their_files(client, owner):
    task = task_of(owner)
    files = input_contents(task, 2)
    DatasetContent.objects.filter(pk=files[1].pk).update(status="failed")
    TaskDatasetFactory(task=task, type="output", datasetname="user.jdoe.out/")
    url = f"{V1}get_datasets_and_files?task_id={task.jeditaskid}&dataset_types=input&dataset_types=pseudo_input"

    data = envelope(client.get(url, **auth_header(owner)))["data"]

    assert data == [
        {
            "dataset": {"name": files[0].dataset.datasetname, "id": files[0].dataset_id},
            "files": [
                {"lfn": files[0].lfn, "scope": "mc23", "id": files[0].fileid, "status": "ready"},
                {"lfn": files[1].lfn, "scope": "mc23", "id": files[1].fileid, "status": "failed"},
            ],
        }
    ]


def test_get_datasets_and_files_takes_a_comma_list_and_can_leave_the_files_out(client, owner):
    task = task_of(owner)
    input_contents(task, 1)
    out = TaskDatasetFactory(task=task, type="output", datasetname="user.jdoe.out/")

    data = envelope(
        get(
            client,
            "get_datasets_and_files",
            owner,
            task_id=task.jeditaskid,
            dataset_types="output,log",
            dataset_only="true",
        )
    )["data"]

    assert data == [{"dataset": {"name": "user.jdoe.out/", "id": out.datasetid}}]


def test_get_datasets_and_files_without_datasets_fails(client, owner):
    task = task_of(owner)

    assert envelope(get(client, "get_datasets_and_files", owner, task_id=task.jeditaskid)) == {
        "success": False,
        "message": "No data found for the task",
        "data": None,
    }


# --- task/kill, task/finish -------------------------------------------------------------------------


def test_the_owner_kills_a_task_and_the_command_is_queued(client, owner):
    task = task_of(owner, status="running")

    answer = envelope(post(client, "kill", owner, task_id=task.jeditaskid))

    assert answer == {"success": True, "message": registered("kill", task), "data": 0}
    assert queued_commands() == [(task.jeditaskid, "kill", {"broadcast": False})]
    assert Task.objects.get(pk=task.pk).status == "running"


def test_kill_answers_the_code_of_a_refusal_with_success_false(client, owner, stranger):
    task = task_of(owner, status="running")
    done = task_of(owner, status="done")

    assert envelope(post(client, "kill", stranger, task_id=task.jeditaskid)) == {
        "success": False,
        "message": "Permission denied: not the task owner or no production role",
        "data": 3,
    }
    assert envelope(post(client, "kill", owner, task_id=done.jeditaskid))["data"] == 4
    assert envelope(post(client, "kill", owner, task_id=987654)) == {
        "success": False,
        "message": "jediTaskID=987654 not found",
        "data": 2,
    }
    assert queued_commands() == []


def test_the_task_commands_need_an_authenticated_caller_and_post(client, owner):
    task = task_of(owner, status="running")
    for method in ("kill", "finish", "retry", "reload_input", "pause", "resume", "release", "avalanche"):
        response = client.post(V1 + method, json.dumps({"task_id": task.jeditaskid}), content_type="application/json")
        assert (response.status_code, response.content.decode()) == (403, AUTH_REQUIRED), method
        assert envelope(get(client, method, owner, task_id=task.jeditaskid))["message"].startswith("expecting POST")
    assert queued_commands() == []


def test_finish_records_a_soft_finish_sent_as_a_form(client, owner):
    task = task_of(owner, status="running")

    response = client.post(V1 + "finish", {"task_id": str(task.jeditaskid), "soft": "True"}, **auth_header(owner))

    assert envelope(response) == {"success": True, "message": registered("finish", task), "data": 0}
    assert queued_commands() == [(task.jeditaskid, "finish", {"soft": True, "broadcast": False})]


# --- task/retry, task/reload_input ------------------------------------------------------------------


def test_a_retry_with_nothing_to_retry_answers_code_4_with_the_reason(client, owner):
    finished = task_of(owner, status="finished")
    input_contents(finished, 1, status="finished")

    assert envelope(post(client, "retry", owner, task_id=finished.jeditaskid)) == {
        "success": True,
        "message": "Command rejected: nothing to retry: the finished task has no failed or unprocessed input files",
        "data": 4,
    }
    assert not TaskCommand.objects.filter(task=finished).exists()


def test_retry_always_answers_success_true_with_the_code_in_data(client, owner, stranger):
    failed = task_of(owner, status="failed")
    input_contents(failed, 1, status="failed")
    aborted = task_of(owner, status="aborted")

    assert envelope(post(client, "retry", owner, task_id=failed.jeditaskid)) == {
        "success": True,
        "message": registered("retry", failed),
        "data": 0,
    }
    assert envelope(post(client, "retry", owner, task_id=aborted.jeditaskid))["success"] is True
    assert envelope(post(client, "retry", owner, task_id=aborted.jeditaskid))["data"] == 4
    assert envelope(post(client, "retry", stranger, task_id=failed.jeditaskid))["data"] == 3
    assert envelope(post(client, "retry", owner, task_id=987654)) == {
        "success": True,
        "message": "jediTaskID=987654 not found",
        "data": 2,
    }


def test_retry_accepts_new_parameters_as_a_json_string_and_records_the_qualifiers(client, owner):
    task = task_of(owner, status="finished")

    envelope(
        post(
            client,
            "retry",
            owner,
            task_id=task.jeditaskid,
            new_parameters=json.dumps({"ramCount": 4000}),
            discard_events=True,
            ignore_hard_exhausted=True,
        )
    )

    ((_, command, parameters),) = queued_commands()
    assert command == "retry"
    assert parameters == {
        "new_parameters": {"ramCount": 4000},
        "ignore_hard_exhausted": False,  # production only
        "no_child_retry": False,
        "discard_events": True,
        "disable_staging_mode": False,
        "keep_gshare_priority": False,
    }


def test_retry_of_a_running_task_triggers_the_failed_inputs_at_once(client, owner):
    task = task_of(owner, status="running")
    (failed,) = input_contents(task, 1, status="failed", attemptnr=3, maxattempt=3)

    answer = envelope(post(client, "retry", owner, task_id=task.jeditaskid))

    assert answer == {
        "success": True,
        "message": "retry has been triggered for failed jobs while the task is still running",
        "data": 0,
    }
    failed.refresh_from_db()
    assert (failed.status, failed.maxattempt) == ("ready", 8)
    assert queued_commands() == []


def test_reload_input_queues_an_incexec(client, owner):
    task = task_of(owner, status="done")

    answer = envelope(post(client, "reload_input", owner, task_id=task.jeditaskid))

    assert answer == {"success": True, "message": registered("incexec", task), "data": 0}
    assert queued_commands() == [(task.jeditaskid, "incexec", {"ignore_hard_exhausted": False})]


# --- production-only commands ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pause", "resume", "release", "avalanche"])
def test_the_production_role_is_needed_to_pause_resume_release_and_avalanche(client, owner, manager, method):
    task = task_of(owner, status="scouting")

    assert envelope(post(client, method, owner, task_id=task.jeditaskid))["data"] == 3
    assert envelope(post(client, method, manager, task_id=task.jeditaskid)) == {
        "success": True,
        "message": registered(method, task),
        "data": 0,
    }


def test_reassign_queues_the_new_site_and_mode(client, owner):
    task = task_of(owner, status="running")

    answer = envelope(post(client, "reassign", owner, task_id=task.jeditaskid, site="QUEUE_B", mode="soft"))

    assert answer["data"] == 0
    assert queued_commands() == [
        (task.jeditaskid, "reassign", {"site": "QUEUE_B", "cloud": None, "nucleus": None, "mode": "soft"})
    ]


def test_reassign_without_a_destination_is_an_argument_error(client, owner):
    task = task_of(owner, status="running")

    assert envelope(post(client, "reassign", owner, task_id=task.jeditaskid)) == {
        "success": False,
        "message": "Argument error: reassign needs a site, a cloud or a nucleus",
        "data": None,
    }
    assert queued_commands() == []


def test_change_priority_is_applied_at_once_by_production(client, owner, manager):
    task = task_of(owner, status="running", currentpriority=1000)
    job = JobFactory(jeditaskid=task.jeditaskid, jobstatus="activated", currentpriority=1000)

    assert envelope(post(client, "change_priority", owner, task_id=task.jeditaskid, priority=5))["data"] == 3
    answer = envelope(post(client, "change_priority", manager, task_id=task.jeditaskid, priority=1500))

    assert (answer["success"], answer["data"]) == (True, 0)
    assert Task.objects.get(pk=task.pk).currentpriority == 1500
    assert Job.objects.get(pk=job.pk).currentpriority == 1500
    assert envelope(post(client, "change_priority", manager, task_id=task.jeditaskid, priority="high"))[
        "message"
    ].startswith("Argument error")


def test_increase_attempts_answers_panda_clients_codes(client, owner, manager):
    task = task_of(owner, status="running")
    (failed,) = input_contents(task, 1, status="failed", attemptnr=3, maxattempt=3)

    assert envelope(post(client, "increase_attempts", manager, task_id=task.jeditaskid, increase=2)) == {
        "success": True,
        "message": "increased attemptNr for 1 inputs (1 reactivated)",
        "data": 0,
    }
    assert envelope(post(client, "increase_attempts", manager, task_id=task.jeditaskid, increase=-1))["data"] == 4
    assert envelope(post(client, "increase_attempts", owner, task_id=task.jeditaskid, increase=1))["data"] == 3
    assert envelope(post(client, "increase_attempts", manager, task_id=987654, increase=1))["data"] == 1
    failed.refresh_from_db()
    assert (failed.status, failed.maxattempt) == ("ready", 5)


# --- task/kill_unfinished_jobs ---------------------------------------------------------------------


def test_kill_unfinished_jobs_kills_the_owners_unfinished_jobs_one_boolean_each(client, owner, stranger):
    task = task_of(owner, status="running")
    queued = JobFactory(
        jeditaskid=task.jeditaskid, jobstatus="activated", produsername=owner.panda_name, prodsourcelabel="user"
    )
    running = JobFactory(
        jeditaskid=task.jeditaskid, jobstatus="running", produsername=owner.panda_name, prodsourcelabel="user"
    )
    JobFactory(jeditaskid=task.jeditaskid, jobstatus="finished", produsername=owner.panda_name)

    assert envelope(post(client, "kill_unfinished_jobs", stranger, task_id=task.jeditaskid))["data"] == [False, False]
    answer = envelope(post(client, "kill_unfinished_jobs", owner, task_id=task.jeditaskid, code=9))

    assert answer == {"success": True, "message": "", "data": [True, True]}
    assert Job.objects.get(pk=queued.pk).jobstatus == "cancelled"
    assert Job.objects.get(pk=running.pk).commandtopilot == "tobekilled"
