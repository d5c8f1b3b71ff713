import gzip
import json

import pytest
from django.test import Client

from apps.jobs.models import Job
from tests.factories import JobFactory, UserFactory, auth_header, production_user

pytestmark = pytest.mark.django_db

V1_KILL = "/api/v1/job/kill"
V1_REASSIGN = "/api/v1/job/reassign"
LEGACY_KILL = "/server/panda/killJobs"
LEGACY_REASSIGN = "/server/panda/reassignJobs"


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def client():
    return Client()


def jobs_of(user, *statuses, **fields):
    return [JobFactory(jobstatus=status, produsername=user.panda_name, **fields) for status in statuses]


def states(jobs):
    return [Job.objects.get(pk=job.pk).jobstatus for job in jobs]


def snapshot():
    return list(Job.objects.order_by("pk").values_list("pk", "jobstatus", "commandtopilot", "taskbuffererrorcode"))


def envelope(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


# --- v1 job/kill ---------------------------------------------------------------------------------


def test_v1_kill_with_a_json_body_answers_one_boolean_per_job(client, owner):
    queued, running = jobs_of(owner, "activated", "running")
    other = JobFactory(jobstatus="activated", produsername="Somebody Else")
    body = {"job_ids": [queued.pandaid, running.pandaid, other.pandaid, 999999], "code": 3}

    response = client.post(V1_KILL, json.dumps(body), content_type="application/json", **auth_header(owner))

    assert envelope(response) == {"success": True, "message": "", "data": [True, True, False, False]}
    assert states([queued, running, other]) == ["cancelled", "running", "activated"]
    assert Job.objects.get(pk=running.pk).commandtopilot == "tobekilled"


def test_v1_kill_with_a_gzip_body_and_content_encoding(client, owner):
    (job,) = jobs_of(owner, "defined")
    body = gzip.compress(json.dumps({"job_ids": [job.pandaid], "code": 2}).encode())

    response = client.post(
        V1_KILL, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip", **auth_header(owner)
    )

    assert envelope(response)["data"] == [True]
    assert states([job]) == ["closed"]


def test_v1_kill_with_a_form_body_and_repeated_keys(client, owner):
    first, second = jobs_of(owner, "activated", "assigned")
    body = f"job_ids={first.pandaid}&job_ids={second.pandaid}&code=51&kill_options=jobSubStatus=by_user"

    response = client.post(V1_KILL, body, content_type="application/x-www-form-urlencoded", **auth_header(owner))

    assert envelope(response)["data"] == [True, True]
    assert list(Job.objects.filter(pk__in=[first.pk, second.pk]).values_list("jobstatus", "jobsubstatus")) == [
        ("closed", "by_user"),
        ("closed", "by_user"),
    ]


def test_v1_kill_passes_kill_options_from_a_json_list(client, owner):
    (job,) = jobs_of(owner, "running")
    body = {"job_ids": [job.pandaid], "kill_options": ["keepUnmerged", "jobSubStatus=x"]}

    response = client.post(V1_KILL, json.dumps(body), content_type="application/json", **auth_header(owner))

    assert envelope(response)["data"] == [True]
    assert Job.objects.get(pk=job.pk).jobsubstatus == "x"


def test_v1_kill_by_get_is_refused_and_changes_nothing(client, owner):
    (job,) = jobs_of(owner, "activated")

    response = client.get(V1_KILL, {"job_ids": job.pandaid}, **auth_header(owner))

    body = envelope(response)
    assert body["success"] is False
    assert body["message"].startswith("expecting POST")
    assert states([job]) == ["activated"]


def test_v1_kill_lets_production_kill_user_jobs_only_with_the_allowed_codes(client):
    manager = production_user()
    job = JobFactory(jobstatus="activated", prodsourcelabel="user", produsername="Somebody")
    url_body = {"job_ids": [job.pandaid], "code": 3}

    refused = client.post(V1_KILL, json.dumps(url_body), content_type="application/json", **auth_header(manager))
    url_body["code"] = 91
    allowed = client.post(V1_KILL, json.dumps(url_body), content_type="application/json", **auth_header(manager))

    assert (envelope(refused)["data"], envelope(allowed)["data"]) == ([False], [True])
    assert states([job]) == ["cancelled"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Argument error: missing required argument job_ids"),
        ({"job_ids": "abc"}, "Argument error: job_ids must be a list of integers"),
        ({"job_ids": [1], "code": "nine"}, "Argument error: code must be an integer"),
        ({"job_ids": [1], "kill_options": ["keepMerged"]}, "Argument error: unknown kill option 'keepMerged'"),
        ({"job_ids": [1], "bogus": 1}, "Argument error: unexpected keyword argument(s) bogus"),
    ],
)
def test_v1_kill_with_bad_arguments_answers_an_argument_error_and_changes_nothing(client, owner, body, message):
    job = jobs_of(owner, "activated")[0]
    if body.get("job_ids") == [1]:
        body["job_ids"] = [job.pandaid]
    before = snapshot()

    response = client.post(V1_KILL, json.dumps(body), content_type="application/json", **auth_header(owner))

    answer = envelope(response)
    assert answer["success"] is False
    assert answer["message"].startswith(message)
    assert snapshot() == before


