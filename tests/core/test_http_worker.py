"""The gunicorn worker of pandaweb/http_worker.py, served for real: gunicorn in a subprocess, raw sockets.

Requests the application must see the same way are sent to both gunicorn's own sync worker and ours
and the environs compared; the rest checks our worker's answers, limits and failure handling.
"""

import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BASE = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
API_WORKER = "pandaweb.http_worker.ApiWorker"
MAX_BODY = 3_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, app: str, worker_class: str, tmp: Path, env: dict | None = None, args: tuple = ()):
        self.port = free_port()
        self.log = tmp / f"gunicorn-{worker_class}-{self.port}.log"
        command = [
            str(GUNICORN), app, "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--worker-class", worker_class,
            "--timeout", "4", "--no-control-socket", "--log-level", "warning", *args,
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=BASE, env={**os.environ, **(env or {})}, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"gunicorn did not start: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Answer:
    def __init__(self, raw: bytes):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0] else 0
        self.header_list = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]
        self.headers = {name.lower(): value for name, value in self.header_list}

    def json(self) -> dict:
        return json.loads(self.body)


def exchange(port: int, raw: bytes, *, half_close: bool = False, timeout: float = 15) -> Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return Answer(read_all(sock))


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def request(
    method: str, target: str, headers: dict | list = (), body: bytes = b"", version: str = "1.1",
    host: str = "panda.example.org",
) -> bytes:  # fmt: skip
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    if body and not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in pairs):
        pairs.append(("Content-Length", str(len(body))))
    lines = [f"{method} {target} HTTP/{version}", f"Host: {host}", *(f"{n}: {v}" for n, v in pairs)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("files") / "payload.bin"
    path.write_bytes(os.urandom(300_000))
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory, big_file):
    tmp = tmp_path_factory.mktemp("gunicorn")
    env = {"ECHO_FILE": str(big_file), "PANDA_HTTP_MAX_BODY": str(MAX_BODY)}
    started = {}
    try:
        for name, worker in (("ours", API_WORKER), ("gunicorn", "sync")):
            args = ("--access-logfile", str(tmp / f"access-{name}.log"))
            started[name] = Gunicorn("tests.core.http_echo:application", worker, tmp, env, args)
        yield {name: server.port for name, server in started.items()} | {
            "logs": tmp,
            "pids": {name: server.process.pid for name, server in started.items()},
        }
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture
def ours(servers) -> int:
    return servers["ours"]


def served(servers) -> dict[str, int]:
    return {name: port for name, port in servers.items() if name not in ("logs", "pids")}


SAME_AS_GUNICORN = {
    "a GET with a query": request("GET", "/jobs/?jobstatus=running&limit=5"),
    "a percent-encoded path": request("GET", "/files/a%20b%2Fc%C3%A9?x=%41"),
    "a POST of gzip JSON as pilot 3.11 sends it": request(
        "POST", "/server/panda/updateJob",
        {"Content-Type": "application/json", "Authorization": "Bearer abc.def", "Origin": "atlas.production"},
        gzip.compress(b'{"jobId": 1, "state": "running"}'),
    ),
    "a form-urlencoded POST": request(
        "POST", "/server/panda/getJob", {"Content-Type": "application/x-www-form-urlencoded"}, b"siteName=Q&mem=2000"
    ),
    "a repeated header": request("GET", "/", [("Accept", "text/html"), ("Accept", "application/json")]),
    "a header name with an underscore": request("GET", "/", [("X_Forwarded_For", "10.9.9.9"), ("X-Real", "1")]),
    "a secure-scheme header from a trusted proxy": request("GET", "/", {"X-Forwarded-Proto": "https"}),
    "an absolute-form target": request("GET", "http://panda.example.org/server/panda/isAlive?a=1"),
    "an HTTP/1.0 request": request("GET", "/server/panda/isAlive", version="1.0"),
    "a value with surrounding blanks": request("GET", "/", [("X-Padded", "  value  ")]),
}  # fmt: skip


@pytest.mark.parametrize("raw", SAME_AS_GUNICORN.values(), ids=SAME_AS_GUNICORN.keys())
def test_the_application_sees_a_request_as_under_gunicorns_sync_worker(servers, raw):
    seen = {}
    for name, port in served(servers).items():
        answer = exchange(port, raw)
        assert answer.status == 200, (name, answer.raw[:300])
        seen[name] = answer.json()
        assert seen[name].pop("SERVER_PORT") == str(port)

    assert seen["ours"] == seen["gunicorn"]


def test_each_request_is_written_to_the_access_log_as_gunicorn_writes_it(servers):
    lines, sizes = {}, {}
    for name, port in served(servers).items():
        answer = exchange(port, request("GET", f"/logged/{name}?x=1", {"User-Agent": "Pilot/3.11.2"}))
        sizes[name] = len(answer.body)
        log = servers["logs"] / f"access-{name}.log"
        deadline = time.monotonic() + 10
        while f"/logged/{name}" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        lines[name] = next(line for line in log.read_text().splitlines() if f"/logged/{name}" in line)

    assert '"GET /logged/ours?x=1 HTTP/1.1" 200' in lines["ours"]
    assert lines["ours"].endswith('"-" "Pilot/3.11.2"')
    for name, line in lines.items():
        assert line.split('"')[2].split() == ["200", str(sizes[name])]


