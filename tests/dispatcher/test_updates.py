import datetime as dt
import json

import pytest

from apps.jobs.models import Job, JobMetadata, JobOutputReport, JobStatusLog, JobText
from apps.workers.models import Worker
from tests.dispatcher.update_wire import (
    accept_json,
    as_pilot,
    as_plain_user,
    as_production,
    decode_json,
    decode_urlencoded,
    get_query,
    legacy,
    post_form,
    post_gzip_json_legacy,
    post_gzip_json_v1,
    post_json,
    post_urlencoded,
    v1,
)
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

LONG_AGO = dt.datetime(2020, 1, 1)
LEGACY_SENDERS = [post_gzip_json_legacy, post_urlencoded, post_form, post_json, get_query]
V1_POSTERS = [post_json, post_gzip_json_v1, post_urlencoded]


def pilot_heartbeat(job, **extra) -> dict:
    """What pilot 3.11 sends with a running heartbeat."""
    return {
        "jobId": job.pandaid,
        "state": "running",
        "timestamp": "2024-05-01T10:00:00+00:00",
        "siteName": "QUEUE_A",
        "node": "wn042.example.org",
        "attemptNr": job.attemptnr,
        "schedulerID": "harvester-1",
        "pilotID": "https://logs/1.out|PR|3.11.5",
        "batchID": "condor.123.0",
        "startTime": 1714557600.25,
        "xml": "",
        "metaData": "",
        "coreCount": 8,
        "cpuConsumptionUnit": "s+AMD EPYC 7351 16-Core Processor 8-Core Processor 1-Socket+AVX2",
        "cpuConsumptionTime": 1234,
        "cpuConversionFactor": 1.0,
        "cpu_architecture_level": "x86-64-v3",
        "meanCoreCount": 7.8,
        "jobMetrics": "coreCount=8 leak=12.5 chi2=0.8",
        "maxRSS": 2000000,
        "avgRSS": 1500000.6,
        "totRBYTES": 4096,
        "rateRBYTES": 100,
        **extra,
    }


def snapshot(job) -> dict:
    return Job.objects.filter(pk=job.pk).values().get()


# --- legacy updateJob -------------------------------------------------------------------------


@pytest.mark.parametrize("send", LEGACY_SENDERS)
def test_legacy_heartbeat_in_every_encoding_answers_urlencoded_and_updates_the_job(send):
    job = JobFactory(jobstatus="starting", modificationtime=LONG_AGO)

    response = send(legacy("updateJob"), pilot_heartbeat(job), as_production())

    assert response.status_code == 200
    assert response.content == b"StatusCode=0&command=NULL"
    job = Job.objects.get(pk=job.pk)
    assert job.jobstatus == "running"
    assert job.modificationtime > LONG_AGO
    assert (job.modificationhost, job.batchid, job.actualcorecount, job.meancorecount) == (
        "wn042.example.org",
        "condor.123.0",
        8,
        7.8,
    )
    assert (job.cpuconsumptiontime, job.maxrss, job.avgrss, job.totrbytes, job.raterbytes) == (
        1234,
        2000000,
        1500000,
        4,
        100,
    )
    assert (job.memory_leak, job.memory_leak_x2) == (12, 0.8)
    assert job.starttime == dt.datetime(2024, 5, 1, 10, 0, 0, 250000)


@pytest.mark.parametrize("send", LEGACY_SENDERS)
def test_legacy_heartbeat_with_accept_json_answers_json(send):
    job = JobFactory(jobstatus="running")

    response = send(legacy("updateJob"), pilot_heartbeat(job), accept_json(as_pilot()))

    assert decode_json(response) == {"StatusCode": 0, "command": "NULL"}


