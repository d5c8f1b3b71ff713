"""Harvester endpoints (protocol.md §9) in every encoding of both API generations."""

import datetime as dt
import json

import pytest
from django.test import Client

from apps.core.timeutil import utcnow
from apps.jobs.models import Job, JobOutputReport
from apps.workers.models import (
    HarvesterCommand,
    HarvesterDialog,
    HarvesterInstance,
    HarvesterServiceMetrics,
    HarvesterSlots,
    JobWorker,
    Worker,
    WorkerStats,
)
from apps.workers.services.commands import harvester_command_add
from tests.dispatcher.update_wire import (
    accept_json,
    as_plain_user,
    as_production,
    decode_json,
    decode_urlencoded,
    get_query,
    legacy,
    post_gzip_json_legacy,
    post_gzip_json_v1,
    post_json,
    post_urlencoded,
    v1,
)
from tests.factories import PandaQueueFactory, UserFactory, auth_header, job_with_files, queue_document

pytestmark = pytest.mark.django_db

HARVESTER = "harvester-test"
LEGACY_ENCODINGS = ["gzip-json", "json", "form", "get"]
V1_POST_ENCODINGS = ["json", "gzip", "form"]


def _form_ready(params: dict) -> dict:
    """Forms carry scalars and repeated keys; structured values travel as JSON text."""
    ready = {}
    for key, value in params.items():
        if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(i, (dict, list)) for i in value)):
            ready[key] = json.dumps(value)
        else:
            ready[key] = value
    return ready


def send_legacy(method: str, params: dict, encoding: str, headers: dict):
    url = legacy(method)
    if encoding == "gzip-json":
        return post_gzip_json_legacy(url, params, headers)
    if encoding == "json":
        return post_json(url, params, headers)
    if encoding == "form":
        return post_urlencoded(url, params, headers)
    return get_query(url, params, headers)


def send_v1(module_method: str, params: dict, encoding: str, headers: dict):
    url = v1(module_method)
    if encoding == "json":
        return post_json(url, params, headers)
    if encoding == "gzip":
        return post_gzip_json_v1(url, params, headers)
    if encoding == "form":
        return post_urlencoded(url, _form_ready(params), headers)
    return get_query(url, _form_ready(params), headers)


def envelope(response) -> dict:
    assert response.status_code == 200, response.content
    return decode_json(response)


def worker_dict(worker_id=1, **fields) -> dict:
    return {"workerID": worker_id, "status": "running", "computingSite": "QUEUE_A", "batchID": "42", **fields}


# --- update_workers -------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_update_workers_stores_the_workers_and_answers_one_boolean_each(encoding):
    workers = json.dumps([worker_dict(1), worker_dict(2, status="submitted")])
    response = send_legacy("updateWorkers", {"harvesterID": HARVESTER, "workers": workers}, encoding, as_plain_user())

    assert response.status_code == 200
    assert decode_json(response) == [True, [True, True]]
    assert dict(Worker.objects.values_list("workerid", "status")) == {1: "running", 2: "submitted"}


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_update_workers_stores_the_workers_and_answers_one_boolean_each(encoding):
    job = job_with_files(jobstatus="running")
    params = {"harvester_id": HARVESTER, "workers": [worker_dict(3, pandaid_list=[job.pandaid])]}
    response = send_v1("harvester/update_workers", params, encoding, as_plain_user())

    assert envelope(response) == {"success": True, "message": "", "data": [True]}
    assert Worker.objects.get(harvesterid=HARVESTER, workerid=3).batchid == "42"
    assert JobWorker.objects.filter(harvesterid=HARVESTER, workerid=3, pandaid=job.pandaid).exists()


def test_v1_update_workers_accepts_the_workers_as_a_json_string():
    params = {"harvester_id": HARVESTER, "workers": json.dumps([worker_dict(4)])}
    response = send_v1("harvester/update_workers", params, "json", as_plain_user())

    assert envelope(response)["data"] == [True]


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_update_workers_fails_a_running_job_whose_worker_ended_out_of_sync(encoding):
    job = job_with_files(jobstatus="running")
    JobWorker.objects.create(harvesterid=HARVESTER, workerid=5, pandaid=job.pandaid)
    worker = worker_dict(5, status="failed", syncLevel=1, diagMessage="killed by the batch system", errorCode=77)
    response = send_v1(
        "harvester/update_workers", {"harvester_id": HARVESTER, "workers": [worker]}, encoding, as_plain_user()
    )

    assert envelope(response)["success"] is True
    stored = Job.objects.get(pk=job.pk)
    assert stored.jobstatus == "holding"
    assert (stored.taskbuffererrorcode, stored.superrorcode) == (300, 77)
    assert stored.taskbuffererrordiag == "The worker was failed while the job was running : killed by the batch system"
    assert stored.superrordiag == "Diag from worker : killed by the batch system"
    assert JobOutputReport.objects.get(job=job).final_status == "failed"


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_update_workers_with_a_bad_worker_answers_false_and_changes_nothing(encoding):
    workers = json.dumps([worker_dict(1), {"status": "running"}])
    response = send_legacy("updateWorkers", {"harvesterID": HARVESTER, "workers": workers}, encoding, as_plain_user())

    assert decode_json(response) == [False, "workers[1]: workerID is missing"]
    assert not Worker.objects.exists()


