import gzip
import json

import pytest
from django.test import Client

from apps.jobs.models import Job, JobFile, JobMetadata, JobParameters, JobStatusLog
from apps.jobs.states import JobStatus
from tests.dispatcher.update_wire import (
    accept_json,
    as_plain_user,
    as_production,
    decode_json,
    get_query,
    legacy,
    post_form,
    post_gzip_json_legacy,
    post_gzip_json_v1,
    post_json,
    v1,
)
from tests.factories import PandaQueueFactory, job_with_files, queue_document
from tests.jobs.wire_jobs import wire_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queue():
    PandaQueueFactory(name="Q_SUBMIT", document=queue_document("Q_SUBMIT", "SITE_SUBMIT"))


def database_state():
    return (Job.objects.count(), JobFile.objects.count(), JobParameters.objects.count(), JobStatusLog.objects.count())


def jobs_text(*arrays) -> str:
    return json.dumps(list(arrays))


SUBMIT_ENCODINGS = {
    "json": lambda params, headers: post_json(v1("job/submit"), params, headers),
    "gzip": lambda params, headers: post_gzip_json_v1(v1("job/submit"), params, headers),
    "form": lambda params, headers: post_form(v1("job/submit"), params, headers),
}


@pytest.mark.parametrize("encoding", SUBMIT_ENCODINGS)
def test_job_submit_stores_the_jobs_and_answers_their_ids(encoding):
    response = SUBMIT_ENCODINGS[encoding]({"jobs": jobs_text(wire_job(), wire_job())}, as_plain_user())

    body = decode_json(response)
    assert body["success"] is True, body
    jobs = list(Job.objects.order_by("pandaid"))
    assert len(jobs) == 2 and {job.jobstatus for job in jobs} == {"defined"}
    assert body["data"] == [[job.pandaid, job.jobdefinitionid, {"jobsetID": job.jobsetid}] for job in jobs]


def test_job_submit_also_takes_the_jobs_as_a_json_list_in_a_json_body():
    params = {"jobs": [wire_job(prodSourceLabel="managed", jobName="p1")]}

    response = post_json(v1("job/submit"), params, as_production())

    body = decode_json(response)
    assert body["data"] == [[Job.objects.get().pandaid, None, "p1"]]


def test_job_submit_refuses_get():
    response = get_query(v1("job/submit"), {"jobs": jobs_text(wire_job())}, as_plain_user())

    assert decode_json(response)["message"].startswith("expecting POST")
    assert database_state() == (0, 0, 0, 0)


def test_job_submit_needs_an_authenticated_caller():
    response = Client().post(v1("job/submit"), {"jobs": jobs_text(wire_job())})

    assert response.status_code == 403
    assert database_state() == (0, 0, 0, 0)


def test_job_submit_without_jobs_is_an_argument_error():
    body = decode_json(post_json(v1("job/submit"), {}, as_plain_user()))

    assert body == {"success": False, "message": "Argument error: missing required argument jobs", "data": None}


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ("{broken", "Failed to deserialize jobs: jobs is not valid JSON"),
        (json.dumps({"a": 1}), "Failed to deserialize jobs: jobs must be a JSON list"),
        (jobs_text(wire_job(currentPriority="high")), "Failed to deserialize jobs: job 0: currentPriority must be"),
        ("[]", "No jobs were submitted"),
        (jobs_text(wire_job(), wire_job(prodSourceLabel="managed")), "is missing production for prodSourceLabel"),
        (jobs_text(wire_job(job_label="nonsense")), "job_label=nonsense is not valid"),
        (jobs_text(wire_job(computingSite="NOWHERE")), "computingSite=NOWHERE is not a PanDA queue"),
    ],
)
def test_job_submit_refuses_bad_input_with_a_clear_message_and_stores_nothing(jobs, message):
    body = decode_json(post_json(v1("job/submit"), {"jobs": jobs}, as_plain_user()))

    assert body["success"] is False
    assert message in body["message"]
    assert database_state() == (0, 0, 0, 0)


def test_job_submit_refuses_an_undecodable_body():
    response = Client().generic(
        "POST", v1("job/submit"), b"\x1f\x8bnot gzip", content_type="application/json", **as_plain_user()
    )

    assert response.status_code == 400
    assert database_state() == (0, 0, 0, 0)


LEGACY_ENCODINGS = {
    "gzip-json": lambda params, headers: post_gzip_json_legacy(legacy("submitJobs"), params, headers),
    "json": lambda params, headers: post_json(legacy("submitJobs"), params, headers),
    "form": lambda params, headers: post_form(legacy("submitJobs"), params, headers),
}


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
@pytest.mark.parametrize("accept", [False, True])
def test_legacy_submit_jobs_answers_the_id_list_as_json_text(encoding, accept):
    headers = accept_json(as_production()) if accept else as_production()

    params = {"jobs": jobs_text(wire_job(prodSourceLabel="managed", jobName="p"))}

    response = LEGACY_ENCODINGS[encoding](params, headers)

    assert response.status_code == 200
    assert json.loads(response.content) == [[Job.objects.get().pandaid, None, "p"]]