@pytest.mark.parametrize(
    ("specialhandling", "commandtopilot", "command"),
    [(None, "tobekilled", "tobekilled"), ("dm", None, "debug"), ("dm", "tobekilled", "debug,tobekilled")],
)
def test_legacy_answer_carries_the_command(specialhandling, commandtopilot, command):
    job = JobFactory(jobstatus="running", specialhandling=specialhandling, commandtopilot=commandtopilot)

    response = post_urlencoded(legacy("updateJob"), pilot_heartbeat(job), as_production())
    as_json = post_urlencoded(legacy("updateJob"), pilot_heartbeat(job), accept_json(as_production()))

    assert decode_urlencoded(response) == {"StatusCode": "0", "command": command}
    assert decode_json(as_json) == {"StatusCode": 0, "command": command}


def test_legacy_refusal_answers_tobekilled_and_alreadydone_in_the_command_field():
    gone = JobFactory(jobstatus="cancelled")
    done = JobFactory(jobstatus="holding")

    killed = post_urlencoded(legacy("updateJob"), {"jobId": gone.pandaid, "state": "running"}, as_production())
    already = post_urlencoded(legacy("updateJob"), {"jobId": done.pandaid, "state": "finished"}, as_production())

    assert killed.content == b"StatusCode=0&command=tobekilled"
    assert already.content == b"StatusCode=0&command=alreadydone"


@pytest.mark.parametrize("send", [post_gzip_json_legacy, post_urlencoded])
def test_legacy_final_update_stores_holding_the_output_report_job_report_and_pilot_log(send):
    job = JobFactory(jobstatus="running", attemptnr=2)
    report = {"log.1.tgz": {"guid": "ABC", "fsize": 10, "adler32": "0a0b0c0d", "surl": "file:///x", "endpoint": "SE"}}
    params = pilot_heartbeat(
        job,
        state="finished",
        xml=json.dumps(report),
        metaData='{"files": {"output": []}}',
        pilotLog="log tail",
        endTime=1714561200,
        pilotErrorCode=0,
        transExitCode=0,
        exeErrorCode=0,
        exeErrorDiag="",
        pilotTiming="1|2|3|4|5",
    )

    response = send(legacy("updateJob"), params, as_production())

    assert response.content == b"StatusCode=0&command=NULL"
    job = Job.objects.get(pk=job.pk)
    assert (job.jobstatus, job.endtime, job.transexitcode) == ("holding", dt.datetime(2024, 5, 1, 11, 0), "0")
    stored = JobOutputReport.objects.get(job=job)
    assert (stored.attemptnr, stored.final_status, json.loads(stored.data)) == (2, "finished", report)
    assert JobMetadata.objects.get(job=job).metadata == '{"files": {"output": []}}'
    assert JobText.objects.get(job=job, kind="pilotlog").text == "log tail"


def test_legacy_job_output_report_sent_as_a_json_object_is_stored_as_json_text():
    job = JobFactory(jobstatus="running")
    report = {"out.root": {"guid": "G", "fsize": 1, "adler32": "01234567"}}

    post_json(legacy("updateJob"), {"jobId": job.pandaid, "state": "failed", "xml": report}, as_production())

    assert json.loads(JobOutputReport.objects.get(job=job).data) == report


def test_legacy_null_job_id_answers_success_and_changes_nothing():
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_urlencoded(legacy("updateJob"), {"jobId": "NULL", "state": "running"}, as_production())

    assert response.content == b"StatusCode=0"
    assert snapshot(job) == before


@pytest.mark.parametrize("state", ["paused", "sent", "activated", ""])
def test_legacy_invalid_state_answers_success_and_changes_nothing(state):
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_urlencoded(legacy("updateJob"), {"jobId": job.pandaid, "state": state}, as_production())

    assert decode_urlencoded(response) == {"StatusCode": "0"}
    assert snapshot(job) == before