@pytest.mark.parametrize("workers", ["{not json", json.dumps({"workerID": 1})])
def test_legacy_update_workers_needs_a_json_list(workers):
    response = send_legacy("updateWorkers", {"harvesterID": HARVESTER, "workers": workers}, "form", as_plain_user())

    success, message = decode_json(response)
    assert success is False and "workers" in message
    assert not Worker.objects.exists()


def test_legacy_update_workers_needs_both_parameters():
    response = send_legacy("updateWorkers", {"harvesterID": HARVESTER}, "form", as_plain_user())

    assert decode_json(response) == [False, "missing required argument workers"]


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_update_workers_with_a_bad_worker_fails_and_changes_nothing(encoding):
    params = {"harvester_id": HARVESTER, "workers": [worker_dict(1), worker_dict("x")]}
    response = send_v1("harvester/update_workers", params, encoding, as_plain_user())

    body = envelope(response)
    assert body["success"] is False
    assert body["message"].startswith("Argument error: workers[1]: workerID must be an integer")
    assert not Worker.objects.exists()


def test_v1_update_workers_names_a_missing_argument():
    response = send_v1("harvester/update_workers", {"harvester_id": HARVESTER}, "json", as_plain_user())

    assert envelope(response) == {
        "success": False,
        "message": "Argument error: missing required argument workers",
        "data": None,
    }


def test_v1_update_workers_is_a_post():
    response = send_v1("harvester/update_workers", {"harvester_id": HARVESTER, "workers": "[]"}, "get", as_plain_user())

    assert envelope(response)["message"] == "expecting POST method, got GET"


@pytest.mark.parametrize(
    "method, module_method, v1_params",
    [
        ("updateWorkers", "harvester/update_workers", {"workers": "[]"}),
        ("harvesterIsAlive", "harvester/heartbeat", {}),
        ("reportWorkerStats_jobtype", "harvester/report_worker_statistics", {"panda_queue": "Q", "statistics": "{}"}),
        ("getCommands", "harvester/acquire_commands", {"n_commands": 1}),
        ("ackCommands", "harvester/acknowledge_commands", {"command_ids": 1}),
        ("get_max_worker_id", "harvester/get_current_worker_id", {}),
        ("getWorkerStats", "harvester/get_worker_statistics", {}),
        (
            "sweepPQ",
            "harvester/add_sweep_command",
            {"panda_queue": "Q", "status_list": "x", "ce_list": "ALL", "submission_host_list": "h"},
        ),
        ("setNumSlotsForWP", "harvester/add_target_slots", {"panda_queue": "Q", "slots": 1}),
        ("addHarvesterDialogs", "harvester/add_dialogs", {"dialogs": "[]"}),
        ("updateServiceMetrics", "harvester/update_service_metrics", {"metrics": "[]"}),
    ],
)
def test_every_harvester_endpoint_needs_an_authenticated_caller(method, module_method, v1_params):
    legacy_response = Client().post(legacy(method), {"harvesterID": HARVESTER})
    params = {"harvester_id": HARVESTER, **v1_params}
    if module_method.endswith(("add_sweep_command", "add_target_slots", "acknowledge_commands")):
        params.pop("harvester_id")
    send = Client().get if module_method.startswith("harvester/get_") else Client().post
    v1_response = send(v1(module_method), {} if module_method.endswith("get_worker_statistics") else params)

    for response in (legacy_response, v1_response):
        assert response.status_code == 403
        assert response.content.startswith(b"ERROR : ")
    assert not Worker.objects.exists() and not HarvesterInstance.objects.exists()


