"""The heartbeat step driven by wrk: pilots.py's heartbeat requests, pre-built, replayed by wrk_heartbeat.lua.

pilots.py (asyncio Python) costs ~0.2-0.3 ms of CPU per heartbeat on the cores it shares with the
server; wrk (C, one thread) replays pre-built requests for a small fraction of that. The requests are
made by pilots.py's own code (``Pilots.headers``, ``Pilots.update_body``, ``post_request``), so they
are byte for byte what its heartbeat mode sends: ``updateJob state=running`` of client k for its
share of the running jobs with ``cpuConsumptionTime`` = the n-th update of that job. They are in
round-major order over all running jobs, as the C clients send them together, so two updates of
one job are a whole round apart. A request is sent at most once: wrk_heartbeat.lua stops rather
than wrap around, and :func:`summary_problems` refuses a step that ran dry, so the sum of
``cpuconsumptiontime`` still counts the updates the database applied.

The file (``var/bench/heartbeat-requests-cC.bin``): a line ``wrk-heartbeat-requests 1 N``, then
N + 1 records ``<length>\\n<bytes>``: the idle request (isAlive, sent once the N ran out), then the
N requests.
"""

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

from pilots import UPDATE_PATH, Pilots, heartbeat_share, parse_args, post_request

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk_heartbeat.lua"
MAGIC = b"wrk-heartbeat-requests 1"
SUMMARY_KEY = "wrk_heartbeat"
MAX_RATE = 6000.0  # heartbeats/s the pre-built requests must last for: generous (the server does < 3,000)
SOCKET_ERRORS = ("connect", "read", "write", "timeout")


def wrk_path() -> str | None:
    return shutil.which("wrk")


def rounds_needed(max_rate: float, seconds: float, n_running: int) -> int:
    """Rounds over the running jobs that last ``seconds`` at ``max_rate`` heartbeats/s."""
    return max(1, math.ceil(max_rate * seconds / n_running))


def heartbeat_pilots(
    *, host: str, port: int, token: str, site: str, running: tuple[int, int], concurrency: int, close: bool = False
) -> Pilots:
    """pilots.py's heartbeat mode as run.py starts it (``close``: its ``--connection-close``)."""
    argv = [
        "--host", host, "--port", str(port), "--token", token, "--mode", "heartbeat",
        "--concurrency", str(concurrency), "--site", site, "--running", f"{running[0]}-{running[1]}",
        "--ids", "/dev/null",
    ]  # fmt: skip
    return Pilots(parse_args([*argv, "--connection-close"] if close else argv))


def heartbeat_plan(running: tuple[int, int], concurrency: int, rounds: int) -> Iterator[tuple[int, int, int]]:
    """(client, pandaid, nth) in the order pilots.py's C clients send them together, the clients in lockstep.

    Client k loops over ``heartbeat_share(running, C, k)``; the n-th pass sends nth = n. Round n
    holds every running job once, so one job's consecutive updates are a round apart.
    """
    shares = [heartbeat_share(running, concurrency, client) for client in range(concurrency)]
    width = max((len(share) for share in shares), default=0)
    for nth in range(1, rounds + 1):
        for position in range(width):
            for client, share in enumerate(shares):
                if position < len(share):
                    yield client, share[position], nth


def heartbeat_request(pilots: Pilots, client: int, pandaid: int, nth: int) -> bytes:
    """The bytes pilots.py's ``Pilots.update`` writes for ``updateJob state=running``."""
    return post_request(UPDATE_PATH, pilots.headers, pilots.update_body(client, pandaid, "running", nth))


def idle_request(pilots: Pilots) -> bytes:
    """What wrk sends once the requests ran out: isAlive, with the same headers; it changes nothing."""
    return b"GET /server/panda/isAlive HTTP/1.1\r\n" + pilots.headers + b"\r\n"


