import gzip
import json
from urllib.parse import parse_qs

import pytest

from apps.jobs.models import Job, JobStatusLog
from apps.jobs.services.dispatch import forget_dispatch_caches
from apps.jobs.states import JobStatus
from apps.sites.models import QueueActivity
from apps.workers.models import JobWorker, Worker
from tests.factories import (
    JobFactory,
    PandaQueueFactory,
    UserFactory,
    auth_header,
    job_with_files,
    pilot_user,
    production_user,
)

LEGACY = "/server/panda/getJob"
V1 = "/api/v1/pilot/acquire_jobs"
QUEUE = "QUEUE_A"
NO_ROLE = "no production/pilot role in VOMS FQANs or non pilot owner"
# What pilot 3.11 sends (protocol.md §5.1).
PILOT_PARAMS = {
    "siteName": QUEUE,
    "computingElement": "CE_1",
    "prodSourceLabel": "managed",
    "diskSpace": 10000,
    "workingGroup": "",
    "cpu": 2400,
    "mem": 4000,
    "node": "wn01.cern.ch",
    "allowOtherCountry": True,
}


@pytest.fixture(autouse=True)
def _fresh_dispatch_caches(settings):
    settings.PANDA_SLOPPY_DISPATCH_RATIO = 0
    forget_dispatch_caches()
    yield
    forget_dispatch_caches()


@pytest.fixture
def queue(db):
    return PandaQueueFactory(name=QUEUE, site__name="SITE_A")


@pytest.fixture
def pilot_auth(db):
    return auth_header(production_user())


def urlencoded(response) -> dict:
    assert response["Content-Type"].startswith("text/plain")
    return {key: values[0] for key, values in parse_qs(response.content.decode(), keep_blank_values=True).items()}


def as_json(response):
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def job_statuses() -> dict[int, str]:
    return dict(Job.objects.values_list("pandaid", "jobstatus"))


def assert_nothing_dispatched(before: dict[int, str]) -> None:
    assert job_statuses() == before
    assert not JobStatusLog.objects.filter(jobstatus="sent").exists()
    assert not QueueActivity.objects.exists()


# --- legacy: request encodings -------------------------------------------------------------


@pytest.mark.django_db
def test_legacy_gzip_json_without_content_encoding_gets_a_flat_urlencoded_job(client, queue, pilot_auth):
    job = job_with_files()

    body = gzip.compress(json.dumps(PILOT_PARAMS).encode())
    response = client.post(LEGACY, data=body, content_type="application/json", **pilot_auth)

    assert response.status_code == 200
    data = urlencoded(response)
    assert data["StatusCode"] == "0"
    assert data["PandaID"] == str(job.pandaid)
    assert data["jobPars"] == "--in=${IN}"
    assert data["outFiles"].split(",")[-1] == f"log.{job.pandaid}.job.log.tgz.1"
    assert "jobs" not in data
    stored = Job.objects.get(pk=job.pk)
    assert (stored.jobstatus, stored.modificationhost, stored.computingelement) == ("sent", "wn01.cern.ch", "CE_1")


@pytest.mark.django_db
def test_legacy_gzip_json_with_accept_json_gets_a_json_job(client, queue, pilot_auth):
    job = job_with_files()

    body = gzip.compress(json.dumps(PILOT_PARAMS).encode())
    response = client.post(
        LEGACY, data=body, content_type="application/json", HTTP_ACCEPT="application/json", **pilot_auth
    )

    data = as_json(response)
    assert data["StatusCode"] == 0
    assert data["PandaID"] == job.pandaid
    assert data["coreCount"] == 1
    assert data["ioIntensity"] is None


@pytest.mark.django_db
def test_legacy_plain_json_body(client, queue, pilot_auth):
    job = JobFactory()

    response = client.post(LEGACY, data=json.dumps(PILOT_PARAMS), content_type="application/json", **pilot_auth)

    assert urlencoded(response)["PandaID"] == str(job.pandaid)


@pytest.mark.django_db
def test_legacy_form_body_as_the_curl_fallback_sends_it(client, queue, pilot_auth):
    job = JobFactory()

    form = {key: str(value) for key, value in PILOT_PARAMS.items()}
    response = client.post(LEGACY, data=form, HTTP_ACCEPT="application/json", **pilot_auth)

    data = as_json(response)
    assert data["PandaID"] == job.pandaid
    assert Job.objects.get(pk=job.pk).jobstatus == JobStatus.SENT


@pytest.mark.django_db
def test_legacy_get_query(client, queue, pilot_auth):
    job = JobFactory()

    response = client.get(LEGACY, {"siteName": QUEUE, "prodSourceLabel": "managed", "mem": "4000"}, **pilot_auth)

    assert urlencoded(response)["PandaID"] == str(job.pandaid)