def test_an_invalid_token_is_refused_before_anything_is_stored():
    headers = {"HTTP_AUTHORIZATION": "Bearer not-a-token"}
    response = send_v1(
        "harvester/update_workers", {"harvester_id": HARVESTER, "workers": [worker_dict()]}, "json", headers
    )

    assert response.status_code == 403
    assert not Worker.objects.exists()


# --- heartbeat ------------------------------------------------------------------------------------


def heartbeat_data() -> dict:
    return {
        "startTime": "datetime/2025-05-06 07:08:09.000010",
        "sw_version": "0.5.1",
        "commit_stamp": "abc123",
        "n_threads": 4,
    }


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_harvester_is_alive_records_the_instance(encoding):
    user = UserFactory(first_name="Harvey", last_name="Ops")
    params = {"harvesterID": HARVESTER, "data": json.dumps(heartbeat_data())}
    response = send_legacy("harvesterIsAlive", params, encoding, auth_header(user))

    assert decode_json(response) == [True, "no instance record"]
    instance = HarvesterInstance.objects.get(harvester_id=HARVESTER)
    assert (instance.owner, instance.hostname, instance.sw_version, instance.commit_stamp) == (
        "Harvey Ops",
        "127.0.0.1",
        "0.5.1",
        "abc123",
    )
    assert instance.starttime == dt.datetime(2025, 5, 6, 7, 8, 9, 10)
    assert instance.metadata == {"n_threads": 4}


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_heartbeat_updates_an_existing_instance(encoding):
    HarvesterInstance.objects.create(harvester_id=HARVESTER, lastupdate=utcnow() - dt.timedelta(days=1))
    before = utcnow()
    response = send_v1(
        "harvester/heartbeat", {"harvester_id": HARVESTER, "data": heartbeat_data()}, encoding, as_plain_user()
    )

    assert envelope(response) == {"success": True, "message": "succeeded", "data": None}
    instance = HarvesterInstance.objects.get(harvester_id=HARVESTER)
    assert instance.lastupdate >= before and instance.sw_version == "0.5.1"


def test_v1_heartbeat_without_data_only_touches_the_instance():
    response = send_v1("harvester/heartbeat", {"harvester_id": HARVESTER}, "json", as_plain_user())

    assert envelope(response)["success"] is True
    assert HarvesterInstance.objects.filter(harvester_id=HARVESTER).exists()


@pytest.mark.parametrize("data", ["{bad", json.dumps([1, 2]), json.dumps({"startTime": "never"})])
def test_heartbeat_with_bad_data_changes_nothing(data):
    legacy_response = send_legacy("harvesterIsAlive", {"harvesterID": HARVESTER, "data": data}, "form", as_plain_user())
    v1_response = send_v1("harvester/heartbeat", {"harvester_id": HARVESTER, "data": data}, "json", as_plain_user())

    assert decode_json(legacy_response)[0] is False
    assert envelope(v1_response)["success"] is False
    assert not HarvesterInstance.objects.exists()


# --- worker statistics ----------------------------------------------------------------------------

STATS = {
    "managed": {"SCORE": {"running": 3, "submitted": 2}, "Undefined": {"running": 1}},
    "user": {"MCORE": {"idle": 1}},
}


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_report_worker_stats_replaces_the_queues_counts(encoding):
    WorkerStats.objects.create(
        harvesterid=HARVESTER,
        computingsite="QUEUE_A",
        jobtype="managed",
        resourcetype="SCORE",
        status="finished",
        nworkers=9,
    )
    params = {"harvesterID": HARVESTER, "siteName": "QUEUE_A", "paramsList": json.dumps(STATS)}
    response = send_legacy("reportWorkerStats_jobtype", params, encoding, as_plain_user())

    assert decode_json(response) == [True, "OK"]
    rows = set(WorkerStats.objects.values_list("jobtype", "resourcetype", "status", "nworkers"))
    assert rows == {
        ("managed", "SCORE", "running", 3),
        ("managed", "SCORE", "submitted", 2),
        ("user", "MCORE", "idle", 1),
    }


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_report_worker_statistics_takes_the_statistics_as_a_json_string(encoding):
    params = {"harvester_id": HARVESTER, "panda_queue": "QUEUE_B", "statistics": json.dumps(STATS)}
    response = send_v1("harvester/report_worker_statistics", params, encoding, as_plain_user())

    assert envelope(response) == {"success": True, "message": "OK", "data": None}
    assert WorkerStats.objects.filter(computingsite="QUEUE_B").count() == 3