@pytest.mark.parametrize("headers", [as_plain_user, dict])
def test_legacy_update_without_pilot_or_production_role_answers_60_and_changes_nothing(headers):
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    plain = post_urlencoded(legacy("updateJob"), pilot_heartbeat(job), headers())
    as_json = post_urlencoded(legacy("updateJob"), pilot_heartbeat(job), accept_json(headers()))

    assert plain.content == b"StatusCode=60"
    assert decode_json(as_json) == {
        "StatusCode": 60,
        "errorDialog": "no production/pilot role in VOMS FQANs or non pilot owner",
    }
    assert snapshot(job) == before


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"jobId": "abc", "state": "running"}, "ERROR : jobId must be a PandaID, got 'abc'"),
        ({"jobId": "-5", "state": "running"}, "ERROR : jobId must be a PandaID, got '-5'"),
        ({"state": "running"}, "ERROR : missing required argument jobId"),
        ({"jobId": "1"}, "ERROR : missing required argument state"),
    ],
)
def test_legacy_update_with_unusable_parameters_is_a_400_and_changes_nothing(params, error):
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_urlencoded(legacy("updateJob"), params, as_production())

    assert response.status_code == 400
    assert response.content.decode() == error
    assert snapshot(job) == before


def test_legacy_undecodable_body_is_a_400_and_changes_nothing():
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)
    from django.test import Client

    response = Client().generic(
        "POST", legacy("updateJob"), b"\x1f\x8bnot gzip", content_type="application/json", **as_production()
    )

    assert response.status_code == 400
    assert response.content.decode().startswith("ERROR : received invalid JSON")
    assert snapshot(job) == before


def test_legacy_unknown_parameters_and_bad_numbers_are_ignored():
    job = JobFactory(jobstatus="running")

    response = post_urlencoded(
        legacy("updateJob"),
        {"jobId": job.pandaid, "state": "running", "brandNewKey": "x", "maxRSS": "lots", "pilotErrorCode": "x"},
        as_production(),
    )

    assert response.content == b"StatusCode=0&command=NULL"
    assert Job.objects.get(pk=job.pk).maxrss is None


def test_legacy_job_report_for_an_unknown_job_answers_success_without_command():
    response = post_urlencoded(
        legacy("updateJob"), {"jobId": 99999999, "state": "finished", "metaData": "{}"}, as_production()
    )

    assert response.content == b"StatusCode=0"


def test_legacy_attempt_number_mismatch_answers_tobekilled_and_changes_nothing():
    job = JobFactory(jobstatus="running", attemptnr=3, modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_urlencoded(legacy("updateJob"), pilot_heartbeat(job, attemptNr=2), as_production())

    assert response.content == b"StatusCode=0&command=tobekilled"
    assert snapshot(job) == before


def test_legacy_heartbeat_hot_path_statement_count(django_assert_max_num_queries):
    job = JobFactory(jobstatus="running")
    headers = as_production()
    post_urlencoded(legacy("updateJob"), pilot_heartbeat(job), headers)  # caches the token

    with django_assert_max_num_queries(2):
        response = post_urlencoded(legacy("updateJob"), pilot_heartbeat(job), headers)

    assert response.content == b"StatusCode=0&command=NULL"


# --- legacy updateJobsInBulk ------------------------------------------------------------------


def test_legacy_bulk_answers_true_and_one_urlencoded_answer_per_job():
    running = JobFactory(jobstatus="starting")
    killed = JobFactory(jobstatus="running", commandtopilot="tobekilled")
    job_list = [
        {"jobId": running.pandaid, "state": "running", "attemptNr": running.attemptnr, "nEvents": 5},
        {"jobId": killed.pandaid, "state": "failed", "xml": "{}", "metaData": {"a": 1}, "jobSubStatus": "pilot_closed"},
        {"jobId": "NULL", "state": "running"},
    ]

    response = post_urlencoded(
        legacy("updateJobsInBulk"), {"jobList": json.dumps(job_list), "harvester_id": "h1"}, as_production()
    )

    assert decode_json(response) == [
        True,
        ["StatusCode=0&command=NULL", "StatusCode=0&command=tobekilled", "StatusCode=0"],
    ]
    assert Job.objects.get(pk=running.pk).nevents == 5
    killed = Job.objects.get(pk=killed.pk)
    assert (killed.jobstatus, killed.jobsubstatus) == ("holding", "pilot_closed")
    assert json.loads(JobMetadata.objects.get(job=killed).metadata) == {"a": 1}


@pytest.mark.parametrize("send", [post_gzip_json_legacy, post_urlencoded, post_json])
def test_legacy_bulk_with_accept_json_wraps_each_answer(send):
    job = JobFactory(jobstatus="running", specialhandling="dm")

    response = send(
        legacy("updateJobsInBulk"),
        {"jobList": json.dumps([{"jobId": job.pandaid, "state": "running"}])},
        accept_json(as_production()),
    )

    body = decode_json(response)
    assert body == [True, [{"type": "json", "content": '{"StatusCode": 0, "command": "debug"}'}]]
    assert json.loads(body[1][0]["content"]) == {"StatusCode": 0, "command": "debug"}


@pytest.mark.parametrize(
    ("job_list", "message"),
    [
        ("not json", "jobList is not valid JSON"),
        (json.dumps({"jobId": 1}), "jobList must be a JSON list of objects"),
        (None, "jobList must be a JSON list of objects"),
    ],
)
def test_legacy_bulk_with_an_unusable_job_list_answers_false_and_changes_nothing(job_list, message):
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)
    params = {} if job_list is None else {"jobList": job_list}

    response = post_urlencoded(legacy("updateJobsInBulk"), params, as_production())

    ok, text = decode_json(response)
    assert ok is False
    assert text.startswith(message)
    assert snapshot(job) == before


