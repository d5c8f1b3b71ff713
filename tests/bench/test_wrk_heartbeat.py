"""bench/dispatch's wrk heartbeat driver: pilots.py's bytes, each request sent once and in order, a dry run refused."""

import asyncio
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

DISPATCH = Path(__file__).resolve().parents[2] / "bench" / "dispatch"
sys.path.insert(0, str(DISPATCH))
try:
    import heartbeat_requests as hr
finally:
    sys.path.remove(str(DISPATCH))

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"
SITE = "BENCH_HB"
RUNNING = (5000, 5998)  # 999 jobs: the clients' shares are uneven for C = 2, 4, 8
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nStatusCode=0"

needs_wrk = pytest.mark.skipif(hr.wrk_path() is None, reason="wrk is not installed (apt-get install wrk)")


class OneShotServer:
    """HTTP/1.1 on a raw socket in a thread, one connection at a time and one request per connection.

    Answers 200 with ``Connection: close``, then closes as gunicorn's sync worker does: FIN, then reads
    until the client's FIN. Keeps every complete request's bytes in arrival order; connections closed
    without a byte are counted in ``empty``, cut requests in ``incomplete``, anything the client sends
    after its request on the same connection in ``extra``. ``pace`` seconds of sleep
    after each connection bound how many requests a run of wrk sends.
    """

    def __init__(self, pace: float = 0.0):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.pace = pace
        self.requests: list[bytes] = []
        self.connections = 0
        self.incomplete = 0
        self.empty = 0
        self.extra = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self.connections += 1
                request = self.read(conn)
                if not request:
                    if request is None:
                        self.incomplete += 1
                    else:
                        self.empty += 1
                    continue
                self.requests.append(request)
                try:
                    conn.sendall(ANSWER)
                    conn.shutdown(socket.SHUT_WR)
                    while data := conn.recv(65536):
                        self.extra += len(data)
                except OSError:
                    pass  # the client went away (wrk exits without reading the last answers)
            if self.pace:
                time.sleep(self.pace)
        self.sock.close()

    @staticmethod
    def read(conn: socket.socket) -> bytes | None:
        """One request's bytes; b"" when the client closed without sending any, None when it was cut."""
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return None if data else b""
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                body += chunk
        except OSError:
            return None
        return head + b"\r\n\r\n" + body

    def drain(self) -> None:
        """Serve what is still queued (wrk has exited), then stop."""
        served = -1
        while served != self.connections:
            served = self.connections
            time.sleep(0.2)
        self.stopping.set()
        self.thread.join(timeout=10)


@pytest.fixture
def server():
    s = OneShotServer()
    yield s
    s.stopping.set()
    s.thread.join(timeout=10)


def pilots_for(port: int, concurrency: int, close: bool = False):
    return hr.heartbeat_pilots(
        host="127.0.0.1", port=port, token=TOKEN, site=SITE, running=RUNNING, concurrency=concurrency, close=close
    )


def run_wrk(port: int, concurrency: int, path: Path) -> tuple[dict | None, str]:
    command = hr.wrk_command(port, concurrency, 1, path)
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return hr.summary_parse(result.stdout), result.stdout


def test_the_plan_is_each_clients_heartbeat_loop_in_lockstep():
    concurrency, rounds = 4, 3
    plan = list(hr.heartbeat_plan(RUNNING, concurrency, rounds))
    n_running = RUNNING[1] - RUNNING[0] + 1
    assert len(plan) == rounds * n_running
    for client in range(concurrency):
        mine = [(pandaid, nth) for k, pandaid, nth in plan if k == client]
        share = hr.heartbeat_share(RUNNING, concurrency, client)
        assert mine == [(pandaid, nth) for nth in range(1, rounds + 1) for pandaid in share]
    # round-major: a round holds every running job once, so one job's updates are n_running apart
    assert [pandaid for _, pandaid, _ in plan[:n_running]] == list(range(RUNNING[0], RUNNING[1] + 1))
    assert {nth for _, _, nth in plan[n_running : 2 * n_running]} == {2}
    assert hr.rounds_needed(6000, 18, 20_000) == 6
    assert hr.rounds_needed(6000, 9, 2_000) == 27


