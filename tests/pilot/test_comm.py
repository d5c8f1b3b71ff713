import gzip
import json
import threading

import pytest

from pilot.comm import transport
from pilot.comm.apinames import GETJOB_V1, UPDATEJOB_V1, to_v1
from pilot.comm.credentials import Credentials, find_credentials
from pilot.comm.server import (
    _getjob_from_legacy,
    _getjob_from_v1,
    _update_from_legacy,
    _update_from_v1,
    parse_legacy_body,
    server_base_url,
)
from pilot.comm.transport import TransportError, encode_body, with_retries


def test_the_legacy_body_is_gzip_json_without_content_encoding_or_accept():
    body, headers = encode_body({"jobId": 1, "flag": True}, style="legacy")
    assert body[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(body)) == {"jobId": 1, "flag": True}
    assert headers == {"Content-Type": "application/json"}


def test_the_v1_body_is_gzip_json_with_content_encoding_and_accept():
    body, headers = encode_body({"job_id": 1}, style="v1")
    assert json.loads(gzip.decompress(body)) == {"job_id": 1}
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Accept"] == "application/json"


def test_the_form_body_has_string_values():
    body, headers = encode_body({"a": True, "b": 3, "c": [1]}, style="form")
    assert body == b"a=True&b=3&c=%5B1%5D"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("url", "port", "base"),
    [
        ("panda.example.org", 25443, "https://panda.example.org:25443"),
        ("https://panda.example.org", 25443, "https://panda.example.org:25443"),
        ("https://panda.example.org:8443", 25443, "https://panda.example.org:8443"),
        ("http://127.0.0.1:8000/", 25443, "http://127.0.0.1:8000"),
        ("", 25443, ""),
    ],
)
def test_the_server_url_is_built_like_pilot_3(url, port, base):
    assert server_base_url(url, port) == base


def test_legacy_answers_are_json_when_braced_and_query_strings_otherwise():
    assert parse_legacy_body('{"StatusCode": 0, "command": "NULL"}') == {"StatusCode": 0, "command": "NULL"}
    assert parse_legacy_body("StatusCode=0&command=debug%2Ctobekilled") == {
        "StatusCode": "0",
        "command": "debug,tobekilled",
    }


def test_getjob_answers_of_both_generations_are_understood():
    job = {"PandaID": 7, "StatusCode": 0}
    assert _getjob_from_legacy({"StatusCode": "0", "PandaID": "7"}).jobs == [{"StatusCode": "0", "PandaID": "7"}]
    assert _getjob_from_legacy({"StatusCode": "0", "jobs": json.dumps([job])}).jobs == [job]
    assert _getjob_from_legacy({"StatusCode": "20"}).status_code == 20
    assert _getjob_from_v1({"success": True, "data": {"StatusCode": 0, "jobs": [job]}}).jobs == [job]
    no_job = _getjob_from_v1({"success": False, "message": "No jobs in PanDA", "data": None})
    assert (no_job.status_code, no_job.jobs) == (20, [])
    assert _getjob_from_v1({"success": False, "message": "no production/pilot role", "data": None}).status_code == 30
    assert _getjob_from_v1({"StatusCode": 0, "PandaID": 7}).jobs == [{"StatusCode": 0, "PandaID": 7}]


def test_update_answers_of_both_generations_are_understood():
    legacy = _update_from_legacy({"StatusCode": "0", "command": "NULL"})
    assert (legacy.status_code, legacy.command) == (0, "")
    killed = _update_from_v1({"success": True, "message": "", "data": {"StatusCode": 0, "command": "tobekilled"}})
    assert (killed.status_code, killed.command) == (0, "tobekilled")
    invalid = _update_from_v1({"success": False, "message": "job_id is NULL", "data": {"StatusCode": 50}})
    assert invalid.permanent_failure
    refused = _update_from_v1({"success": False, "message": "no role", "data": None})
    assert refused.status_code == 60
    db_error = _update_from_v1({"success": True, "message": "Database error", "data": {"StatusCode": 30}})
    assert db_error.status_code == 30 and not db_error.permanent_failure


def test_v1_names_replace_legacy_names_and_undeclared_fields_are_dropped():
    params = to_v1({"siteName": "Q", "mem": 100, "cpu": 2000.0, "workingGroup": "", "taskID": 5}, GETJOB_V1)
    assert params == {"site_name": "Q", "memory": 100, "task_id": 5}
    update = to_v1(
        {"jobId": 1, "state": "running", "timestamp": "x", "startTime": 0.0, "xml": "{}", "pilotErrorCode": None},
        UPDATEJOB_V1,
    )
    assert update == {
        "job_id": 1,
        "job_status": "running",
        "start_time": "1970-01-01 00:00:00",
        "job_output_report": "{}",
    }


def test_retries_back_off_and_return_the_first_answer():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransportError("connection refused")
        return "ok"

    assert with_retries(flaky, attempts=4, base=0.01, cap=0.02) == "ok"
    assert len(calls) == 3


def test_retries_give_up_after_the_last_attempt_and_a_stop_event_cuts_the_wait():
    def down():
        raise TransportError("down")

    with pytest.raises(TransportError):
        with_retries(down, attempts=2, base=0.01, cap=0.01)
    stop = threading.Event()
    stop.set()
    with pytest.raises(TransportError):
        with_retries(down, attempts=5, base=100, cap=100, stop=stop)


def test_backoff_delays_grow_are_capped_and_jittered():
    delays = transport.backoff_delays(attempts=6, base=1, cap=4)
    assert len(delays) == 5
    assert 0.5 <= delays[0] <= 1
    assert 2 <= delays[2] <= 4
    assert all(d <= 4 for d in delays)


def test_a_closed_port_is_a_transport_error():
    with pytest.raises(TransportError):
        transport.post("http://127.0.0.1:9/server/panda/getJob", {}, style="legacy", creds=Credentials(), timeout=2)


def test_the_token_file_is_found_and_sent_as_bearer_with_origin(tmp_path, monkeypatch):
    (tmp_path / "token").write_text("abc.def\n")
    monkeypatch.setenv("OIDC_AUTH_TOKEN", "token")
    monkeypatch.setenv("OIDC_AUTH_ORIGIN", "atlas.pilot")
    monkeypatch.delenv("PILOT_SOURCE_DIR", raising=False)
    monkeypatch.delenv("PILOT_WORK_DIR", raising=False)
    monkeypatch.setenv("X509_USER_PROXY", str(tmp_path / "no-proxy"))
    creds = find_credentials(pilot_home=str(tmp_path))
    assert creds.present
    assert creds.headers() == {"Authorization": "Bearer abc.def", "Origin": "atlas.pilot"}


def test_the_token_is_searched_in_the_auth_dir_parent_first(tmp_path, monkeypatch):
    (tmp_path / "auth").mkdir()
    (tmp_path / "token").write_text("parent")
    (tmp_path / "auth" / "token").write_text("inside")
    monkeypatch.setenv("OIDC_AUTH_TOKEN", "token")
    monkeypatch.setenv("OIDC_AUTH_DIR", str(tmp_path / "auth"))
    assert find_credentials(pilot_home="/nonexistent").token() == "parent"


def test_without_token_or_proxy_there_is_no_credential(tmp_path, monkeypatch):
    monkeypatch.delenv("OIDC_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("PANDA_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("X509_USER_PROXY", str(tmp_path / "missing"))
    assert not find_credentials(pilot_home=str(tmp_path), cacert=str(tmp_path / "missing")).present