@pytest.mark.django_db
def test_legacy_multipart_form(client, queue, pilot_auth):
    job = JobFactory()

    response = client.post(LEGACY, data={"siteName": QUEUE}, **pilot_auth)

    assert urlencoded(response)["PandaID"] == str(job.pandaid)


# --- legacy: envelopes ---------------------------------------------------------------------


@pytest.mark.django_db
def test_legacy_njobs_gets_the_jobs_list_as_json(client, queue, pilot_auth):
    jobs = [JobFactory() for _ in range(3)]

    response = client.post(
        LEGACY,
        data=json.dumps({"siteName": QUEUE, "nJobs": 2, "harvester_id": "H1", "worker_id": 7}),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
        **pilot_auth,
    )

    data = as_json(response)
    assert set(data) == {"StatusCode", "jobs"}
    assert data["StatusCode"] == 0
    assert [job["PandaID"] for job in data["jobs"]] == [job.pandaid for job in jobs[:2]]
    assert all(job["StatusCode"] == 0 for job in data["jobs"])
    assert set(JobWorker.objects.values_list("pandaid", flat=True)) == {job.pandaid for job in jobs[:2]}
    assert Worker.objects.get().harvesterid == "H1"


@pytest.mark.django_db
def test_legacy_njobs_without_accept_json_puts_the_jobs_list_as_a_json_string(client, queue, pilot_auth):
    job = JobFactory()

    response = client.post(LEGACY, data={"siteName": QUEUE, "nJobs": "5"}, **pilot_auth)

    data = urlencoded(response)
    assert data["StatusCode"] == "0"
    assert [item["PandaID"] for item in json.loads(data["jobs"])] == [job.pandaid]


@pytest.mark.django_db
def test_legacy_no_job_answers_statuscode_20(client, queue, pilot_auth):
    response = client.post(LEGACY, data={"siteName": QUEUE}, **pilot_auth)

    assert response.content == b"StatusCode=20"


@pytest.mark.django_db
def test_legacy_no_job_with_accept_json_adds_the_error_dialog(client, queue, pilot_auth):
    response = client.post(LEGACY, data={"siteName": QUEUE, "nJobs": "3"}, HTTP_ACCEPT="application/json", **pilot_auth)

    assert as_json(response) == {"StatusCode": 20, "errorDialog": "no jobs in PanDA"}


@pytest.mark.django_db
def test_legacy_caller_without_production_role_asking_for_managed_gets_statuscode_60(client, queue):
    job = JobFactory()
    before = job_statuses()

    response = client.post(LEGACY, data={"siteName": QUEUE, "prodSourceLabel": "managed"}, **auth_header(UserFactory()))
    json_response = client.post(
        LEGACY, data={"siteName": QUEUE}, HTTP_ACCEPT="application/json", **auth_header(UserFactory())
    )

    assert response.content == b"StatusCode=60"
    assert as_json(json_response) == {"StatusCode": 60, "errorDialog": NO_ROLE}
    assert_nothing_dispatched(before)
    assert Job.objects.get(pk=job.pk).jobstatus == JobStatus.ACTIVATED


@pytest.mark.django_db
def test_legacy_pilot_role_gets_production_jobs(client, queue):
    job = JobFactory()

    response = client.post(LEGACY, data={"siteName": QUEUE, "prodSourceLabel": "managed"}, **auth_header(pilot_user()))

    assert urlencoded(response)["PandaID"] == str(job.pandaid)


@pytest.mark.django_db
def test_legacy_anonymous_caller_gets_statuscode_60_and_no_job(client, queue):
    JobFactory(prodsourcelabel="user")
    before = job_statuses()

    response = client.post(LEGACY, data={"siteName": QUEUE, "prodSourceLabel": "user"})

    assert response.content == b"StatusCode=60"
    assert_nothing_dispatched(before)


@pytest.mark.django_db
def test_legacy_user_caller_receives_only_its_own_user_job(client, queue):
    user = UserFactory()
    JobFactory(prodsourcelabel="user", produsername="Somebody Else")
    own = JobFactory(prodsourcelabel="user", produsername=user.panda_name)

    response = client.post(
        LEGACY,
        data={"siteName": QUEUE, "prodSourceLabel": "user", "prodUserID": "Somebody Else", "getProxyKey": "True"},
        HTTP_ACCEPT="application/json",
        **auth_header(user),
    )

    data = as_json(response)
    assert data["PandaID"] == own.pandaid
    assert "credname" not in data


