"""Simulated pilots: C concurrent HTTP clients speaking the legacy API the way pilot 3.11 does.

One process, asyncio on raw sockets (no HTTP library), request bodies built with little work, so
the load generator takes a small share of the two cores it shares with the server and PostgreSQL;
it reports its own CPU time so the cost is visible. Like pilot 3.11 every call is a POST of
gzip-compressed JSON with ``Content-Type: application/json``, no ``Content-Encoding``, no
``Accept`` (so answers come urlencoded) and ``Authorization: Bearer``.

Modes:
  getjob     every client loops getJob on the hot queue.
  heartbeat  every client loops ``updateJob state=running`` over its share of the running jobs.
  cycle      every client is a pilot: getJob, ``starting``, ``running``, N ``running`` heartbeats,
             ``finished`` with an output report (stored by the server as ``holding``).

Each update carries ``cpuConsumptionTime`` = the number of updates sent for that job so far, so the
sum of the column over the jobs counts the updates the database applied (run.py reads it).
Runs until stdin closes; each client then finishes the request it has in flight. Prints one JSON
line of statistics and writes the PandaIDs it received to ``--ids``, one per line.

With ``--connection-close`` (for servers that keep connections open, such as granian) every request
says ``Connection: close`` and the client closes after the answer: one TCP connection per call, as
pilot 3.11's urllib does. With ``--half-close`` (for gunicorn's sync workers, which serve one request
per connection) the client sends its FIN right after the request, so the worker's wait for the
client's FIN after the answer (gunicorn's close_graceful) does not depend on when this process gets a CPU.

Usage: pilots.py --port P --token T --mode getjob|heartbeat|cycle --concurrency C --site Q
                 [--running LO-HI] [--heartbeats N] [--half-close | --connection-close] --ids FILE
"""

import argparse
import asyncio
import json
import resource
import sys
import time
import zlib
from urllib.parse import unquote_plus

UPDATE_PATH = b"/server/panda/updateJob"


def gzip_body(data: bytes) -> bytes:
    """A gzip member of ``data``, as ``gzip.compress(data, 1)`` makes but ~10 times cheaper.

    zlib's default window and memory level allocate and clear ~256 kB per stream, which cost ~50 µs
    per request (a fifth of this process's CPU per heartbeat); a 2 kB window and the smallest
    state suit a 1 kB body. The server reads it the same way (``gzip.decompress``).
    """
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + 11, 2)
    return compressor.compress(data) + compressor.flush()


def post_request(path: bytes, headers: bytes, body: bytes) -> bytes:
    """The bytes of one call: request line, ``headers`` (CRLF-terminated lines), Content-Length, body.

    bench/dispatch/heartbeat_requests.py pre-builds wrk's requests with it, so both drivers send the same bytes.
    """
    return b"POST " + path + b" HTTP/1.1\r\n" + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body


def heartbeat_share(running: tuple[int, int], concurrency: int, client: int) -> range:
    """The running jobs client ``client`` of ``concurrency`` heartbeats in heartbeat mode, in its order."""
    lo, hi = running
    return range(lo + client, hi + 1, concurrency)