@pytest.mark.parametrize(
    "statistics",
    ["{oops", json.dumps({"managed": {"SCORE": {"running": -1}}}), json.dumps({"managed": ["SCORE"]}), json.dumps([1])],
)
def test_report_worker_statistics_with_bad_counts_keeps_the_old_ones(statistics):
    WorkerStats.objects.create(
        harvesterid=HARVESTER,
        computingsite="QUEUE_A",
        jobtype="managed",
        resourcetype="SCORE",
        status="running",
        nworkers=9,
    )
    params = {"harvester_id": HARVESTER, "panda_queue": "QUEUE_A", "statistics": statistics}
    response = send_v1("harvester/report_worker_statistics", params, "json", as_plain_user())
    legacy_response = send_legacy(
        "reportWorkerStats_jobtype",
        {"harvesterID": HARVESTER, "siteName": "QUEUE_A", "paramsList": statistics},
        "form",
        as_plain_user(),
    )

    assert envelope(response)["success"] is False
    assert decode_json(legacy_response)[0] is False
    assert list(WorkerStats.objects.values_list("nworkers", flat=True)) == [9]


def stats_rows():
    WorkerStats.objects.create(
        harvesterid="h1", computingsite="QUEUE_A", jobtype="managed", resourcetype="SCORE", status="running", nworkers=4
    )
    WorkerStats.objects.create(
        harvesterid="h1",
        computingsite="QUEUE_A",
        jobtype="managed",
        resourcetype="SCORE",
        status="submitted",
        nworkers=1,
    )
    WorkerStats.objects.create(
        harvesterid="h2", computingsite="QUEUE_B", jobtype="user", resourcetype="MCORE", status="running", nworkers=2
    )
    WorkerStats.objects.create(
        harvesterid="h3",
        computingsite="QUEUE_C",
        jobtype="user",
        resourcetype="MCORE",
        status="running",
        nworkers=2,
        lastupdate=utcnow() - dt.timedelta(hours=5),
    )


EXPECTED_STATS = {
    "QUEUE_A": {"h1": {"managed": {"SCORE": {"running": 4, "submitted": 1}}}},
    "QUEUE_B": {"h2": {"user": {"MCORE": {"running": 2}}}},
}


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_get_worker_stats_lists_recent_counts_per_queue_and_instance(encoding):
    stats_rows()
    response = send_legacy("getWorkerStats", {}, encoding, as_plain_user())

    assert decode_json(response) == EXPECTED_STATS


def test_v1_get_worker_statistics_lists_recent_counts_per_queue_and_instance():
    stats_rows()
    response = send_v1("harvester/get_worker_statistics", {}, "get", as_plain_user())

    assert envelope(response) == {"success": True, "message": "", "data": EXPECTED_STATS}


# --- worker ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_get_max_worker_id_answers_the_largest_known_id(encoding):
    Worker.objects.create(harvesterid=HARVESTER, workerid=17)
    Worker.objects.create(harvesterid=HARVESTER, workerid=5)
    Worker.objects.create(harvesterid="other", workerid=99)
    response = send_legacy("get_max_worker_id", {"harvester_id": HARVESTER}, encoding, as_plain_user())

    assert decode_json(response) == [True, 17]


def test_v1_get_current_worker_id_answers_the_largest_known_id_or_zero():
    Worker.objects.create(harvesterid=HARVESTER, workerid=23)

    known = send_v1("harvester/get_current_worker_id", {"harvester_id": HARVESTER}, "get", as_plain_user())
    unknown = send_v1("harvester/get_current_worker_id", {"harvester_id": "new-one"}, "get", as_plain_user())

    assert envelope(known) == {"success": True, "message": "", "data": 23}
    assert envelope(unknown)["data"] == 0


def test_get_current_worker_id_needs_a_harvester_id():
    v1_response = send_v1("harvester/get_current_worker_id", {}, "get", as_plain_user())
    legacy_response = send_legacy("get_max_worker_id", {}, "get", as_plain_user())

    assert envelope(v1_response)["message"] == "Argument error: missing required argument harvester_id"
    assert decode_json(legacy_response) == [False, "missing required argument harvester_id"]


# --- commands -------------------------------------------------------------------------------------


def two_commands():
    harvester_command_add(harvester_id=HARVESTER, command="KILL_WORKERS", params={"computingSite": ["QUEUE_A"]})
    harvester_command_add(
        harvester_id=HARVESTER, command="SET_N_WORKERS_JOBTYPE", params={"managed": {"SCORE": 3}}, ack_requested=True
    )
    harvester_command_add(harvester_id="someone-else", command="KILL_WORKERS", params={})


