import pytest

from apps.jobs.models import Job
from tests.dispatcher.update_wire import (
    as_pilot,
    as_plain_user,
    as_production,
    decode_json,
    get_query,
    legacy,
    post_form,
    post_gzip_json_legacy,
    post_gzip_json_v1,
    post_json,
    post_urlencoded,
    v1,
)
from tests.factories import JobFactory, UserFactory, auth_header

pytestmark = pytest.mark.django_db

LEGACY_SENDERS = [post_gzip_json_legacy, post_urlencoded, post_form, post_json, get_query]
V1_POSTERS = [post_json, post_gzip_json_v1, post_urlencoded]


def special(job):
    return Job.objects.get(pk=job.pk).specialhandling


def owner_headers(job) -> dict:
    user = UserFactory(first_name="Jane", last_name="Owner")
    Job.objects.filter(pk=job.pk).update(produsername=user.panda_name)
    return auth_header(user)


# --- setDebugMode / job/set_debug_mode --------------------------------------------------------


@pytest.mark.parametrize("send", LEGACY_SENDERS)
def test_legacy_set_debug_mode_in_every_encoding_answers_plain_text(send):
    job = JobFactory(jobstatus="running")
    headers = owner_headers(job)

    on = send(legacy("setDebugMode"), {"pandaID": job.pandaid, "modeOn": "True"}, headers)

    assert (on.status_code, on["Content-Type"], on.content) == (200, "text/plain", b"Succeeded")
    assert special(job) == "dm"

    off = send(legacy("setDebugMode"), {"pandaID": str(job.pandaid), "modeOn": "False"}, headers)

    assert off.content == b"Succeeded"
    assert special(job) is None


def test_legacy_set_debug_mode_json_booleans_work():
    job = JobFactory(jobstatus="sent")

    response = post_gzip_json_legacy(legacy("setDebugMode"), {"pandaID": job.pandaid, "modeOn": True}, as_production())

    assert response.content == b"Succeeded"
    assert special(job) == "dm"


def test_legacy_set_debug_mode_refusals_are_messages_and_change_nothing():
    job = JobFactory(jobstatus="running", produsername="Somebody Else")

    response = post_urlencoded(legacy("setDebugMode"), {"pandaID": job.pandaid, "modeOn": "True"}, as_plain_user())

    assert response.content == b"Permission denied. Not the owner or production manager"
    assert special(job) is None


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"pandaID": "x", "modeOn": "True"}, "ERROR : pandaID must be a PandaID, got 'x'"),
        ({"modeOn": "True"}, "ERROR : missing required argument pandaID"),
        ({"pandaID": "5"}, "ERROR : missing required argument modeOn"),
    ],
)
def test_legacy_set_debug_mode_with_unusable_parameters_is_a_400(params, error):
    response = post_urlencoded(legacy("setDebugMode"), params, as_production())

    assert (response.status_code, response.content.decode()) == (400, error)


@pytest.mark.parametrize("path", ["job/set_debug_mode", "pilot/set_debug_mode"])
@pytest.mark.parametrize("send", V1_POSTERS)
def test_v1_set_debug_mode_in_every_encoding_and_its_alias(path, send):
    job = JobFactory(jobstatus="starting")

    response = send(v1(path), {"job_id": job.pandaid, "mode": True}, as_production())

    assert decode_json(response) == {"success": True, "message": "Succeeded", "data": None}
    assert special(job) == "dm"


def test_v1_set_debug_mode_over_the_owner_limit_is_refused_with_the_ids():
    job = JobFactory(jobstatus="running")
    headers = owner_headers(job)
    owner = Job.objects.get(pk=job.pk).produsername
    debugging = [JobFactory(jobstatus="running", produsername=owner, specialhandling="dm") for _ in range(3)]

    response = post_json(v1("job/set_debug_mode"), {"job_id": job.pandaid, "mode": "true"}, headers)

    body = decode_json(response)
    assert body["success"] is False
    assert "(3 jobs)" in body["message"]
    assert body["message"].endswith(",".join(str(j.pandaid) for j in debugging))
    assert special(job) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"job_id": "x", "mode": True}, "Argument error: job_id must be an integer, got 'x'"),
        ({"job_id": 1}, "Argument error: missing required argument mode"),
        ({"job_id": 0, "mode": True}, "Argument error: job_id must be a PandaID, got 0"),
    ],
)
def test_v1_set_debug_mode_bad_arguments(params, message):
    assert decode_json(post_json(v1("job/set_debug_mode"), params, as_production())) == {
        "success": False,
        "message": message,
        "data": None,
    }


def test_v1_set_debug_mode_must_be_posted():
    job = JobFactory(jobstatus="running")

    body = decode_json(get_query(v1("job/set_debug_mode"), {"job_id": job.pandaid, "mode": "true"}, as_production()))

    assert body["success"] is False
    assert special(job) is None


# --- job/set_command --------------------------------------------------------------------------


@pytest.mark.parametrize("send", V1_POSTERS)
def test_v1_set_command_in_every_encoding(send):
    job = JobFactory(jobstatus="running")

    response = send(
        v1("job/set_command"), {"job_id": job.pandaid, "command": "tail -30 payload.stdout"}, as_production()
    )

    assert decode_json(response) == {"success": True, "message": "Succeeded", "data": None}
    assert Job.objects.get(pk=job.pk).commandtopilot == "tail -30 payload.stdout"


def test_the_command_reaches_the_pilot_with_its_next_heartbeat():
    job = JobFactory(jobstatus="running", specialhandling="dm")
    post_json(v1("job/set_command"), {"job_id": job.pandaid, "command": "ls -l"}, as_production())

    response = post_urlencoded(legacy("updateJob"), {"jobId": job.pandaid, "state": "running"}, as_pilot())

    assert response.content == b"StatusCode=0&command=debug%2Cls+-l"


@pytest.mark.parametrize(
    ("job_status", "command_before", "message"),
    [("running", "tobekilled", "job is being killed"), ("finished", None, "no active job with PandaID={id}")],
)
def test_v1_set_command_refusals(job_status, command_before, message):
    job = JobFactory(jobstatus=job_status, commandtopilot=command_before)

    response = post_json(v1("job/set_command"), {"job_id": job.pandaid, "command": "ls"}, as_production())

    assert decode_json(response) == {"success": False, "message": message.format(id=job.pandaid), "data": None}
    assert Job.objects.get(pk=job.pk).commandtopilot == command_before


@pytest.mark.parametrize("headers", [as_pilot, as_plain_user, dict])
def test_v1_set_command_needs_the_production_role(headers):
    job = JobFactory(jobstatus="running")

    response = post_json(v1("job/set_command"), {"job_id": job.pandaid, "command": "ls"}, headers())

    assert decode_json(response)["success"] is False
    assert Job.objects.get(pk=job.pk).commandtopilot is None


def test_v1_set_command_too_long_or_missing():
    job = JobFactory(jobstatus="running")

    too_long = post_json(v1("job/set_command"), {"job_id": job.pandaid, "command": "x" * 251}, as_production())
    missing = post_json(v1("job/set_command"), {"job_id": job.pandaid}, as_production())

    assert decode_json(too_long)["message"] == "command is longer than 250 characters"
    assert decode_json(missing)["message"] == "Argument error: missing required argument command"
    assert Job.objects.get(pk=job.pk).commandtopilot is None
