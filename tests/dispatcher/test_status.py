import datetime as dt
import json

import pytest

from apps.core.timeutil import utcnow
from tests.dispatcher.update_wire import (
    accept_json,
    as_pilot,
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

LEGACY_SENDERS = [get_query, post_urlencoded, post_form, post_gzip_json_legacy, post_json]


@pytest.fixture
def jobs():
    return {
        "running": JobFactory(jobstatus="running", attemptnr=2, commandtopilot="tobekilled"),
        "finished": JobFactory(jobstatus="finished", attemptnr=1, modificationtime=utcnow() - dt.timedelta(hours=3)),
        "defined": JobFactory(jobstatus="defined", attemptnr=1),
    }


# --- getStatus / pilot/get_job_status ---------------------------------------------------------


@pytest.mark.parametrize("send", LEGACY_SENDERS)
@pytest.mark.parametrize("headers", [as_production, lambda: accept_json(as_pilot())])
def test_legacy_get_status_always_answers_urlencoded_plus_joined(jobs, send, headers):
    ids = f"{jobs['running'].pandaid} {jobs['finished'].pandaid} {jobs['defined'].pandaid} 987654321"

    response = send(legacy("getStatus"), {"ids": ids}, headers())

    assert response.status_code == 200
    assert decode_urlencoded(response) == {
        "StatusCode": "0",
        "status": "running+finished+notfound+notfound",
        "attemptNr": "2+1+0+0",
    }
    assert b"status=running%2Bfinished%2Bnotfound%2Bnotfound" in response.content


def test_legacy_get_status_accepts_a_json_list(jobs):
    response = post_json(legacy("getStatus"), {"ids": [jobs["running"].pandaid]}, as_pilot())

    assert response.content == b"StatusCode=0&status=running&attemptNr=2"


@pytest.mark.parametrize(
    ("params", "error"),
    [({"ids": "1 two"}, "ERROR : ids must be PandaIDs"), ({}, "ERROR : missing required argument ids")],
)
def test_legacy_get_status_with_bad_ids_is_a_400(params, error):
    response = post_urlencoded(legacy("getStatus"), params, as_pilot())

    assert response.status_code == 400
    assert response.content.decode().startswith(error)


def test_legacy_get_status_needs_an_identity(jobs):
    response = post_urlencoded(legacy("getStatus"), {"ids": str(jobs["running"].pandaid)}, {})

    assert response.status_code == 403
    assert response.content.decode().startswith("ERROR : ")


def test_v1_get_job_status_with_repeated_keys(jobs):
    ids = [jobs["running"].pandaid, jobs["finished"].pandaid, jobs["defined"].pandaid, 987654321]

    response = get_query(v1("pilot/get_job_status"), {"job_ids": ids, "timeout": 30}, as_pilot())

    assert decode_json(response) == {
        "success": True,
        "message": "",
        "data": [
            {"job_id": ids[0], "status": "running", "attempt_number": 2},
            {"job_id": ids[1], "status": "finished", "attempt_number": 1},
            {"job_id": ids[2], "status": "not found", "attempt_number": 0},
            {"job_id": ids[3], "status": "not found", "attempt_number": 0},
        ],
    }


def test_v1_get_job_status_with_a_single_key(jobs):
    response = get_query(v1("pilot/get_job_status"), {"job_ids": jobs["running"].pandaid}, as_pilot())

    assert decode_json(response)["data"] == [
        {"job_id": jobs["running"].pandaid, "status": "running", "attempt_number": 2}
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"job_ids": ["1", "x"]}, "Argument error: job_ids must be a list of integers"),
        ({}, "Argument error: missing required argument job_ids"),
        ({"job_ids": "1", "extra": "2"}, "Argument error: unexpected keyword argument(s) extra"),
    ],
)
def test_v1_get_job_status_bad_arguments(params, message):
    body = decode_json(get_query(v1("pilot/get_job_status"), params, as_pilot()))

    assert body["success"] is False
    assert body["message"].startswith(message)


def test_v1_get_job_status_must_be_a_get(jobs):
    body = decode_json(post_json(v1("pilot/get_job_status"), {"job_ids": [jobs["running"].pandaid]}, as_pilot()))

    assert (body["success"], body["message"].startswith("expecting GET")) == (False, True)


# --- checkJobStatus / job/get_status ----------------------------------------------------------


@pytest.mark.parametrize("send", LEGACY_SENDERS)
def test_legacy_check_job_status_answers_json_with_status_and_command(jobs, send):
    recent = JobFactory(jobstatus="cancelled", commandtopilot="tobekilled")
    ids = ",".join(str(j.pandaid) for j in (jobs["running"], recent, jobs["finished"], jobs["defined"]))

    response = send(legacy("checkJobStatus"), {"ids": ids}, as_production())

    assert decode_json(response) == {
        "StatusCode": 0,
        "data": [
            {"status": "running", "command": "tobekilled"},
            {"status": "cancelled", "command": "tobekilled"},
            {"status": "unknown", "command": "tobekilled"},
            {"status": "unknown", "command": "tobekilled"},
        ],
    }


def test_legacy_check_job_status_command_is_null_when_unset():
    job = JobFactory(jobstatus="sent")

    response = get_query(legacy("checkJobStatus"), {"ids": str(job.pandaid)}, as_pilot())

    assert json.loads(response.content) == {"StatusCode": 0, "data": [{"status": "sent", "command": None}]}


def test_legacy_check_job_status_with_bad_ids_is_a_400():
    response = get_query(legacy("checkJobStatus"), {"ids": "1,b"}, as_pilot())

    assert response.status_code == 400


@pytest.mark.parametrize("send", [get_query])
def test_v1_job_get_status_with_repeated_keys(jobs, send):
    ids = [jobs["running"].pandaid, jobs["finished"].pandaid, 12345678]

    response = send(v1("job/get_status"), {"job_ids": ids}, as_production())

    assert decode_json(response) == {
        "success": True,
        "message": "",
        "data": [
            {"status": "running", "command": "tobekilled"},
            {"status": "unknown", "command": "tobekilled"},
            {"status": "unknown", "command": "tobekilled"},
        ],
    }


def test_v1_job_get_status_must_be_a_get_and_needs_an_identity(jobs):
    posted = post_gzip_json_v1(v1("job/get_status"), {"job_ids": [jobs["running"].pandaid]}, as_pilot())
    anonymous = get_query(v1("job/get_status"), {"job_ids": [jobs["running"].pandaid]}, {})

    assert decode_json(posted)["success"] is False
    assert anonymous.status_code == 403