def assert_command_dicts(commands):
    assert [c["command"] for c in commands] == ["KILL_WORKERS", "SET_N_WORKERS_JOBTYPE"]
    assert commands[0]["params"] == {"computingSite": ["QUEUE_A"]}
    assert [c["ack_requested"] for c in commands] == [False, True]
    for command in commands:
        assert set(command) == {"command_id", "command", "params", "ack_requested", "creation_date"}
        dt.datetime.strptime(command["creation_date"], "%Y-%m-%dT%H:%M:%S.%f")


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_get_commands_hands_out_new_commands_once(encoding):
    two_commands()
    params = {"harvester_id": HARVESTER, "n_commands": "10"}
    first = send_legacy("getCommands", params, encoding, accept_json(as_production()))
    second = send_legacy("getCommands", params, encoding, accept_json(as_production()))

    body = decode_json(first)
    assert (body["StatusCode"], body["Returns"]) == (0, 0)
    assert_command_dicts(body["Commands"])
    assert decode_json(second)["Commands"] == []
    assert set(HarvesterCommand.objects.filter(harvester_id=HARVESTER).values_list("status", flat=True)) == {
        "retrieved"
    }


def test_legacy_get_commands_answers_urlencoded_without_accept_json():
    two_commands()
    response = send_legacy("getCommands", {"harvester_id": HARVESTER, "n_commands": 1}, "form", as_production())

    body = decode_urlencoded(response)
    assert body["StatusCode"] == "0"
    assert [c["command"] for c in json.loads(body["Commands"])] == ["KILL_WORKERS"]


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_acquire_commands_hands_out_the_oldest_new_commands(encoding):
    two_commands()
    response = send_v1(
        "harvester/acquire_commands", {"harvester_id": HARVESTER, "n_commands": 5}, encoding, as_production()
    )

    body = envelope(response)
    assert body["success"] is True
    assert_command_dicts(body["data"])


def test_acquire_commands_respects_n_commands():
    two_commands()
    response = send_v1(
        "harvester/acquire_commands", {"harvester_id": HARVESTER, "n_commands": 1}, "json", as_production()
    )

    assert [c["command"] for c in envelope(response)["data"]] == ["KILL_WORKERS"]
    assert HarvesterCommand.objects.get(command="SET_N_WORKERS_JOBTYPE", harvester_id=HARVESTER).status == "new"


def test_commands_need_the_production_role():
    two_commands()
    legacy_response = send_legacy(
        "getCommands", {"harvester_id": HARVESTER, "n_commands": 5}, "form", accept_json(as_plain_user())
    )
    v1_response = send_v1(
        "harvester/acquire_commands", {"harvester_id": HARVESTER, "n_commands": 5}, "json", as_plain_user()
    )
    ack_legacy = send_legacy("ackCommands", {"command_ids": "[1]"}, "form", as_plain_user())
    ack_v1 = send_v1("harvester/acknowledge_commands", {"command_ids": [1]}, "json", as_plain_user())

    assert decode_json(legacy_response) == {
        "StatusCode": 60,
        "errorDialog": "no production/pilot role in VOMS FQANs or non pilot owner",
    }
    assert envelope(v1_response)["success"] is False
    assert decode_urlencoded(ack_legacy) == {"StatusCode": "60"}
    assert envelope(ack_v1)["success"] is False
    assert set(HarvesterCommand.objects.values_list("status", flat=True)) == {"new"}


@pytest.mark.parametrize("n_commands", ["many", "-1"])
def test_get_commands_with_a_bad_count_changes_nothing(n_commands):
    two_commands()
    legacy_response = send_legacy(
        "getCommands", {"harvester_id": HARVESTER, "n_commands": n_commands}, "form", as_production()
    )
    v1_response = send_v1(
        "harvester/acquire_commands", {"harvester_id": HARVESTER, "n_commands": n_commands}, "form", as_production()
    )

    assert legacy_response.status_code == 400
    assert envelope(v1_response)["message"].startswith("Argument error: n_commands")
    assert set(HarvesterCommand.objects.values_list("status", flat=True)) == {"new"}


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_ack_commands_acknowledges_the_listed_commands(encoding):
    two_commands()
    ids = list(HarvesterCommand.objects.filter(harvester_id=HARVESTER).values_list("pk", flat=True))
    response = send_legacy("ackCommands", {"command_ids": json.dumps(ids)}, encoding, accept_json(as_production()))

    assert decode_json(response) == {"StatusCode": 0, "Returns": 0}
    assert set(HarvesterCommand.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"acknowledged"}
    assert HarvesterCommand.objects.get(harvester_id="someone-else").status == "new"