class _Connection(asyncio.Protocol):
    """One TCP connection: collects the bytes of one answer and resolves ``waiter`` with it.

    A plain protocol, not asyncio's streams: a stream reader and writer per connection cost this
    process more CPU per request than the server's own parsing.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.eof = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._answer()

    def eof_received(self) -> bool:
        self.eof = True
        self._answer()
        return False  # close the transport

    def connection_lost(self, exc) -> None:
        self.eof = True
        self._answer()

    def _answer(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(self.buffer[:end])
            length, close = None, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and b"close" in value.lower():
                    close = True
            body_start = end + 4
            if length is not None and len(self.buffer) >= body_start + length:
                payload = bytes(self.buffer[body_start : body_start + length])
                del self.buffer[: body_start + length]
                waiter.set_result((int(head[9:12]), payload, close or self.eof))
                return
            if length is None and self.eof:
                waiter.set_result((int(head[9:12]), bytes(self.buffer[body_start:]), True))
                return
        if self.eof:
            waiter.set_exception(ConnectionResetError("connection closed before a complete answer"))


class Http:
    """One client's connection; reconnects when the server closes (gunicorn's sync workers always do)."""

    def __init__(self, host: str, port: int, headers: bytes, half_close: bool, close_each: bool = False):
        self.host, self.port = host, port
        self.prefix = headers
        self.half_close = half_close
        self.close_each = close_each
        self.connection: _Connection | None = None

    async def post(self, path: bytes, body: bytes) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if self.connection is None or self.connection.eof:
            _, self.connection = await loop.create_connection(_Connection, self.host, self.port)
        connection = self.connection
        connection.waiter = loop.create_future()
        try:
            connection.transport.write(post_request(path, self.prefix, body))
            if self.half_close:
                # gunicorn's sync worker answers, sends FIN and then waits for ours (close_graceful):
                # sending it with the request keeps a CPU-starved client from holding the worker.
                connection.transport.write_eof()
            status, payload, close = await connection.waiter
        except BaseException:
            self.close()
            raise
        if close or self.close_each:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.connection is not None:
            self.connection.transport.close()
            self.connection = None


def field(body: bytes, key: bytes) -> bytes | None:
    """One value of an urlencoded answer without decoding the other 120 keys."""
    start = body.find(b"&" + key + b"=")
    if start < 0:
        if not body.startswith(key + b"="):
            return None
        start = -1
    start += len(key) + 2
    end = body.find(b"&", start)
    return body[start : end if end >= 0 else len(body)]


class Stats:
    def __init__(self):
        self.requests: dict[str, int] = {}
        self.answers: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.ids: list[int] = []

    def count(self, table: dict, key: str) -> None:
        table[key] = table.get(key, 0) + 1


class Pilots:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.stop = asyncio.Event()
        self.stats = Stats()
        self.headers = (
            f"Host: {args.host}:{args.port}\r\nUser-Agent: Pilot/3.11.2 (Python 3.11; Linux x86_64)\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {args.token}\r\nOrigin: atlas.production\r\n"
            + ("Connection: close\r\n" if args.connection_close else "")
        ).encode()
        self.site = args.site
        self.templates: dict[tuple[int, str], tuple[bytes, bytes, bytes]] = {}

    def http(self) -> Http:
        return Http(self.args.host, self.args.port, self.headers, self.args.half_close, self.args.connection_close)

    def getjob_body(self, client: int) -> bytes:
        params = {
            "siteName": self.site, "computingElement": self.site, "prodSourceLabel": "managed",
            "diskSpace": 500000, "workingGroup": "", "cpu": 2600, "mem": 16000,
            "node": f"wn{client:04d}.bench.example.org", "allowOtherCountry": "False", "resourceType": "SCORE",
        }  # fmt: skip
        return gzip_body(json.dumps(params).encode())

    def update_body(self, client: int, pandaid: int, state: str, nth: int, extra: dict | None = None) -> bytes:
        if extra:
            return gzip_body(json.dumps({**self.update_params(client, pandaid, state, nth), **extra}).encode())
        # The JSON of a client's updates differs only in jobId and cpuConsumptionTime: serialise it
        # once per (client, state) with two markers and fill them in.
        parts = self.templates.get((client, state))
        if parts is None:
            text = json.dumps(self.update_params(client, -111, state, -222)).encode()
            head, rest = text.split(b"-111", 1)
            parts = self.templates[(client, state)] = (head, *rest.split(b"-222", 1))
        return gzip_body(b"%s%d%s%d%s" % (parts[0], pandaid, parts[1], nth, parts[2]))

    def update_params(self, client: int, pandaid: int, state: str, nth: int) -> dict:
        return {
            "jobId": pandaid, "state": state, "timestamp": "2026-01-01T00:00:00+00:00", "siteName": self.site,
            "node": f"wn{client:04d}.bench.example.org", "attemptNr": 1, "schedulerID": "harvester-bench",
            "pilotID": f"{client}|PR|3.11.2|7", "batchID": str(1000000 + client), "startTime": 1767225600.0,
            "xml": "", "metaData": "", "coreCount": 1,
            "cpuConsumptionUnit": "s+AMD EPYC 7B13 2-Core Processor 1-Socket+AVX2",
            "cpuConsumptionTime": nth, "cpuConversionFactor": 1.0, "meanCoreCount": 1.0,
            "cpu_architecture_level": "x86-64-v3", "nEvents": 0,
            "jobMetrics": "coreCount=1 nEvents=0 dbTime=0.51 dbData=1048576 workDirSize=204800",
            "maxRSS": 1850000, "maxVMEM": 2900000, "maxSWAP": 0, "maxPSS": 1900000,
            "avgRSS": 1500000, "avgVMEM": 2600000, "avgSWAP": 0, "avgPSS": 1550000,
            "totRCHAR": 1048576, "totWCHAR": 524288, "totRBYTES": 2097152, "totWBYTES": 1048576,
            "rateRCHAR": 1024, "rateWCHAR": 512, "rateRBYTES": 2048, "rateWBYTES": 1024,
        }  # fmt: skip

    async def call(self, http: Http, kind: str, path: bytes, body: bytes) -> bytes | None:
        self.stats.count(self.stats.requests, kind)
        try:
            status, payload = await http.post(path, body)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self.stats.count(self.stats.errors, f"{kind}: {type(exc).__name__}")
            return None
        if status != 200:
            self.stats.count(self.stats.errors, f"{kind}: HTTP {status} {payload[:80].decode(errors='replace')}")
            return None
        code = field(payload, b"StatusCode")
        self.stats.count(self.stats.answers, f"{kind}: StatusCode={code.decode() if code else '?'}")
        return payload if code == b"0" else None

    async def getjob(self, http: Http, body: bytes) -> tuple[int, bytes] | None:
        payload = await self.call(http, "getJob", b"/server/panda/getJob", body)
        if payload is None:
            return None
        pandaid = int(field(payload, b"PandaID"))
        self.stats.ids.append(pandaid)
        return pandaid, payload

    async def update(self, http: Http, client: int, pandaid: int, state: str, nth: int, extra=None) -> bool:
        body = self.update_body(client, pandaid, state, nth, extra)
        payload = await self.call(http, f"updateJob {state}", UPDATE_PATH, body)
        return payload is not None

    async def run_getjob(self, client: int) -> None:
        http, body = self.http(), self.getjob_body(client)
        while not self.stop.is_set():
            if await self.getjob(http, body) is None:
                await asyncio.sleep(0.05)  # no job or an error: do not spin
        http.close()

    async def run_heartbeat(self, client: int) -> None:
        http = self.http()
        mine = heartbeat_share(self.args.running, self.args.concurrency, client)
        sent = dict.fromkeys(mine, 0)
        while not self.stop.is_set():
            for pandaid in mine:
                if self.stop.is_set():
                    break
                sent[pandaid] += 1
                await self.update(http, client, pandaid, "running", sent[pandaid])
        http.close()

    async def run_cycle(self, client: int) -> None:
        http, body = self.http(), self.getjob_body(client)
        while not self.stop.is_set():
            got = await self.getjob(http, body)
            if got is None:
                await asyncio.sleep(0.05)
                continue
            pandaid, payload = got
            steps = ["starting", "running"] + ["running"] * self.args.heartbeats + ["finished"]
            for nth, state in enumerate(steps, start=1):
                if self.stop.is_set():
                    break
                extra = self.final_report(pandaid, payload) if state == "finished" else None
                if not await self.update(http, client, pandaid, state, nth, extra):
                    break
        http.close()

    @staticmethod
    def final_report(pandaid: int, payload: bytes) -> dict:
        """What pilot 3.11 sends last: the output report of every output and the log, and the timings."""
        files = unquote_plus((field(payload, b"outFiles") or b"").decode()).split(",")
        report = {
            lfn: {
                "guid": f"{pandaid:08X}-0000-4000-8000-{n:012X}",
                "fsize": 104857600 + n,
                "adler32": f"{(pandaid * 31 + n) & 0xFFFFFFFF:08x}",
                "surl": f"root://se.example.org//atlas/{lfn}",
                "endpoint": "BENCH_HOT_SITE_DATADISK",
            }  # fmt: skip
            for n, lfn in enumerate(files)
            if lfn
        }
        return {
            "xml": json.dumps(report), "metaData": "", "pilotTiming": "12|30|3600|25|8", "endTime": 1767229200.0,
            "pilotErrorCode": 0, "pilotErrorDiag": "", "transExitCode": 0, "exeErrorCode": 0, "exeErrorDiag": "",
            "nEvents": 200, "pilotLog": "",
        }  # fmt: skip

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(sys.stdin.fileno(), self.stdin_ready)
        run = {"getjob": self.run_getjob, "heartbeat": self.run_heartbeat, "cycle": self.run_cycle}[self.args.mode]
        await asyncio.gather(*(run(client) for client in range(self.args.concurrency)))

    def stdin_ready(self) -> None:
        if not sys.stdin.buffer.read1(4096):
            asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
            self.stop.set()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--mode", choices=("getjob", "heartbeat", "cycle"), required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--running", type=lambda s: tuple(int(x) for x in s.split("-")), default=(0, -1))
    parser.add_argument("--heartbeats", type=int, default=2)
    parser.add_argument("--ids", required=True)
    parser.add_argument(
        "--half-close", action="store_true", help="send FIN with each request (one request per connection)"
    )
    parser.add_argument(
        "--connection-close",
        action="store_true",
        help="send 'Connection: close' and close after each answer (one request per connection, as urllib does)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    pilots = Pilots(args)
    asyncio.run(pilots.main())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(args.ids, "w") as out:
        out.writelines(f"{pandaid}\n" for pandaid in pilots.stats.ids)
    print(
        json.dumps(
            {
                "wall": time.monotonic() - started,
                "cpu": usage.ru_utime + usage.ru_stime,
                "requests": pilots.stats.requests,
                "answers": pilots.stats.answers,
                "errors": pilots.stats.errors,
                "dispatched": len(pilots.stats.ids),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