def test_v1_kill_with_an_undecodable_body_answers_400_and_changes_nothing(client, owner):
    jobs_of(owner, "activated")
    before = snapshot()

    response = client.post(V1_KILL, b"{not json", content_type="application/json", **auth_header(owner))

    assert response.status_code == 400
    assert response.content.decode().startswith("ERROR : received invalid JSON")
    assert snapshot() == before


def test_v1_kill_without_authentication_is_forbidden_and_changes_nothing(client, owner):
    (job,) = jobs_of(owner, "activated")

    response = client.post(V1_KILL, json.dumps({"job_ids": [job.pandaid]}), content_type="application/json")

    assert response.status_code == 403
    assert response.content.decode() == "ERROR : job/kill requires an authenticated caller"
    assert states([job]) == ["activated"]


def test_v1_kill_with_an_invalid_token_is_forbidden(client, owner):
    (job,) = jobs_of(owner, "activated")

    response = client.post(
        V1_KILL,
        json.dumps({"job_ids": [job.pandaid]}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer nope",
    )

    assert response.status_code == 403
    assert states([job]) == ["activated"]


# --- v1 job/reassign -----------------------------------------------------------------------------


def test_v1_reassign_closes_queued_jobs_for_regeneration(client, owner):
    queued, running = jobs_of(owner, "activated", "running")

    response = client.post(
        V1_REASSIGN,
        json.dumps({"job_ids": [queued.pandaid, running.pandaid]}),
        content_type="application/json",
        **auth_header(owner),
    )

    assert envelope(response) == {"success": True, "message": "", "data": None}
    assert list(Job.objects.filter(pk=queued.pk).values_list("jobstatus", "jobsubstatus")) == [("closed", "toreassign")]
    assert states([running]) == ["running"]


def test_v1_reassign_with_a_form_body(client, owner):
    (job,) = jobs_of(owner, "assigned")

    response = client.post(
        V1_REASSIGN, f"job_ids={job.pandaid}", content_type="application/x-www-form-urlencoded", **auth_header(owner)
    )

    assert envelope(response)["success"] is True
    assert states([job]) == ["closed"]


def test_v1_reassign_of_someone_elses_jobs_answers_success_but_changes_nothing(client, owner):
    job = JobFactory(jobstatus="activated", produsername="Somebody Else")

    response = client.post(
        V1_REASSIGN, json.dumps({"job_ids": [job.pandaid]}), content_type="application/json", **auth_header(owner)
    )

    assert envelope(response)["success"] is True
    assert states([job]) == ["activated"]


def test_v1_reassign_without_job_ids_is_an_argument_error(client, owner):
    response = client.post(V1_REASSIGN, "{}", content_type="application/json", **auth_header(owner))

    assert envelope(response)["message"] == "Argument error: missing required argument job_ids"


def test_v1_reassign_without_authentication_is_forbidden(client, owner):
    (job,) = jobs_of(owner, "activated")

    response = client.post(V1_REASSIGN, json.dumps({"job_ids": [job.pandaid]}), content_type="application/json")

    assert response.status_code == 403
    assert states([job]) == ["activated"]


# --- legacy killJobs -----------------------------------------------------------------------------


def legacy_answer(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def test_legacy_kill_jobs_with_a_gzip_json_body_without_content_encoding(client, owner):
    queued, running = jobs_of(owner, "activated", "running")
    params = {"ids": json.dumps([queued.pandaid, running.pandaid]), "code": 3, "useMailAsID": False}

    response = client.post(
        LEGACY_KILL, gzip.compress(json.dumps(params).encode()), content_type="application/json", **auth_header(owner)
    )

    assert legacy_answer(response) == [True, True]
    assert states([queued, running]) == ["cancelled", "running"]


def test_legacy_kill_jobs_with_a_plain_json_body_holding_a_list(client, owner):
    (job,) = jobs_of(owner, "throttled")

    response = client.post(
        LEGACY_KILL,
        json.dumps({"ids": [job.pandaid], "code": "2"}),
        content_type="application/json",
        **auth_header(owner),
    )

    assert legacy_answer(response) == [True]
    assert list(Job.objects.filter(pk=job.pk).values_list("jobstatus", "taskbuffererrorcode")) == [("closed", 102)]


def test_legacy_kill_jobs_with_a_form_body_and_kill_options(client, owner):
    (job,) = jobs_of(owner, "activated")
    other = JobFactory(jobstatus="activated", produsername="Somebody Else")
    body = (
        f"ids=[{job.pandaid},{other.pandaid}]&code=60&useMailAsID=False&killOpts=keepUnmerged,jobSubStatus=pilot_noWork"
    )

    response = client.post(
        LEGACY_KILL,
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_ACCEPT="application/json",
        **auth_header(owner),
    )

    assert legacy_answer(response) == [True, False]
    assert list(Job.objects.filter(pk=job.pk).values_list("jobstatus", "jobsubstatus")) == [("closed", "pilot_noWork")]
    assert states([other]) == ["activated"]


def test_legacy_kill_jobs_with_a_get_query_and_a_single_id(client, owner):
    (job,) = jobs_of(owner, "pending")

    response = client.get(LEGACY_KILL, {"ids": str(job.pandaid)}, **auth_header(owner))

    assert legacy_answer(response) == [True]
    assert states([job]) == ["cancelled"]


def test_legacy_kill_jobs_by_email_address(client):
    user = UserFactory(email="jdoe@example.org")
    job = JobFactory(jobstatus="activated", produsername="jdoe@example.org")

    response = client.post(LEGACY_KILL, {"ids": json.dumps([job.pandaid]), "useMailAsID": "True"}, **auth_header(user))

    assert legacy_answer(response) == [True]
    assert states([job]) == ["cancelled"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "ERROR : ids is required: a JSON list of PandaIDs"),
        ({"ids": "not a list"}, "ERROR : ids must be a JSON list of PandaIDs, got 'not a list'"),
        ({"ids": '[1, {"a": 2}]'}, "ERROR : ids must be a JSON list of PandaIDs, got {'a': 2}"),
        ({"ids": "[true]"}, "ERROR : ids must be a JSON list of PandaIDs, got True"),
        ({"ids": "[JOB]", "code": "nine"}, "ERROR : code must be an integer, got 'nine'"),
        ({"ids": "[JOB]", "killOpts": "keepMerged"}, "ERROR : unknown kill option 'keepMerged'"),
    ],
)
def test_legacy_kill_jobs_with_bad_parameters_answers_400_and_changes_nothing(client, owner, params, message):
    (job,) = jobs_of(owner, "activated")
    params = {key: value.replace("JOB", str(job.pandaid)) for key, value in params.items()}
    before = snapshot()

    response = client.post(LEGACY_KILL, params, **auth_header(owner))

    assert response.status_code == 400
    assert response.content.decode().startswith(message)
    assert snapshot() == before