@pytest.mark.django_db
def test_legacy_json_booleans_become_flags(client, queue, pilot_auth):
    JobFactory(jobexecutionid=0)
    background = JobFactory(jobexecutionid=1)

    body = gzip.compress(json.dumps({"siteName": QUEUE, "background": True, "getProxyKey": True}).encode())
    response = client.post(
        LEGACY, data=body, content_type="application/json", HTTP_ACCEPT="application/json", **pilot_auth
    )

    data = as_json(response)
    assert data["PandaID"] == background.pandaid
    assert (data["credname"], data["myproxy"]) == ("", "")


@pytest.mark.django_db
def test_legacy_unparsable_sizes_mean_no_filter(client, queue, pilot_auth):
    job = JobFactory(minramcount=8000, maxdiskcount=90000)

    response = client.post(LEGACY, data={"siteName": QUEUE, "mem": "lots", "diskSpace": "-1"}, **pilot_auth)

    assert urlencoded(response)["PandaID"] == str(job.pandaid)


# --- legacy: bad input ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"\x1f\x8b\x08\x00garbage", "application/json", b"ERROR : received invalid JSON"),
        (b"{not json", "application/json", b"ERROR : received invalid JSON"),
        (gzip.compress(b'["siteName"]'), "application/json", b"ERROR : received invalid JSON"),
        (json.dumps({"prodSourceLabel": "managed"}).encode(), "application/json", b"ERROR : siteName is required"),
        (json.dumps({"siteName": QUEUE, "nJobs": "many"}).encode(), "application/json", b"ERROR : nJobs must be"),
        (json.dumps({"siteName": QUEUE, "taskID": "t1"}).encode(), "application/json", b"ERROR : taskID must be"),
        (json.dumps({"siteName": {"a": 1}}).encode(), "application/json", b"ERROR : siteName must be a string"),
        (b"siteName=QUEUE_A&worker_id=w1", "application/x-www-form-urlencoded", b"ERROR : worker_id must be"),
    ],
)
def test_legacy_bad_input_answers_400_and_changes_nothing(client, queue, pilot_auth, body, content_type, message):
    JobFactory()
    before = job_statuses()

    response = client.post(LEGACY, data=body, content_type=content_type, **pilot_auth)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.startswith(message), response.content
    assert_nothing_dispatched(before)


# --- v1 ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_v1_json_gets_the_envelope_with_the_jobs_list(client, queue, pilot_auth):
    job = job_with_files()

    response = client.post(
        V1,
        data=json.dumps({"site_name": QUEUE, "prod_source_label": "managed", "memory": 4000, "node": "wn02"}),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
        **pilot_auth,
    )

    data = as_json(response)
    assert (data["success"], data["message"]) == (True, "")
    assert data["data"]["StatusCode"] == 0
    (dispatched,) = data["data"]["jobs"]
    assert dispatched["PandaID"] == job.pandaid
    assert dispatched["StatusCode"] == 0
    assert Job.objects.get(pk=job.pk).modificationhost == "wn02"


