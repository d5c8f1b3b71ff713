import os

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import PandaQueueFactory, SiteFactory, StorageEndpointFactory, queue_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return Client()


def test_the_queue_description_is_served_without_authentication(client):
    queue = PandaQueueFactory(name="CERN-PROD_UCORE", document=queue_document("CERN-PROD_UCORE", "CERN-PROD"))

    response = client.get("/cache/schedconfig/CERN-PROD_UCORE.all.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert {key: body[key] for key in queue.document} == queue.document


def test_an_unknown_queue_answers_404_with_an_error_key_the_pilot_recognises(client):
    response = client.get("/cache/schedconfig/NO_SUCH_QUEUE.all.json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "NO_SUCH_QUEUE" in response.json()["error"]


def test_the_queue_description_of_a_queue_is_cached_between_pilot_requests(client):
    PandaQueueFactory(name="Q_HOT")
    client.get("/cache/schedconfig/Q_HOT.all.json")

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/cache/schedconfig/Q_HOT.all.json")

    assert response.status_code == 200
    assert len(queries) == 0


def test_all_queues_are_served_as_one_object_keyed_by_queue(client):
    PandaQueueFactory(name="Q_ONE")
    PandaQueueFactory(name="Q_TWO")

    response = client.get("/cache/schedconfig/schedconfig.all.json")

    assert response.status_code == 200
    body = response.json()
    assert sorted(body) == ["Q_ONE", "Q_TWO"]
    assert body["Q_ONE"]["nickname"] == "Q_ONE"


def test_all_queues_is_an_empty_object_when_no_queue_exists(client):
    assert client.get("/cache/schedconfig/schedconfig.all.json").json() == {}


def test_the_cric_file_wraps_one_queue_in_an_object(client):
    PandaQueueFactory(name="Q_CRIC")

    response = client.get("/cric/schedconfig/Q_CRIC.json")

    assert response.status_code == 200
    assert list(response.json()) == ["Q_CRIC"]
    assert response.json()["Q_CRIC"]["panda_resource"] == "Q_CRIC"


def test_the_cric_file_of_an_unknown_queue_is_a_404_with_an_error_key(client):
    response = client.get("/cric/schedconfig/NOPE.json")

    assert response.status_code == 404
    assert "error" in response.json()


def test_the_storage_endpoints_document_lists_every_endpoint(client):
    StorageEndpointFactory(name="A_DATADISK", site=SiteFactory(name="A"))
    StorageEndpointFactory(name="B_DATADISK", site=SiteFactory(name="B"))

    response = client.get("/cache/ddmendpoints.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert sorted(body) == ["A_DATADISK", "B_DATADISK"]
    assert body["A_DATADISK"]["site"] == "A"
    assert body["A_DATADISK"]["arprotocols"]["read_lan"][0]["endpoint"] == "file://localhost"


@pytest.mark.parametrize(
    "url",
    [
        "/cache/schedconfig/Q.all.json",
        "/cache/schedconfig/schedconfig.all.json",
        "/cric/schedconfig/Q.json",
        "/cache/ddmendpoints.json",
        "/trf/run.sh",
    ],
)
def test_static_documents_only_answer_get_and_head(client, url):
    assert client.post(url).status_code == 405


def test_head_of_a_document_answers_without_a_body(client):
    PandaQueueFactory(name="Q")

    response = client.head("/cache/schedconfig/Q.all.json")

    assert response.status_code == 200
    assert response.content == b""


@pytest.fixture
def trf_dir(settings):
    settings.PANDA_TRF_DIR.mkdir(parents=True, exist_ok=True)
    (settings.PANDA_TRF_DIR / "user").mkdir()
    (settings.PANDA_TRF_DIR / "user" / "runGen.sh").write_bytes(b"#!/bin/sh\necho hello\n")
    (settings.PANDA_TRF_DIR / "run.sh").write_bytes(b"#!/bin/sh\nexit 0\n")
    return settings.PANDA_TRF_DIR


def test_a_transformation_is_downloaded_as_bytes(client, trf_dir):
    response = client.get("/trf/user/runGen.sh")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == b"#!/bin/sh\necho hello\n"


def test_a_missing_transformation_is_404(client, trf_dir):
    response = client.get("/trf/user/absent.sh")

    assert response.status_code == 404
    assert response.content == b"not found"


def test_a_directory_is_not_a_transformation(client, trf_dir):
    assert client.get("/trf/user").status_code == 404


@pytest.mark.parametrize(
    "url",
    ["/trf/../settings.py", "/trf/user/../../secret", "/trf/%2e%2e/secret", "/trf//etc/passwd"],
)
def test_paths_escaping_the_transformation_directory_are_refused(client, trf_dir, url):
    (trf_dir.parent / "secret").write_text("do not serve")

    response = client.get(url)

    assert response.status_code in (403, 404)
    assert b"do not serve" not in (response.content if not response.streaming else b"".join(response.streaming_content))


def test_a_traversal_path_is_answered_forbidden(client, trf_dir):
    response = client.get("/trf/user/../../secret")

    assert response.status_code == 403
    assert response.content == b"forbidden"


def test_a_symlink_pointing_outside_the_transformation_directory_is_refused(client, trf_dir):
    outside = trf_dir.parent / "outside.sh"
    outside.write_text("secret")
    os.symlink(outside, trf_dir / "link.sh")

    assert client.get("/trf/link.sh").status_code == 403