def test_legacy_bulk_with_one_bad_entry_applies_none_of_them():
    good = JobFactory(jobstatus="sent", modificationtime=LONG_AGO)
    before = snapshot(good)
    job_list = [{"jobId": good.pandaid, "state": "running"}, {"state": "running"}]

    response = post_urlencoded(legacy("updateJobsInBulk"), {"jobList": json.dumps(job_list)}, as_production())

    assert decode_json(response) == [False, "jobList[1]: missing required argument jobId"]
    assert snapshot(good) == before


def test_legacy_bulk_without_role_answers_false():
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_urlencoded(
        legacy("updateJobsInBulk"),
        {"jobList": json.dumps([{"jobId": job.pandaid, "state": "running"}])},
        as_plain_user(),
    )

    assert decode_json(response) == [False, "no production/pilot role in VOMS FQANs or non pilot owner"]
    assert snapshot(job) == before


# --- v1 pilot/update_job ----------------------------------------------------------------------


def v1_heartbeat(job, **extra) -> dict:
    return {
        "job_id": job.pandaid,
        "job_status": "running",
        "attempt_nr": job.attemptnr,
        "node": "wn7",
        "site_name": "QUEUE_A",
        "batch_id": "condor.5.0",
        "core_count": 4,
        "mean_core_count": 3.9,
        "max_rss": 1000,
        "tot_rchar": 8192,
        "rate_rchar": 8192,
        "start_time": "2024-05-01 10:00:00",
        "job_metrics": "leak=5",
        "timeout": 60,
        **extra,
    }


@pytest.mark.parametrize("send", V1_POSTERS)
def test_v1_heartbeat_in_every_encoding_answers_the_envelope_and_updates_the_job(send):
    job = JobFactory(jobstatus="sent", modificationtime=LONG_AGO)

    response = send(v1("pilot/update_job"), v1_heartbeat(job), as_production())

    assert decode_json(response) == {"success": True, "message": "", "data": {"StatusCode": 0, "command": None}}
    job = Job.objects.get(pk=job.pk)
    assert (job.jobstatus, job.modificationhost, job.batchid, job.actualcorecount) == (
        "running",
        "wn7",
        "condor.5.0",
        4,
    )
    assert (job.maxrss, job.totrchar, job.raterchar, job.memory_leak) == (1000, 8, 8, 5)
    assert job.starttime == dt.datetime(2024, 5, 1, 10, 0, 0)
    assert JobStatusLog.objects.get(pandaid=job.pandaid).jobstatus == "running"