@pytest.mark.parametrize("close", [False, True], ids=["gunicorn", "connection-close"])
def test_prebuilt_requests_are_the_bytes_pilots_sends(server, tmp_path, close):
    concurrency, rounds = 3, 2
    pilots = pilots_for(server.port, concurrency, close)
    path = tmp_path / "requests.bin"
    count = hr.requests_write(path, pilots, rounds)
    idle, records = hr.requests_read(path)
    assert count == len(records) == rounds * (RUNNING[1] - RUNNING[0] + 1)
    assert idle.startswith(b"GET /server/panda/isAlive HTTP/1.1\r\n") and idle.endswith(b"\r\n\r\n")
    plan = list(hr.heartbeat_plan(RUNNING, concurrency, rounds))
    picks = [0, 1, 2, 3, 500, count // 2 + 7, count - 1]

    async def pilots_send():
        # pilots.py's own path: Pilots.update -> update_body -> Http.post, over a real socket
        http = pilots.http()
        for i in picks:
            client, pandaid, nth = plan[i]
            assert await pilots.update(http, client, pandaid, "running", nth)
        http.close()

    asyncio.run(pilots_send())
    server.drain()
    assert server.requests == [records[i] for i in picks]
    first = records[0]
    assert first.startswith(b"POST /server/panda/updateJob HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port)
    assert b"\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n" in first
    assert (b"\r\nConnection: close\r\n" in first) is close


@needs_wrk
def test_wrk_sends_each_prebuilt_request_once_in_order(tmp_path):
    server = OneShotServer(pace=0.001)  # <= ~1,000 connections/s: the 2,997 requests outlast 1 s
    concurrency = 4
    path = tmp_path / "requests.bin"
    hr.requests_write(path, pilots_for(server.port, concurrency), rounds=3)
    _, records = hr.requests_read(path)
    summary, out = run_wrk(server.port, concurrency, path)
    server.drain()

    assert summary is not None, out
    assert summary["errors"] == {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    assert summary["threads"] == 1 and summary["bodies"] == len(records)
    assert 0 < summary["sent"] <= summary["bodies"], summary  # did not run dry
    assert hr.summary_problems(summary) == []
    # every request wrk took reached the server complete, each on its own connection, nothing else;
    # wrk reconnects after each answer, so when its time is up up to C new connections close unused
    assert len(server.requests) == summary["sent"] and server.incomplete == 0 and server.extra == 0
    assert server.connections == summary["sent"] + server.empty and server.empty <= concurrency
    # wrk counts the answers it read before its time was up; the server may have answered a few more
    assert summary["sent"] - concurrency <= summary["requests"] <= summary["sent"]
    # exactly the first N pre-built requests, byte for byte; in file order up to the C connections in flight
    index = {record: i for i, record in enumerate(records)}
    received = [index.get(request, -1) for request in server.requests]
    assert sorted(received) == list(range(summary["sent"]))
    assert max(abs(position - i) for position, i in enumerate(received)) < concurrency


@needs_wrk
def test_a_driver_that_runs_dry_is_refused(server, tmp_path):
    path = tmp_path / "requests.bin"
    pilots = hr.heartbeat_pilots(
        host="127.0.0.1", port=server.port, token=TOKEN, site=SITE, running=(7000, 7009), concurrency=2
    )
    hr.requests_write(path, pilots, rounds=1)
    idle, records = hr.requests_read(path)
    summary, out = run_wrk(server.port, 2, path)
    server.drain()

    assert summary is not None, out
    assert summary["bodies"] == 10 and summary["sent"] > 10
    problems = hr.summary_problems(summary, stored=10)
    assert any(p.startswith("driver ran dry") for p in problems), problems
    # no wrap-around: each update went once, then only the idle isAlive request
    updates = [r for r in server.requests if r != idle]
    assert updates == records
    assert len(server.requests) - len(updates) == summary["sent"] - 10


def test_summary_problems_catch_errors_and_missing_updates():
    ok = {"threads": 1, "bodies": 100, "sent": 90, "requests": 88,
          "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}}  # fmt: skip
    assert hr.summary_problems(ok, stored=89) == []
    assert hr.summary_problems(None) == ["wrk printed no summary (see its output)"]
    assert hr.summary_problems({**ok, "errors": {**ok["errors"], "read": 2}}) == ["wrk socket errors: {'read': 2}"]
    assert hr.summary_problems({**ok, "errors": {**ok["errors"], "status": 88}}, stored=0) == [
        "wrk: 88 answers with an HTTP status > 399"
    ]
    assert hr.summary_problems(ok, stored=0) == ["the server answered heartbeats but stored no cpuConsumptionTime"]
    assert hr.summary_problems(ok, stored=80) == ["the server answered 88 heartbeats, the database applied 80"]
    assert hr.summary_problems(ok, stored=95) == ["the database applied 95 heartbeats, wrk sent 90"]
    assert hr.summary_problems({**ok, "threads": 2}) == ["wrk ran 2 threads; the requests file is for one"]


def test_wrk_command_is_one_thread_c_connections():
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")
    command = hr.wrk_command(8000, 8, 15.5, Path("/tmp/x.bin"))
    assert command[1:6] == ["-t1", "-c8", "-d15s", "--timeout", "30s"]
    assert command[-3:] == ["http://127.0.0.1:8000/", "--", "/tmp/x.bin"]