@pytest.mark.parametrize("encoding", [*V1_POST_ENCODINGS, "json-string"])
def test_v1_acknowledge_commands_acknowledges_the_listed_commands(encoding):
    two_commands()
    ids = list(HarvesterCommand.objects.filter(harvester_id=HARVESTER).values_list("pk", flat=True))
    value = json.dumps(ids) if encoding == "json-string" else ids
    response = send_v1(
        "harvester/acknowledge_commands",
        {"command_ids": value},
        "json" if encoding == "json-string" else encoding,
        as_production(),
    )

    assert envelope(response) == {"success": True, "message": "", "data": None}
    assert HarvesterCommand.objects.filter(status="acknowledged").count() == 2


@pytest.mark.parametrize("command_ids", ['[1, "x"]', "[0]", "{bad"])
def test_acknowledge_commands_with_bad_ids_changes_nothing(command_ids):
    two_commands()
    legacy_response = send_legacy("ackCommands", {"command_ids": command_ids}, "form", as_production())
    v1_response = send_v1("harvester/acknowledge_commands", {"command_ids": command_ids}, "json", as_production())

    assert legacy_response.status_code == 400
    assert envelope(v1_response)["success"] is False
    assert not HarvesterCommand.objects.filter(status="acknowledged").exists()


# --- sweeps ---------------------------------------------------------------------------------------


@pytest.fixture
def served_queue():
    document = queue_document(
        "QUEUE_H",
        "SITE_H",
        harvester=HARVESTER,
        queues=[{"ce_endpoint": "ce1.example.org"}, {"ce_endpoint": "ce2.example.org"}],
    )
    return PandaQueueFactory(name="QUEUE_H", document=document)


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_sweep_pq_queues_a_kill_workers_command_for_the_serving_instance(encoding, served_queue):
    params = {
        "panda_queue": json.dumps("QUEUE_H"),
        "status_list": json.dumps(["submitted", "running"]),
        "ce_list": json.dumps(["ce1.example.org", "unknown-ce"]),
        "submission_host_list": json.dumps(["h1"]),
    }
    response = send_legacy("sweepPQ", params, encoding, as_production())

    assert decode_json(response) == [True, "OK"]
    command = HarvesterCommand.objects.get(harvester_id=HARVESTER)
    assert (command.command, command.status, command.ack_requested) == ("KILL_WORKERS", "new", False)
    assert command.params == {
        "status": ["submitted", "running"],
        "computingSite": ["QUEUE_H"],
        "computingElement": ["ce1.example.org"],
        "submissionHost": ["h1"],
    }


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_add_sweep_command_queues_a_kill_workers_command(encoding, served_queue):
    params = {
        "panda_queue": "QUEUE_H",
        "status_list": ["running", "idle"],
        "ce_list": "ALL",
        "submission_host_list": ["h1", "h2"],
    }
    response = send_v1("harvester/add_sweep_command", params, encoding, as_production())

    assert envelope(response) == {"success": True, "message": "OK", "data": None}
    assert HarvesterCommand.objects.get(harvester_id=HARVESTER).params["computingElement"] == "ALL"


def test_a_new_sweep_replaces_the_previous_one(served_queue):
    params = {"panda_queue": "QUEUE_H", "status_list": ["running"], "ce_list": "ALL", "submission_host_list": []}
    send_v1("harvester/add_sweep_command", params, "json", as_production())
    send_v1("harvester/add_sweep_command", {**params, "status_list": ["idle"]}, "json", as_production())

    assert list(HarvesterCommand.objects.values_list("params", flat=True)) == [
        {"status": ["idle"], "computingSite": ["QUEUE_H"], "computingElement": "ALL", "submissionHost": []}
    ]


def test_sweeping_a_queue_no_instance_serves_queues_nothing():
    PandaQueueFactory(name="QUEUE_LONELY")
    params = {"panda_queue": "QUEUE_LONELY", "status_list": ["running"], "ce_list": "ALL", "submission_host_list": []}
    response = send_v1("harvester/add_sweep_command", params, "json", as_production())
    unknown = send_v1("harvester/add_sweep_command", {**params, "panda_queue": "NOPE"}, "json", as_production())

    assert envelope(response) == {"success": False, "message": "Queue not served by any harvester ID", "data": None}
    assert envelope(unknown)["message"] == "Error retrieving queue configuration from DB"
    assert not HarvesterCommand.objects.exists()