def test_v1_answer_puts_the_command_inside_data():
    job = JobFactory(jobstatus="running", specialhandling="dm", commandtopilot="tobekilled")

    response = post_json(v1("pilot/update_job"), v1_heartbeat(job), as_production())

    assert decode_json(response)["data"] == {"StatusCode": 0, "command": "debug,tobekilled"}


def test_v1_refusals_are_commands_too():
    job = JobFactory(jobstatus="running", attemptnr=2)

    response = post_json(v1("pilot/update_job"), v1_heartbeat(job, attempt_nr=1), as_production())

    assert decode_json(response) == {"success": True, "message": "", "data": {"StatusCode": 0, "command": "tobekilled"}}


def test_v1_final_update_stores_the_report_and_job_report():
    job = JobFactory(jobstatus="running")
    report = {"log.tgz": {"guid": "G", "fsize": 3, "adler32": "01234567"}}

    response = post_gzip_json_v1(
        v1("pilot/update_job"),
        {
            "job_id": job.pandaid,
            "job_status": "failed",
            "job_output_report": json.dumps(report),
            "meta_data": '{"exitCode": 65}',
            "pilot_log": "log",
            "stdout": "tail",
            "pilot_error_code": -1305,
            "pilot_error_diag": "payload failed",
            "end_time": "2024-05-01 11:00:00",
        },
        as_production(),
    )

    assert decode_json(response)["data"] == {"StatusCode": 0, "command": None}
    job = Job.objects.get(pk=job.pk)
    assert (job.jobstatus, job.piloterrorcode, job.piloterrordiag) == ("holding", 1305, "payload failed")
    assert json.loads(JobOutputReport.objects.get(job=job).data) == report
    assert JobMetadata.objects.get(job=job).metadata == '{"exitCode": 65}'
    assert dict(JobText.objects.filter(job=job).values_list("kind", "text")) == {"pilotlog": "log", "stdout": "tail"}


@pytest.mark.parametrize("job_id", [None, "NULL"])
def test_v1_null_job_id_answers_invalid_and_changes_nothing(job_id):
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_json(v1("pilot/update_job"), {"job_id": job_id, "job_status": "running"}, as_production())

    assert decode_json(response) == {"success": False, "message": "job_id is NULL", "data": {"StatusCode": 50}}
    assert snapshot(job) == before


def test_v1_invalid_status_answers_invalid_and_changes_nothing():
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_json(v1("pilot/update_job"), {"job_id": job.pandaid, "job_status": "paused"}, as_production())

    assert decode_json(response) == {
        "success": False,
        "message": "Invalid job status: paused",
        "data": {"StatusCode": 50},
    }
    assert snapshot(job) == before


def test_v1_job_report_for_an_unknown_job_answers_status_30():
    response = post_json(
        v1("pilot/update_job"), {"job_id": 98765, "job_status": "finished", "meta_data": "{}"}, as_production()
    )

    assert decode_json(response) == {
        "success": True,
        "message": "Failed to add meta_data",
        "data": {"StatusCode": 30, "ErrorDiag": "Failed to add meta_data"},
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"job_status": "running", "bogus": 1}, "Argument error: unexpected keyword argument(s) bogus"),
        ({"job_status": "running", "attempt_nr": "one"}, "Argument error: attempt_nr must be an integer, got 'one'"),
        ({"job_status": "running", "max_rss": "lots"}, "Argument error: max_rss must be a number, got 'lots'"),
        ({}, "Argument error: missing required argument job_status"),
        ({"job_status": "running", "job_id": "abc"}, "Argument error: job_id must be a PandaID, got 'abc'"),
    ],
)
def test_v1_bad_arguments_are_refused_and_change_nothing(params, message):
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_json(v1("pilot/update_job"), {"job_id": job.pandaid, **params}, as_production())

    assert decode_json(response) == {"success": False, "message": message, "data": None}
    assert snapshot(job) == before