def test_a_chunked_body_arrives_whole_with_its_length(ours):
    raw = request(
        "POST", "/upload", {"Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream"},
        b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
    )  # fmt: skip

    seen = exchange(ours, raw).json()

    assert seen["body_sha256"] == hashlib.sha256(b"hello, world").hexdigest()
    assert seen["CONTENT_LENGTH"] == "12"


def test_expect_100_continue_is_answered_before_the_body_is_sent(ours):
    body = b"x" * 5000
    head = request("POST", "/upload", {"Expect": "100-continue", "Content-Length": str(len(body))})
    with socket.create_connection(("127.0.0.1", ours), timeout=15) as sock:
        sock.sendall(head)
        interim = sock.recv(100)
        sock.sendall(body)
        answer = Answer(read_all(sock))

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert answer.status == 200
    assert answer.json()["body_length"] == 5000


def test_an_unknown_expectation_is_refused_with_417(ours):
    answer = exchange(ours, request("POST", "/", {"Expect": "something-else"}, b"abc"))

    assert answer.status == 417


def test_the_answer_carries_length_and_date_and_closes_the_connection(ours):
    answer = exchange(ours, request("GET", "/"))

    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.headers["x-echo"] == "yes"
    assert "date" in answer.headers
    assert answer.headers["connection"] == "close"
    # The application's own hop-by-hop header is not passed on.
    assert [value for name, value in answer.header_list if name.lower() == "connection"] == ["close"]


def test_a_streamed_answer_arrives_complete_and_ends_with_the_connection(ours):
    answer = exchange(ours, request("GET", "/stream"))

    assert answer.status == 200
    assert "content-length" not in answer.headers
    assert answer.body == b"".join(bytes([n % 251]) * 1000 for n in range(300))


def test_a_file_answer_is_sent_whole(ours, big_file):
    answer = exchange(ours, request("GET", "/file"))

    assert answer.status == 200
    assert answer.headers["content-length"] == str(big_file.stat().st_size)
    assert answer.body == big_file.read_bytes()


def test_the_write_callable_and_the_returned_body_are_both_sent(ours):
    answer = exchange(ours, request("GET", "/write"))

    assert (answer.status, answer.body) == (200, b"written, then returned")


def test_a_head_request_gets_the_length_but_no_body(ours):
    answer = exchange(ours, request("HEAD", "/"))

    assert answer.status == 200
    assert int(answer.headers["content-length"]) > 0
    assert answer.body == b""


def test_a_204_answer_has_no_body(ours):
    answer = exchange(ours, request("GET", "/no-content"))

    assert (answer.status, answer.body) == (204, b"")
    assert "content-length" not in answer.headers


def test_an_application_error_is_a_500_and_the_worker_serves_the_next_request(ours):
    failed = exchange(ours, request("GET", "/raise"))
    after = exchange(ours, request("GET", "/"))

    assert failed.status == 500
    assert b"RuntimeError" not in failed.body
    assert after.status == 200


def test_a_header_that_would_split_the_answer_is_refused(ours):
    answer = exchange(ours, request("GET", "/split-header"))

    assert answer.status == 500
    assert "set-cookie" not in answer.headers
    assert b"never sent" not in answer.raw


MALFORMED = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    "no version (HTTP/0.9)": b"GET /\r\n\r\n",
    "a bad header line": b"GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n",
    "a non-numeric Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    "both Content-Length and chunked": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    ),
    "a bad chunk size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "contradictory scheme headers": (
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n"
    ),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_gets_400_without_reaching_the_application(ours, raw):
    answer = exchange(ours, raw)

    assert answer.status == 400
    assert answer.headers["content-type"].startswith("text/plain")
    assert "x-echo" not in answer.headers


def test_a_request_line_over_the_limit_gets_414(ours):
    assert exchange(ours, request("GET", "/" + "a" * 5000)).status == 414


def test_too_many_header_fields_get_431(ours):
    assert exchange(ours, request("GET", "/", [(f"X-H{n}", "v") for n in range(101)])).status == 431


def test_a_header_field_over_the_limit_gets_431(ours):
    assert exchange(ours, request("GET", "/", {"X-Long": "v" * 9000})).status == 431


def test_a_body_over_the_limit_gets_413_before_the_application(ours):
    body = b"z" * (MAX_BODY + 1)

    answer = exchange(ours, request("POST", "/", {"Content-Type": "application/octet-stream"}, body))

    assert answer.status == 413