def test_legacy_kill_jobs_with_a_bad_gzip_body_answers_400(client, owner):
    jobs_of(owner, "activated")
    before = snapshot()

    response = client.post(LEGACY_KILL, b"\x1f\x8bbroken", content_type="application/json", **auth_header(owner))

    assert response.status_code == 400
    assert snapshot() == before


def test_legacy_kill_jobs_without_authentication_is_forbidden(client, owner):
    (job,) = jobs_of(owner, "activated")

    response = client.post(LEGACY_KILL, {"ids": json.dumps([job.pandaid])})

    assert response.status_code == 403
    assert response.content.decode() == "ERROR : killJobs requires an authenticated caller"
    assert states([job]) == ["activated"]


# --- legacy reassignJobs -------------------------------------------------------------------------


def test_legacy_reassign_jobs_with_a_form_body_answers_true(client, owner):
    queued, running = jobs_of(owner, "activated", "running")

    response = client.post(
        LEGACY_REASSIGN,
        {"ids": json.dumps([queued.pandaid, running.pandaid]), "forPending": "True", "firstSubmission": "False"},
        **auth_header(owner),
    )

    assert (response.status_code, response.content) == (200, b"True")
    assert states([queued, running]) == ["closed", "running"]


def test_legacy_reassign_jobs_with_a_gzip_json_body(client, owner):
    (job,) = jobs_of(owner, "defined")

    response = client.post(
        LEGACY_REASSIGN,
        gzip.compress(json.dumps({"ids": json.dumps([job.pandaid])}).encode()),
        content_type="application/json",
        **auth_header(owner),
    )

    assert response.content == b"True"
    assert states([job]) == ["closed"]


def test_legacy_reassign_jobs_with_bad_ids_answers_400_and_changes_nothing(client, owner):
    jobs_of(owner, "activated")
    before = snapshot()

    response = client.post(LEGACY_REASSIGN, {"ids": "[x]"}, **auth_header(owner))

    assert response.status_code == 400
    assert snapshot() == before


def test_legacy_reassign_jobs_without_authentication_is_forbidden(client, owner):
    (job,) = jobs_of(owner, "activated")

    response = client.get(LEGACY_REASSIGN, {"ids": json.dumps([job.pandaid])})

    assert response.status_code == 403
    assert states([job]) == ["activated"]