def test_v1_update_job_must_be_posted():
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = get_query(v1("pilot/update_job"), {"job_id": job.pandaid, "job_status": "running"}, as_production())

    body = decode_json(response)
    assert (body["success"], body["message"].startswith("expecting POST")) == (False, True)
    assert snapshot(job) == before


@pytest.mark.parametrize("headers", [as_pilot, as_plain_user, dict])
def test_v1_update_needs_the_production_role(headers):
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_json(v1("pilot/update_job"), v1_heartbeat(job), headers())

    assert decode_json(response)["success"] is False
    assert snapshot(job) == before


# --- v1 pilot/update_jobs_bulk ----------------------------------------------------------------


@pytest.mark.parametrize("send", V1_POSTERS)
def test_v1_bulk_answers_one_envelope_per_job_in_order(send):
    first = JobFactory(jobstatus="sent")
    second = JobFactory(jobstatus="running", commandtopilot="tobekilled")
    job_list = [
        {"job_id": first.pandaid, "job_status": "starting"},
        {"job_id": second.pandaid, "job_status": "failed", "job_sub_status": "pilot_closed", "meta_data": {"x": 1}},
        {"job_id": "NULL", "job_status": "running"},
    ]
    params = {"job_list": job_list if send is not post_urlencoded else json.dumps(job_list), "harvester_id": "h1"}

    response = send(v1("pilot/update_jobs_bulk"), params, as_production())

    assert decode_json(response) == {
        "success": True,
        "message": "",
        "data": [
            {"success": True, "message": "", "data": {"StatusCode": 0, "command": None}},
            {"success": True, "message": "", "data": {"StatusCode": 0, "command": "tobekilled"}},
            {"success": False, "message": "job_id is NULL", "data": {"StatusCode": 50}},
        ],
    }
    assert Job.objects.get(pk=first.pk).jobstatus == "starting"
    second = Job.objects.get(pk=second.pk)
    assert (second.jobstatus, second.jobsubstatus) == ("holding", "pilot_closed")
    assert json.loads(JobMetadata.objects.get(job=second).metadata) == {"x": 1}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"job_status": "running"}, "Argument error: job_list[1]: missing required argument job_id"),
        ("just a string", "Argument error: job_list[1]: must be an object"),
        (
            {"job_id": 1, "job_status": "running", "jobId": 1},
            "Argument error: job_list[1]: unexpected keyword argument(s) jobId",
        ),
    ],
)
def test_v1_bulk_with_one_bad_entry_applies_none_of_them(entry, message):
    good = JobFactory(jobstatus="sent", modificationtime=LONG_AGO)
    before = snapshot(good)

    response = post_json(
        v1("pilot/update_jobs_bulk"),
        {"job_list": [{"job_id": good.pandaid, "job_status": "running"}, entry]},
        as_production(),
    )

    assert decode_json(response) == {"success": False, "message": message, "data": None}
    assert snapshot(good) == before


def test_v1_bulk_needs_the_production_role():
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO)
    before = snapshot(job)

    response = post_json(
        v1("pilot/update_jobs_bulk"), {"job_list": [{"job_id": job.pandaid, "job_status": "running"}]}, as_pilot()
    )

    assert decode_json(response)["success"] is False
    assert snapshot(job) == before


# --- updateWorkerPilotStatus / pilot/update_worker_status -------------------------------------


def worker(**fields) -> Worker:
    return Worker.objects.create(harvesterid="h1", workerid=77, status="running", **fields)


@pytest.mark.parametrize("send", LEGACY_SENDERS)
def test_legacy_worker_pilot_status_in_every_encoding(send):
    row = worker()

    response = send(
        legacy("updateWorkerPilotStatus"),
        {"site": "QUEUE_A", "workerID": "77", "harvesterID": "h1", "status": "started", "node_id": "wn1"},
        as_pilot(),
    )

    assert response.content == b"StatusCode=0"
    row.refresh_from_db()
    assert (row.pilotstatus, row.nodeid, row.pilotendtime) == ("started", "wn1", None)
    assert row.pilotstarttime is not None