def test_legacy_submit_jobs_answers_an_error_text_and_stores_nothing():
    params = {"jobs": jobs_text(wire_job(prodSourceLabel="managed"))}

    response = post_form(legacy("submitJobs"), params, as_plain_user())

    assert response.content.decode().startswith("ERROR: ")
    assert "missing production" in response.content.decode()
    assert database_state() == (0, 0, 0, 0)


def test_legacy_submit_jobs_needs_an_authenticated_caller():
    response = Client().post(legacy("submitJobs"), {"jobs": jobs_text(wire_job())})

    assert response.status_code == 403
    assert database_state() == (0, 0, 0, 0)


@pytest.fixture
def described_job():
    job = job_with_files(n_inputs=1, n_outputs=1, jobstatus=JobStatus.RUNNING)
    JobMetadata.objects.create(job=job, metadata='{"files": {}}')
    return Job.objects.get(pk=job.pk)


def description_request(encoding: str, ids: list, headers: dict, endpoint: str = "job/get_description"):
    url = v1(endpoint)
    if encoding == "json":
        return post_json(url, {"job_ids": ids}, headers)
    if encoding == "gzip":
        return post_gzip_json_v1(url, {"job_ids": ids}, headers)
    if encoding == "form":
        return post_form(url, {"job_ids": ids}, headers)
    return get_query(url, {"job_ids": ids}, headers)


@pytest.mark.parametrize("encoding", ["json", "gzip", "form", "get"])
@pytest.mark.parametrize("endpoint", ["job/get_description", "job/get_description_incl_archive"])
def test_get_description_answers_full_job_dicts_and_null_for_unknown_ids(described_job, encoding, endpoint):
    response = description_request(encoding, [described_job.pandaid, 999999999], as_plain_user(), endpoint)

    body = decode_json(response)
    assert body["success"] is True
    described, unknown = body["data"]
    assert unknown is None
    assert described["PandaID"] == described_job.pandaid
    assert described["jobStatus"] == "running"
    assert described["jobParameters"] == "--in=${IN}"
    assert described["metadata"] == '{"files": {}}'
    assert described["creationTime"] == {"__datetime__": described_job.creationtime.isoformat()}
    assert described["nucleus"] is None
    assert [f["type"] for f in described["Files"]] == ["input", "output", "log"]
    assert len(described) == 127


def test_get_description_keeps_the_order_and_repeats_of_the_request(described_job):
    other = job_with_files(n_inputs=0, n_outputs=0)
    ids = [other.pandaid, described_job.pandaid, other.pandaid]

    data = decode_json(post_json(v1("job/get_description"), {"job_ids": ids}, as_plain_user()))["data"]

    assert [d["PandaID"] for d in data] == ids


def test_get_description_sees_archived_jobs_too(described_job):
    finished = job_with_files(jobstatus=JobStatus.FINISHED)

    response = post_json(v1("job/get_description_incl_archive"), {"job_ids": [finished.pandaid]}, as_plain_user())

    assert decode_json(response)["data"][0]["jobStatus"] == "finished"


def test_get_description_accepts_a_comma_separated_list_in_the_query(described_job):
    response = Client().get(v1("job/get_description"), {"job_ids": f"{described_job.pandaid},5"}, **as_plain_user())

    data = decode_json(response)["data"]
    assert data[0]["PandaID"] == described_job.pandaid and data[1] is None


def test_ids_no_job_can_have_are_answered_null():
    data = decode_json(post_json(v1("job/get_description"), {"job_ids": [0, -3, 2**70]}, as_plain_user()))["data"]

    assert data == [None, None, None]


def test_get_description_reads_at_most_5500_ids():
    body = gzip.compress(json.dumps({"job_ids": list(range(1, 6002))}).encode())
    response = Client().generic(
        "POST", v1("job/get_description"), body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip",
        **as_plain_user(),
    )  # fmt: skip

    assert len(decode_json(response)["data"]) == 5500


def test_get_description_needs_an_authenticated_caller(described_job):
    assert post_json(v1("job/get_description"), {"job_ids": [described_job.pandaid]}, {}).status_code == 403


@pytest.mark.parametrize(
    ("params", "message"),
    [({}, "missing required argument job_ids"), ({"job_ids": "abc"}, "job_ids must be a list of integers")],
)
def test_get_description_with_bad_ids_is_an_argument_error(params, message):
    body = decode_json(post_json(v1("job/get_description"), params, as_plain_user()))

    assert body["success"] is False
    assert message in body["message"]


def test_a_submitted_job_is_described_with_what_was_submitted():
    submitted = decode_json(
        post_json(v1("job/submit"), {"jobs": jobs_text(wire_job(jobName="round.trip", coreCount=4))}, as_plain_user())
    )["data"]
    pandaid = submitted[0][0]

    described = decode_json(post_json(v1("job/get_description"), {"job_ids": [pandaid]}, as_plain_user()))["data"][0]

    assert (described["jobName"], described["coreCount"], described["jobStatus"]) == ("round.trip", 4, "defined")
    assert described["jobParameters"] == f"-o out.{pandaid:05d}.root"
    assert [f["lfn"] for f in described["Files"]] == ["in.root", f"out.{pandaid:05d}.root", f"log.{pandaid:05d}.tgz"]