def test_sweeps_need_the_production_role(served_queue):
    params = {"panda_queue": "QUEUE_H", "status_list": ["running"], "ce_list": "ALL", "submission_host_list": []}
    v1_response = send_v1("harvester/add_sweep_command", params, "json", as_plain_user())
    legacy_response = send_legacy("sweepPQ", {k: json.dumps(v) for k, v in params.items()}, "form", as_plain_user())

    assert envelope(v1_response)["success"] is False
    assert decode_json(legacy_response)[0] is False
    assert not HarvesterCommand.objects.exists()


def test_a_sweep_with_a_bad_status_list_changes_nothing(served_queue):
    params = {"panda_queue": "QUEUE_H", "status_list": [{"x": 1}], "ce_list": "ALL", "submission_host_list": []}
    response = send_v1("harvester/add_sweep_command", params, "json", as_production())

    assert envelope(response)["message"] == "Argument error: status_list must be a list of strings"
    assert not HarvesterCommand.objects.exists()


# --- target slots ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_set_num_slots_for_wp_sets_a_target(encoding):
    params = {
        "pandaQueueName": "QUEUE_A",
        "numSlots": "50",
        "gshare": "Test",
        "resourceType": "SCORE",
        "validPeriod": "2",
    }
    response = send_legacy("setNumSlotsForWP", params, encoding, as_production())

    assert decode_json(response) == [0, "set numSlots=50 for PQ=QUEUE_A gshare=Test resource=SCORE"]
    slots = HarvesterSlots.objects.get()
    assert (slots.numslots, slots.gshare, slots.resourcetype) == (50, "Test", "SCORE")
    assert slots.expirationtime > utcnow() + dt.timedelta(days=1)


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_add_target_slots_sets_updates_and_removes_a_target(encoding):
    first = send_v1("harvester/add_target_slots", {"panda_queue": "QUEUE_A", "slots": 10}, encoding, as_production())
    second = send_v1(
        "harvester/add_target_slots",
        {"panda_queue": "QUEUE_A", "slots": 20, "expiration_date": "2030-01-01"},
        encoding,
        as_production(),
    )

    assert envelope(first) == {
        "success": True,
        "message": "set numSlots=10 for PQ=QUEUE_A gshare=None resource=None",
        "data": None,
    }
    assert envelope(second)["success"] is True
    slots = HarvesterSlots.objects.get()
    assert (slots.numslots, slots.gshare, slots.expirationtime) == (20, "", dt.datetime(2030, 1, 1))

    send_v1("harvester/add_target_slots", {"panda_queue": "QUEUE_A", "slots": -1}, encoding, as_production())
    assert not HarvesterSlots.objects.exists()


@pytest.mark.parametrize("params", [{"slots": "lots"}, {"slots": -5}, {"slots": 3, "expiration_date": "someday"}])
def test_add_target_slots_with_bad_input_changes_nothing(params):
    response = send_v1("harvester/add_target_slots", {"panda_queue": "QUEUE_A", **params}, "json", as_production())

    assert envelope(response)["success"] is False
    assert not HarvesterSlots.objects.exists()


def test_target_slots_need_the_production_role():
    legacy_response = send_legacy(
        "setNumSlotsForWP", {"pandaQueueName": "QUEUE_A", "numSlots": 5}, "form", as_plain_user()
    )
    v1_response = send_v1("harvester/add_target_slots", {"panda_queue": "QUEUE_A", "slots": 5}, "json", as_plain_user())

    assert decode_json(legacy_response)[0] == 1
    assert envelope(v1_response)["success"] is False
    assert not HarvesterSlots.objects.exists()


def test_legacy_set_num_slots_needs_an_integer():
    response = send_legacy("setNumSlotsForWP", {"pandaQueueName": "QUEUE_A", "numSlots": "x"}, "form", as_production())

    assert decode_json(response)[0] == 102
    assert not HarvesterSlots.objects.exists()


# --- dialogs and service metrics ------------------------------------------------------------------