def test_a_body_larger_than_memory_spooling_arrives_intact(ours):
    body = os.urandom(2_200_000)

    seen = exchange(ours, request("POST", "/", {"Content-Type": "application/octet-stream"}, body)).json()

    assert (seen["body_length"], seen["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert seen["input_is_readable"]


def test_a_client_that_half_closes_after_its_request_is_answered(ours):
    answer = exchange(ours, request("POST", "/", {}, b"abc"), half_close=True)

    assert answer.status == 200
    assert answer.json()["body_length"] == 3


def worker_sockets(gunicorn_pid: int) -> int:
    (worker,) = Path(f"/proc/{gunicorn_pid}/task/{gunicorn_pid}/children").read_text().split()
    return sum(os.readlink(fd).startswith("socket:") for fd in Path(f"/proc/{worker}/fd").iterdir())


def test_after_a_whole_request_the_worker_closes_without_waiting_for_the_client(servers):
    idle = worker_sockets(servers["pids"]["ours"])
    with socket.create_connection(("127.0.0.1", servers["ours"]), timeout=15) as sock:
        sock.sendall(request("GET", "/"))
        answer = Answer(read_all(sock))  # ends with the server's FIN; our side stays open
        holding = worker_sockets(servers["pids"]["ours"])

    assert answer.status == 200
    assert holding == idle


def test_a_client_that_connects_and_leaves_does_not_stop_the_worker(ours):
    for _ in range(3):
        socket.create_connection(("127.0.0.1", ours), timeout=5).close()

    assert exchange(ours, request("GET", "/")).status == 200


def test_a_client_that_leaves_in_the_middle_of_its_body_gets_no_answer_and_the_worker_goes_on(ours):
    with socket.create_connection(("127.0.0.1", ours), timeout=15) as sock:
        sock.sendall(request("POST", "/", {"Content-Length": "100"}) + b"only part")
        sock.shutdown(socket.SHUT_WR)
        partial = Answer(read_all(sock))

    assert partial.status in (0, 400)
    assert exchange(ours, request("GET", "/")).status == 200


def test_a_stalled_client_is_dropped_and_the_worker_serves_the_others(ours):
    # One worker: the stalled connection holds it until the read timeout (half of --timeout 4).
    with socket.create_connection(("127.0.0.1", ours), timeout=30) as stalled:
        stalled.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        answer = exchange(ours, request("GET", "/"), timeout=30)
        assert read_all(stalled) == b""

    assert answer.status == 200


def test_a_second_request_in_the_same_write_is_not_answered(ours):
    raw = request("GET", "/first") + request("GET", "/second")

    answer = exchange(ours, raw)

    assert answer.status == 200
    assert answer.json()["PATH_INFO"] == "/first"
    assert answer.raw.count(b"HTTP/1.1 ") == 1


# --- the PanDA application under the worker ------------------------------------------------------


def local_request(*args, **kwargs) -> bytes:
    return request(*args, host="127.0.0.1", **kwargs)


@pytest.fixture(scope="module")
def panda_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("panda")
    trf = tmp / "trf"
    (trf / "demo").mkdir(parents=True)
    (trf / "demo" / "run.sh").write_bytes(b"#!/bin/sh\necho payload\n" * 5000)
    env = {"PANDA_VAR_DIR": str(tmp / "var"), "PANDA_TRF_DIR": str(trf), "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    server = Gunicorn("pandaweb.wsgi:application", API_WORKER, tmp, {**env, "DATABASE_URL": ""})
    try:
        yield server.port, trf
    finally:
        server.stop()


def test_the_panda_server_answers_is_alive_in_every_encoding_a_pilot_uses(panda_server):
    port, _ = panda_server
    gzip_json = local_request(
        "POST", "/server/panda/isAlive", {"Content-Type": "application/json"}, gzip.compress(b"{}")
    )
    form = local_request("POST", "/server/panda/isAlive", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=b")

    for raw in (local_request("GET", "/server/panda/isAlive"), gzip_json, form):
        answer = exchange(port, raw)
        assert (answer.status, answer.body) == (200, b"alive=yes")


def test_the_panda_server_streams_a_transformation_script_whole(panda_server):
    port, trf = panda_server

    answer = exchange(port, local_request("GET", "/trf/demo/run.sh"))

    assert answer.status == 200
    assert answer.body == (trf / "demo" / "run.sh").read_bytes()


def test_the_panda_server_answers_a_getjob_without_a_token_with_sc_role(panda_server):
    port, _ = panda_server
    body = gzip.compress(json.dumps({"siteName": "ANY"}).encode())

    answer = exchange(port, local_request("POST", "/server/panda/getJob", {"Content-Type": "application/json"}, body))

    # protocol.md §5: no production/pilot role -> StatusCode 60 (SC_Role), urlencoded.
    assert (answer.status, answer.body) == (200, b"StatusCode=60")


@pytest.mark.parametrize("value", ["lots", "0", "-5"])
def test_a_max_body_that_is_not_a_positive_number_of_bytes_stops_the_worker_with_the_reason(monkeypatch, value):
    from pandaweb.http_worker import max_body_setting

    monkeypatch.setenv("PANDA_HTTP_MAX_BODY", value)

    with pytest.raises(SystemExit, match="PANDA_HTTP_MAX_BODY must be a positive number of bytes"):
        max_body_setting()


def test_the_max_body_defaults_to_one_gibibyte(monkeypatch):
    from pandaweb.http_worker import max_body_setting

    monkeypatch.delenv("PANDA_HTTP_MAX_BODY", raising=False)

    assert max_body_setting() == 1 << 30