def test_legacy_worker_pilot_status_with_accept_json():
    row = worker()

    response = post_urlencoded(
        legacy("updateWorkerPilotStatus"),
        {"workerID": 77, "harvesterID": "h1", "status": "finished", "node_id": "wn1"},
        accept_json(as_production()),
    )

    assert decode_json(response) == {"StatusCode": 0}
    row.refresh_from_db()
    assert row.pilotstatus == "finished"
    assert row.pilotendtime is not None


def test_legacy_worker_pilot_status_creates_a_missing_worker():
    response = post_urlencoded(
        legacy("updateWorkerPilotStatus"),
        {"site": "QUEUE_B", "workerID": 5, "harvesterID": "h9", "status": "started", "node_id": "wn2"},
        as_pilot(),
    )

    assert response.content == b"StatusCode=0"
    row = Worker.objects.get(harvesterid="h9", workerid=5)
    assert (row.pilotstatus, row.nodeid, row.computingsite) == ("started", "wn2", "QUEUE_B")


def test_legacy_invalid_worker_state_answers_the_message_and_changes_nothing():
    row = worker()

    response = post_urlencoded(
        legacy("updateWorkerPilotStatus"), {"workerID": 77, "harvesterID": "h1", "status": "running"}, as_pilot()
    )

    assert response.status_code == 200
    assert response.content.decode() == "Invalid worker state. The worker state has to be in ('started', 'finished')"
    row.refresh_from_db()
    assert row.pilotstatus is None


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"workerID": "x", "harvesterID": "h1", "status": "started"}, "ERROR : workerID must be an integer, got 'x'"),
        ({"harvesterID": "h1", "status": "started"}, "ERROR : missing required argument workerID"),
    ],
)
def test_legacy_worker_pilot_status_with_unusable_parameters_is_a_400(params, error):
    response = post_urlencoded(legacy("updateWorkerPilotStatus"), params, as_pilot())

    assert (response.status_code, response.content.decode()) == (400, error)
    assert not Worker.objects.exists()


def test_legacy_worker_pilot_status_needs_a_role():
    response = post_urlencoded(
        legacy("updateWorkerPilotStatus"), {"workerID": 1, "harvesterID": "h1", "status": "started"}, as_plain_user()
    )

    assert response.content == b"StatusCode=60"
    assert not Worker.objects.exists()


@pytest.mark.parametrize("send", V1_POSTERS)
def test_v1_worker_status_in_every_encoding(send):
    row = worker()

    response = send(
        v1("pilot/update_worker_status"),
        {"worker_id": 77, "harvester_id": "h1", "status": "finished", "node_id": "wn3"},
        as_production(),
    )

    assert decode_json(response) == {"success": True, "message": "", "data": None}
    row.refresh_from_db()
    assert (row.pilotstatus, row.nodeid) == ("finished", "wn3")
    assert row.pilotendtime is not None


def test_v1_invalid_worker_state_is_refused_with_the_message():
    row = worker()

    response = post_json(
        v1("pilot/update_worker_status"), {"worker_id": 77, "harvester_id": "h1", "status": "idle"}, as_production()
    )

    assert decode_json(response) == {
        "success": False,
        "message": "Invalid worker state. The worker state has to be in ('started', 'finished')",
        "data": None,
    }
    row.refresh_from_db()
    assert row.pilotstatus is None


def test_v1_worker_status_needs_the_production_role_and_its_arguments():
    no_role = post_json(
        v1("pilot/update_worker_status"), {"worker_id": 1, "harvester_id": "h1", "status": "started"}, as_pilot()
    )
    missing = post_json(v1("pilot/update_worker_status"), {"harvester_id": "h1", "status": "started"}, as_production())

    assert decode_json(no_role)["success"] is False
    assert decode_json(missing) == {
        "success": False,
        "message": "Argument error: missing required argument worker_id",
        "data": None,
    }
    assert not Worker.objects.exists()