DIALOGS = [
    {
        "diagID": 1,
        "moduleName": "submitter",
        "identifier": "w1",
        "creationTime": "2025-01-01 00:00:00.000001",
        "messageLevel": "ERROR",
        "diagMessage": "sbatch failed",
    },
    {
        "diagID": 2,
        "moduleName": "monitor",
        "identifier": "w2",
        "creationTime": "2025-01-01 00:00:01.000000",
        "messageLevel": "WARNING",
        "diagMessage": "slow",
    },
]


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_add_harvester_dialogs_stores_the_messages(encoding):
    response = send_legacy(
        "addHarvesterDialogs", {"harvesterID": HARVESTER, "dialogs": json.dumps(DIALOGS)}, encoding, as_plain_user()
    )

    assert decode_json(response) == [True, ""]
    assert list(HarvesterDialog.objects.order_by("diagid").values_list("diagmessage", flat=True)) == [
        "sbatch failed",
        "slow",
    ]


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_add_dialogs_replaces_a_message_with_a_known_id(encoding):
    send_v1("harvester/add_dialogs", {"harvester_id": HARVESTER, "dialogs": DIALOGS}, encoding, as_plain_user())
    again = [{**DIALOGS[0], "diagMessage": "sbatch failed again"}]
    response = send_v1(
        "harvester/add_dialogs", {"harvester_id": HARVESTER, "dialogs": again}, encoding, as_plain_user()
    )

    assert envelope(response)["success"] is True
    assert HarvesterDialog.objects.count() == 2
    assert HarvesterDialog.objects.get(diagid=1).diagmessage == "sbatch failed again"


def test_dialogs_without_an_id_change_nothing():
    response = send_v1(
        "harvester/add_dialogs", {"harvester_id": HARVESTER, "dialogs": [DIALOGS[0], {"a": 1}]}, "json", as_plain_user()
    )

    assert envelope(response)["message"] == "Argument error: dialogs[1] must be an object with a diagID"
    assert not HarvesterDialog.objects.exists()


METRICS = [["2025-01-01 00:00:00.000000", "harvester-host", json.dumps({"rss_mib": 120, "cpu_pc": 3.5})]]


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
def test_legacy_update_service_metrics_stores_the_metrics(encoding):
    response = send_legacy(
        "updateServiceMetrics", {"harvesterID": HARVESTER, "metrics": json.dumps(METRICS)}, encoding, as_plain_user()
    )

    assert decode_json(response) == [True, 1]
    row = HarvesterServiceMetrics.objects.get()
    assert (row.harvester_host, row.metrics) == ("harvester-host", {"rss_mib": 120, "cpu_pc": 3.5})


@pytest.mark.parametrize("encoding", V1_POST_ENCODINGS)
def test_v1_update_service_metrics_stores_the_metrics(encoding):
    metrics = [{"creation_time": "2025-01-01 00:00:00", "harvester_host": "h", "metrics": {"n_workers": 3}}]
    response = send_v1(
        "harvester/update_service_metrics", {"harvester_id": HARVESTER, "metrics": metrics}, encoding, as_plain_user()
    )

    assert envelope(response) == {"success": True, "message": "", "data": 1}
    assert HarvesterServiceMetrics.objects.get().metrics == {"n_workers": 3}


def test_bad_service_metrics_change_nothing():
    response = send_v1(
        "harvester/update_service_metrics", {"harvester_id": HARVESTER, "metrics": [[1, 2]]}, "json", as_plain_user()
    )

    assert envelope(response)["success"] is False
    assert not HarvesterServiceMetrics.objects.exists()


# --- job statistics for the worker adjuster -------------------------------------------------------


def test_active_job_stats_by_site_counts_unfinished_jobs_per_queue_and_state():
    for status in ["activated", "activated", "running", "defined", "merging", "finished"]:
        job_with_files(jobstatus=status, computingsite="QUEUE_A", n_inputs=0)
    job_with_files(jobstatus="sent", computingsite="QUEUE_B", n_inputs=0)

    response = Client().get(v1("statistics/active_job_stats_by_site"), **as_plain_user())

    assert envelope(response) == {
        "success": True,
        "message": "",
        "data": {
            "QUEUE_A": {"activated": 2, "running": 1, "defined": 1, "assigned": 0},
            "QUEUE_B": {"sent": 1, "assigned": 0, "activated": 0, "running": 0},
        },
    }


def test_active_job_stats_by_site_of_an_empty_grid_is_an_empty_object():
    response = Client().get(v1("statistics/active_job_stats_by_site"), **as_plain_user())

    assert envelope(response) == {"success": True, "message": "", "data": {}}


def test_active_job_stats_by_site_needs_an_authenticated_caller_and_a_get():
    anonymous = Client().get(v1("statistics/active_job_stats_by_site"))
    posted = Client().post(v1("statistics/active_job_stats_by_site"), **as_plain_user())

    assert anonymous.status_code == 403
    assert envelope(posted)["message"] == "expecting GET method, got POST"