@pytest.mark.django_db
def test_v1_gzip_body_with_content_encoding(client, queue, pilot_auth):
    jobs = [JobFactory() for _ in range(3)]

    body = gzip.compress(json.dumps({"site_name": QUEUE, "n_jobs": 3}).encode())
    response = client.post(V1, data=body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip", **pilot_auth)

    data = as_json(response)
    assert [job["PandaID"] for job in data["data"]["jobs"]] == [job.pandaid for job in jobs]


@pytest.mark.django_db
def test_v1_form_body_casts_its_values(client, queue, pilot_auth):
    JobFactory(jeditaskid=1)
    wanted = JobFactory(jeditaskid=2, jobexecutionid=1)

    response = client.post(
        V1, data={"site_name": QUEUE, "task_id": "2.0", "background": "true", "n_jobs": "4"}, **pilot_auth
    )

    data = as_json(response)
    assert [job["PandaID"] for job in data["data"]["jobs"]] == [wanted.pandaid]


@pytest.mark.django_db
def test_v1_uses_the_scheduler_id_as_harvester_id_when_absent(client, queue, pilot_auth):
    job = JobFactory()

    client.post(
        V1,
        data=json.dumps({"site_name": QUEUE, "scheduler_id": "harvester-A", "worker_id": 11}),
        content_type="application/json",
        **pilot_auth,
    )

    assert list(JobWorker.objects.values_list("harvesterid", "workerid", "pandaid")) == [
        ("harvester-A", 11, job.pandaid)
    ]
    assert Job.objects.get(pk=job.pk).schedulerid == "harvester-A"


@pytest.mark.django_db
def test_v1_no_job(client, queue, pilot_auth):
    response = client.post(V1, data=json.dumps({"site_name": QUEUE}), content_type="application/json", **pilot_auth)

    assert as_json(response) == {"success": False, "message": "No jobs in PanDA", "data": None}


@pytest.mark.django_db
def test_v1_role_refused(client, queue):
    JobFactory()
    before = job_statuses()

    response = client.post(
        V1,
        data=json.dumps({"site_name": QUEUE, "prod_source_label": "managed"}),
        content_type="application/json",
        **auth_header(UserFactory()),
    )

    assert as_json(response) == {"success": False, "message": NO_ROLE, "data": None}
    assert_nothing_dispatched(before)


@pytest.mark.django_db
def test_v1_pilot_role_without_production_is_refused_production_jobs(client, queue):
    JobFactory()
    before = job_statuses()

    response = client.post(
        V1, data=json.dumps({"site_name": QUEUE}), content_type="application/json", **auth_header(pilot_user())
    )

    assert as_json(response) == {"success": False, "message": NO_ROLE, "data": None}
    assert_nothing_dispatched(before)


@pytest.mark.django_db
def test_v1_get_is_refused(client, queue, pilot_auth):
    JobFactory()
    before = job_statuses()

    response = client.get(V1, {"site_name": QUEUE}, **pilot_auth)

    data = as_json(response)
    assert data["success"] is False
    assert data["message"].startswith("expecting POST")
    assert_nothing_dispatched(before)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({}, "missing required argument site_name"),
        ({"site_name": QUEUE, "n_jobs": "many"}, "n_jobs must be an integer"),
        ({"site_name": QUEUE, "unknown_flag": 1}, "unexpected keyword argument(s) unknown_flag"),
        ({"site_name": ""}, "site_name must not be empty"),
        ({"site_name": {"nested": 1}}, "site_name must be a string"),
    ],
)
def test_v1_argument_errors_change_nothing(client, queue, pilot_auth, params, detail):
    JobFactory()
    before = job_statuses()

    response = client.post(V1, data=json.dumps(params), content_type="application/json", **pilot_auth)

    data = as_json(response)
    assert data["success"] is False
    assert data["message"].startswith("Argument error: ")
    assert detail in data["message"]
    assert_nothing_dispatched(before)


@pytest.mark.django_db
def test_v1_bad_gzip_answers_400_and_changes_nothing(client, queue, pilot_auth):
    JobFactory()
    before = job_statuses()

    response = client.post(
        V1, data=b"\x1f\x8bbroken", content_type="application/json", HTTP_CONTENT_ENCODING="gzip", **pilot_auth
    )

    assert response.status_code == 400
    assert response.content.startswith(b"ERROR : received invalid JSON")
    assert_nothing_dispatched(before)


@pytest.mark.django_db
def test_an_invalid_token_answers_403_and_changes_nothing(client, queue):
    JobFactory()
    before = job_statuses()

    for url, params in ((LEGACY, {"siteName": QUEUE}), (V1, {"site_name": QUEUE})):
        response = client.post(url, data=params, HTTP_AUTHORIZATION="Bearer not-a-token")
        assert response.status_code == 403
        assert response.content.startswith(b"ERROR : Token authentication failed")

    assert_nothing_dispatched(before)


# --- statement budget ----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
def test_one_getjob_with_warm_caches_costs_at_most_two_statements_on_postgresql(
    client, queue, pilot_auth, django_assert_max_num_queries
):
    job_with_files()
    job_with_files()
    client.post(LEGACY, data={"siteName": QUEUE}, **pilot_auth)  # warms token, queue, pilot-seen, nSent

    # The claim (candidates + update + status log + parameters) and the files of the claimed jobs.
    with django_assert_max_num_queries(2):
        response = client.post(LEGACY, data={"siteName": QUEUE}, **pilot_auth)

    assert urlencoded(response)["StatusCode"] == "0"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_harvester_getjob_with_warm_caches_costs_at_most_six_statements_on_postgresql(
    client, queue, pilot_auth, django_assert_max_num_queries
):
    for _ in range(4):
        job_with_files()
    params = {"siteName": QUEUE, "nJobs": "2", "harvester_id": "H1", "worker_id": "5"}
    client.post(LEGACY, data=params, **pilot_auth)

    # Claim, worker upsert and relation insert in one transaction (SAVEPOINT + RELEASE inside the
    # test's transaction, uncounted BEGIN/COMMIT in production), then the files.
    with django_assert_max_num_queries(6):
        response = client.post(LEGACY, data=params, **pilot_auth)

    assert len(json.loads(urlencoded(response)["jobs"])) == 2