def requests_write(path: Path, pilots: Pilots, rounds: int) -> int:
    """Writes the file wrk_heartbeat.lua reads; returns the number of heartbeat requests in it."""
    running, concurrency = pilots.args.running, pilots.args.concurrency
    count = rounds * max(running[1] - running[0] + 1, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as out:
        out.write(MAGIC + b" %d\n" % count)
        idle = idle_request(pilots)
        out.write(b"%d\n" % len(idle) + idle)
        for client, pandaid, nth in heartbeat_plan(running, concurrency, rounds):
            data = heartbeat_request(pilots, client, pandaid, nth)
            out.write(b"%d\n" % len(data) + data)
            written += 1
    if written != count:
        raise RuntimeError(f"wrote {written} heartbeat requests, announced {count}")
    return count


def requests_read(path: Path) -> tuple[bytes, list[bytes]]:
    """(idle request, heartbeat requests) of a file written by :func:`requests_write`."""
    data = path.read_bytes()
    end = data.index(b"\n")
    head = data[:end].split(b" ")
    if b" ".join(head[:2]) != MAGIC:
        raise ValueError(f"{path}: not a heartbeat request file")
    count, offset, records = int(head[2]), end + 1, []
    for _ in range(count + 1):
        end = data.index(b"\n", offset)
        length = int(data[offset:end])
        records.append(data[end + 1 : end + 1 + length])
        offset = end + 1 + length
    return records[0], records[1:]


def wrk_command(port: int, concurrency: int, seconds: float, path: Path, host: str = "127.0.0.1") -> list[str]:
    """One wrk thread, C connections, ``--timeout 30s``; the requests come from ``path``."""
    wrk = wrk_path()
    if not wrk:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    return [wrk, "-t1", f"-c{concurrency}", f"-d{max(1, int(seconds))}s", "--timeout", "30s", "-s", str(LUA),
            f"http://{host}:{port}/", "--", str(path)]  # fmt: skip


def summary_parse(out: str) -> dict | None:
    """The JSON line wrk_heartbeat.lua's done() printed, None when there is none."""
    for line in reversed(out.splitlines()):
        if line.startswith('{"' + SUMMARY_KEY + '"'):
            return json.loads(line)
    return None


def summary_problems(summary: dict | None, stored: int | None = None) -> list[str]:
    """What makes a wrk heartbeat step invalid, from its summary and the updates the database applied in all.

    ``stored``: the sum of the counters after wrk exited (they start at 0). Every answered request was
    applied (stored >= answered) and nothing was applied twice or invented (stored <= sent).
    """
    if summary is None:
        return ["wrk printed no summary (see its output)"]
    problems = []
    if summary.get("threads") != 1:
        problems.append(f"wrk ran {summary.get('threads')} threads; the requests file is for one")
    errors = summary.get("errors", {})
    if errors.get("status"):
        problems.append(f"wrk: {errors['status']} answers with an HTTP status > 399")
    socket = {kind: errors.get(kind, 0) for kind in SOCKET_ERRORS if errors.get(kind)}
    if socket:
        problems.append(f"wrk socket errors: {socket}")
    if summary["sent"] > summary["bodies"]:
        problems.append(
            f"driver ran dry: wrk asked for {summary['sent']} requests, {summary['bodies']} were pre-built "
            f"(raise --wrk-max-rate)"
        )
    if stored is not None:
        answered = summary["requests"] - errors.get("status", 0)
        if answered > 0 and stored == 0:
            problems.append("the server answered heartbeats but stored no cpuConsumptionTime")
        elif stored < answered:
            problems.append(f"the server answered {answered} heartbeats, the database applied {stored}")
        if stored > min(summary["sent"], summary["bodies"]):
            problems.append(f"the database applied {stored} heartbeats, wrk sent {summary['sent']}")
    return problems


def tcp_active_opens() -> int:
    """TCP connections this machine's network namespace opened since boot (/proc/net/snmp ActiveOpens)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Tcp:")]
    return int(lines[1][lines[0].index("ActiveOpens")])
