"""Dispatch benchmark: getJob and updateJob served by gunicorn on PostgreSQL, against the raw SQL ceiling.

    .venv/bin/python bench/dispatch/run.py          # full run, ~5 min; rewrites the figures in docs/performance.md
    .venv/bin/python bench/dispatch/run.py --quick  # harness check: small data, a few seconds per step, prints only

What one run does (docs/performance.md explains the choices):

1. Drops and creates the database ``panda_bench`` on 127.0.0.1:5432 (``--database-url``), migrates it
   with ``manage.py migrate``, loads a grid (one hot queue, one heartbeat queue, a few hundred others),
   a robot token with the production role (issuer.py serves its keys), finished and activated jobs
   spread over the queues and running jobs on the heartbeat queue. Every job has 3 inputs, 2 outputs,
   a log and ~1 kB of parameters; rows are generated inside PostgreSQL (``INSERT ... SELECT
   generate_series``), then ANALYZEd.
2. Starts ``gunicorn pandaweb.wsgi`` (sync workers; ``--server granian``: granian's WSGI interface) on a free
   port of 127.0.0.1 with DEBUG off.
3. For each concurrency C (1, 8, 32), each step on freshly reset data (a new activated pool in the
   hot queue, zeroed heartbeat counters, VACUUM ANALYZE, CHECKPOINT):
   * ``ceiling getJob``: pgbench runs claim.sql (claim with FOR UPDATE SKIP LOCKED, status-log row,
     read parameters and files, one transaction) from C connections;
   * ``getJob``: C simulated pilots (pilots.py) loop legacy getJob on the hot queue;
   * ``ceiling heartbeat``: pgbench runs heartbeat.sql (the conditional update of a running job);
   * ``heartbeat``: C clients loop ``updateJob state=running`` over the running jobs: wrk replaying
     pilots.py's requests pre-built by heartbeat_requests.py (``--heartbeat-driver wrk``, the default
     when wrk is installed), pilots.py itself (``python``) or both back to back (``both``);
   * ``pilot cycle``: C pilots each loop getJob, starting, running, 2 heartbeats, finished + output report.
   Every step warms up, then counts what the DATABASE shows between two snapshots (status-log rows
   activated->sent and the update transitions; the sum of the cpuConsumptionTime counters the updates
   carry), never HTTP answers. CPU time of gunicorn, PostgreSQL and the load generator is read from
   /proc over the same window.
4. Checks after every step that no PandaID went activated->sent twice and that no client received a
   PandaID twice (exit status 1 otherwise), prints the table and the SQL statements one call issues
   (captured in-process), and writes the figures into docs/performance.md (not with --quick).

Options: --server gunicorn|granian  --concurrency 1,8,32  --duration S  --warmup S  --workers N
--sweep-workers 2,3,4,6  --compare-servers ROUNDS (alternate gunicorn and granian on the same data)
--profile (py-spy on one gunicorn worker during getJob at C=8)  --no-doc  --keep-database
--heartbeat-driver wrk|python|both  --wrk-max-rate PER_S (heartbeats/s wrk's pre-built requests last for).
"""

import argparse
import collections
import datetime
import gzip
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
BASE = HERE.parent.parent
VENV_BIN = BASE / ".venv" / "bin"
API_WORKER = "pandaweb.http_worker.ApiWorker"
ARTIFACTS = BASE / "var" / "bench"
DOC = BASE / "docs" / "performance.md"
DOC_START, DOC_END = "<!-- bench:figures:start -->", "<!-- bench:figures:end -->"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/panda_bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")

sys.path[:0] = [str(BASE), str(HERE)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pandaweb.settings")

import heartbeat_requests  # noqa: E402  (bench/dispatch, on the path just above)
from issuer import BenchIssuer  # noqa: E402


@dataclass(frozen=True)
class Size:
    n_queues: int
    n_other: int
    n_history: int
    n_running: int
    duration: float
    warmup: float
    min_pool: int


FULL = Size(n_queues=300, n_other=30_000, n_history=100_000, n_running=20_000, duration=10, warmup=3, min_pool=5_000)
QUICK = Size(n_queues=300, n_other=3_000, n_history=5_000, n_running=2_000, duration=3, warmup=1, min_pool=1_000)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, a few seconds per step; no doc update")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--duration", type=float, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, help="seconds of load before the window opens")
    parser.add_argument("--server", choices=("gunicorn", "granian"), default="gunicorn", help="the HTTP front")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--worker-class", default=API_WORKER, help="gunicorn worker class (sync: gunicorn's own)")
    parser.add_argument("--heartbeats", type=int, default=2, help="running heartbeats per job in the pilot cycle")
    parser.add_argument(
        "--compare-servers", type=int, default=0, metavar="ROUNDS",
        help="alternate the --compare fronts for ROUNDS rounds (ceilings, getJob, heartbeat per C), then exit",
    )  # fmt: skip
    parser.add_argument(
        "--compare", default="gunicorn,granian", metavar="FRONTS",
        help="fronts --compare-servers alternates: sync (gunicorn's sync worker), api (pandaweb.http_worker."
        "ApiWorker), gunicorn (--worker-class), granian",
    )  # fmt: skip
    parser.add_argument("--sweep-workers", default="", help="e.g. 2,3,4,6: getJob at C=8 per worker count, then exit")
    parser.add_argument("--profile", action="store_true", help="py-spy one gunicorn worker during getJob at C=8")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument(
        "--heartbeat-driver", choices=("wrk", "python", "both"),
        help="load generator of the heartbeat step: wrk replaying pilots.py's requests (default when wrk is "
        "installed), pilots.py itself (python), or both back to back",
    )  # fmt: skip
    parser.add_argument(
        "--wrk-max-rate", type=float, default=heartbeat_requests.MAX_RATE, metavar="PER_S",
        help="heartbeats/s the requests pre-built for wrk must last for (warm-up + duration + 5 s)",
    )  # fmt: skip
    parser.add_argument("--keep-database", action="store_true", help="leave panda_bench in place at the end")
    args = parser.parse_args(argv)
    compared = args.compare.split(",") if args.compare_servers else []
    if set(compared) - set(FRONTS):
        parser.error(f"--compare: fronts are {', '.join(FRONTS)}")
    if (args.server == "granian" or "granian" in compared) and not (VENV_BIN / "granian").exists():
        parser.error("granian is not installed (not in requirements.txt): .venv/bin/pip install granian==2.8.7")
    args.size = QUICK if args.quick else FULL
    args.duration = args.duration or args.size.duration
    args.warmup = args.warmup if args.warmup is not None else args.size.warmup
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.heartbeat_driver is None:
        args.heartbeat_driver = "wrk" if heartbeat_requests.wrk_path() else "python"
    elif args.heartbeat_driver != "python" and not heartbeat_requests.wrk_path():
        parser.error("--heartbeat-driver wrk needs wrk (apt-get install wrk)")
    return args


# --- machine and processes ----------------------------------------------------------------------


def pg_args(url: str) -> list[str]:
    """psql/pgbench connection options for the server of ``url`` (its maintenance database by default)."""
    parsed = urlparse(url)
    return ["-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]


def machine(url: str) -> dict:
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    pg = subprocess.run(
        ["psql", *pg_args(url), "-d", "postgres", "-Atc", "SHOW server_version"], capture_output=True, text=True
    ).stdout.strip()
    settings = subprocess.run(
        ["psql", *pg_args(url), "-d", "postgres", "-Atc",
         "SELECT string_agg(name || '=' || current_setting(name), ' ') FROM pg_settings WHERE name IN "
         "('shared_buffers', 'synchronous_commit', 'max_connections', 'fsync')"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return {
        "nproc": os.cpu_count(),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "postgresql": pg,
        "postgresql_settings": settings,
        "kernel": platform.release(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def proc_cpu(pid: int) -> float:
    """utime + stime of one process, seconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(values)
    idle = values[3] + values[4]
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass
class CpuSample:
    server: dict[int, float]
    postgres: dict[int, float]
    loadgen: float
    busy: float
    total: float


def cpu_sample(server_pid: int, loadgen_pid: int) -> CpuSample:
    busy, total = machine_busy()
    server = {pid: proc_cpu(pid) for pid in [server_pid, *children(server_pid)]}
    return CpuSample(
        server=server,
        postgres={pid: proc_cpu(pid) for pid in postgres_pids()},
        loadgen=proc_cpu(loadgen_pid),
        busy=busy,
        total=total,
    )


def cpu_split(a: CpuSample, b: CpuSample, seconds: float) -> dict[str, float]:
    """Cores used over the window by each party; processes alive at both ends only."""

    def delta(x: dict, y: dict) -> float:
        return sum(y[pid] - x[pid] for pid in x.keys() & y.keys())

    server, postgres, loadgen = delta(a.server, b.server), delta(a.postgres, b.postgres), b.loadgen - a.loadgen
    busy = b.busy - a.busy
    return {
        "server": server / seconds,
        "postgres": postgres / seconds,
        "loadgen": loadgen / seconds,
        "other": max(busy - server - postgres - loadgen, 0.0) / seconds,
        "busy": busy / seconds,
    }


# --- database ------------------------------------------------------------------------------------


def database_name(url: str) -> str:
    return urlparse(url).path.lstrip("/")


def database_create(url: str) -> None:
    name = database_name(url)
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", *pg_args(url), "-d", "postgres", "-qc", sql], check=True)
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([str(VENV_BIN / "python"), "manage.py", "migrate", "-v0"], cwd=BASE, env=env, check=True)


def database_drop(url: str) -> None:
    name = database_name(url)
    subprocess.run(["psql", *pg_args(url), "-d", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def query(sql: str, params=()) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass
class Effects:
    """What the database shows at one instant for one PandaID range."""

    at: float
    transitions: dict[tuple[str, str], int]
    cpu_counter: int
    activated_left: int

    @property
    def dispatched(self) -> int:
        return self.transitions.get(("activated", "sent"), 0)


def effects(pandaids: tuple[int, int]) -> Effects:
    at = time.monotonic()  # the statement's snapshot is taken when it starts
    rows = query(
        "SELECT 'log', oldstatus, jobstatus, count(*) FROM jobs_statuslog WHERE pandaid BETWEEN %s AND %s "
        "AND oldstatus IS NOT NULL GROUP BY oldstatus, jobstatus "
        "UNION ALL SELECT 'jobs', NULL, NULL, coalesce(sum(cpuconsumptiontime), 0)::bigint FROM jobs "
        "WHERE pandaid BETWEEN %s AND %s "
        "UNION ALL SELECT 'left', NULL, NULL, count(*) FROM jobs WHERE pandaid BETWEEN %s AND %s "
        "AND jobstatus = 'activated'",
        [*pandaids, *pandaids, *pandaids],
    )
    transitions = {(old, new): int(n) for kind, old, new, n in rows if kind == "log"}
    cpu_counter = next(n for kind, _, _, n in rows if kind == "jobs")
    left = next(n for kind, _, _, n in rows if kind == "left")
    return Effects(at=at, transitions=transitions, cpu_counter=int(cpu_counter), activated_left=left)


def duplicate_dispatches(pandaids: tuple[int, int]) -> list[tuple[int, int]]:
    return query(
        "SELECT pandaid, count(*) FROM jobs_statuslog WHERE pandaid BETWEEN %s AND %s "
        "AND oldstatus = 'activated' AND jobstatus = 'sent' GROUP BY pandaid HAVING count(*) > 1 LIMIT 20",
        list(pandaids),
    )


# --- server --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_label(args: argparse.Namespace) -> str:
    if args.server == "granian":
        return f"granian {args.workers} WSGI workers (1 blocking thread each)"
    return f"gunicorn {args.workers} {args.worker_class} workers"


def server_command(kind: str, port: int, workers: int, worker_class: str, log: Path) -> list[str]:
    """The command line of the HTTP front: gunicorn (sync workers) or granian (Rust HTTP, WSGI interface)."""
    if kind == "granian":
        # One blocking thread per worker: Django's per-thread connections and the sync model of gunicorn.
        return [str(VENV_BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--blocking-threads", "1", "--http", "1", "--no-ws", "--backlog", "2048",
                "--log-level", "warning", "pandaweb.wsgi:application"]  # fmt: skip
    return [str(VENV_BIN / "gunicorn"), "pandaweb.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--worker-class", worker_class, "--backlog", "2048", "--timeout", "120",
            "--no-control-socket", "--log-level", "warning", "--error-logfile", str(log)]  # fmt: skip


class Server:
    def __init__(self, *, url: str, workers: int, worker_class: str, kind: str = "gunicorn"):
        self.kind = kind
        self.worker_class = worker_class
        self.port = free_port()
        self.log = ARTIFACTS / f"{kind}.log"
        env = {**os.environ, "DATABASE_URL": url, "DEBUG": "false", "LOG_LEVEL": "WARNING"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                server_command(kind, self.port, workers, worker_class, self.log),
                cwd=BASE, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        self.pid = self.process.pid
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/server/panda/isAlive", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{kind} did not start; see {self.log}")
            time.sleep(0.2)
        # Workers fork lazily after the master answers; wait until all exist.
        while len(children(self.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- steps ---------------------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    concurrency: int
    window: float = 0.0
    dispatched: int = 0
    updates: int = 0
    transitions: dict = field(default_factory=dict)
    cpu: dict = field(default_factory=dict)
    client: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    duplicates: list = field(default_factory=list)
    ran_dry: bool = False
    driver: str = ""  # heartbeat steps: "wrk" or "python" (pilots.py)

    @property
    def rate(self) -> float:
        count = self.dispatched if self.name in ("ceiling getJob", "getJob", "pilot cycle") else self.updates
        return count / self.window if self.window else 0.0

    @property
    def update_rate(self) -> float:
        return self.updates / self.window if self.window else 0.0


class Bench:
    def __init__(self, args: argparse.Namespace, token: str, background, server: Server):
        self.args = args
        self.token = token
        self.background = background
        self.server = server
        self.next_pandaid = background.next_pandaid
        # Expected rates size the activated pool of each step; a step that empties it is rerun larger.
        self.expected = {"ceiling getJob": 3000.0, "getJob": 800.0, "pilot cycle": 300.0}
        self.steps: list[Step] = []
        self.profile_step: tuple[str, int] | None = ("getJob", 8) if args.profile else None
        self.profile: list[str] = []

    def fresh_pool(self, name: str) -> tuple[int, int]:
        import dataset

        seconds = self.args.warmup + self.args.duration + 3
        size = max(self.args.size.min_pool, int(self.expected[name] * seconds * 1.2))
        pool = dataset.hot_jobs_reset(first=self.next_pandaid, n_activated=size)
        self.next_pandaid = pool[1] + 1
        return pool

    def measure(self, step: Step, pandaids: tuple[int, int], command: list[str], stdin=subprocess.PIPE) -> str:
        """Run the load generator, count database effects over the window, stop it, return its stdout."""
        process = subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=BASE)
        spy = None
        try:
            time.sleep(self.args.warmup)
            if self.profile_step == (step.name, step.concurrency):
                spy = profile_start(self.server, self.args.duration)
            before, cpu_before = effects(pandaids), cpu_sample(self.server.pid, process.pid)
            time.sleep(self.args.duration)
            after, cpu_after = effects(pandaids), cpu_sample(self.server.pid, process.pid)
        finally:
            # Closing stdin (communicate does) tells the pilots to stop; pgbench stops by itself.
            out, err = process.communicate(timeout=120)
        step.window = after.at - before.at
        step.dispatched = after.dispatched - before.dispatched
        step.updates = after.cpu_counter - before.cpu_counter
        step.transitions = {
            f"{old}->{new}": after.transitions.get((old, new), 0) - before.transitions.get((old, new), 0)
            for old, new in sorted(after.transitions.keys() | before.transitions.keys())
            if old not in ("assigned",)
        }
        step.cpu = cpu_split(cpu_before, cpu_after, step.window)
        if after.activated_left == 0 and step.name in ("ceiling getJob", "getJob", "pilot cycle"):
            step.ran_dry = True
            step.problems.append("activated pool ran dry inside the window")
        if process.returncode != 0:
            step.problems.append(f"load generator exited {process.returncode}: {err.decode()[-500:]}")
        step.duplicates = duplicate_dispatches(pandaids)
        if spy:
            spy.wait(timeout=120)
            self.profile = profile_summary(ARTIFACTS / "getjob-worker.collapsed.txt")
        return out.decode()

    def pgbench(self, script: str, concurrency: int, variables: dict) -> list[str]:
        command = [
            "pgbench", *pg_args(self.args.database_url), "--no-vacuum", "-M", "prepared",
            "-c", str(concurrency), "-j", str(min(concurrency, 2)),
            "-T", str(int(self.args.warmup + self.args.duration + 2)), "-f", str(HERE / script),
        ]  # fmt: skip
        for key, value in variables.items():
            command += ["-D", f"{key}={value}"]
        return [*command, database_name(self.args.database_url)]

    def step_ceiling_getjob(self, concurrency: int) -> Step:
        import dataset

        for _attempt in range(3):
            step = Step("ceiling getJob", concurrency)
            pool = self.fresh_pool(step.name)
            command = self.pgbench("claim.sql", concurrency, {"site": dataset.HOT_QUEUE, "node_max": 1000})
            self.measure(step, pool, command, stdin=subprocess.DEVNULL)
            if not step.ran_dry:
                break
            self.expected[step.name] *= 2
        self.expected[step.name] = max(self.expected[step.name], step.rate * 1.2)
        return step

    def pilots(self, mode: str, concurrency: int, site: str, ids: Path, running=None) -> list[str]:
        command = [
            str(VENV_BIN / "python"), str(HERE / "pilots.py"), "--port", str(self.server.port), "--token", self.token,
            "--mode", mode, "--concurrency", str(concurrency), "--site", site, "--ids", str(ids),
            "--heartbeats", str(self.args.heartbeats),
        ]  # fmt: skip
        if running:
            command += ["--running", f"{running[0]}-{running[1]}"]
        if self.server.kind == "granian":
            command.append("--connection-close")
        elif self.server.worker_class in ("sync", API_WORKER):
            command.append("--half-close")
        return command

    def http_step(self, name: str, mode: str, concurrency: int) -> Step:
        import dataset

        ids = ARTIFACTS / f"ids-{mode}-c{concurrency}.txt"
        for _attempt in range(3):
            step = Step(name, concurrency)
            pool = self.fresh_pool(name)
            out = self.measure(step, pool, self.pilots(mode, concurrency, dataset.HOT_QUEUE, ids))
            if not step.ran_dry:
                break
            self.expected[name] *= 2
        self.expected[name] = max(self.expected[name], step.rate * 1.2)
        self.client_checks(step, out, ids, pool)
        return step

    def client_checks(self, step: Step, out: str, ids: Path, pool: tuple[int, int]) -> None:
        step.client = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        received = [int(line) for line in ids.read_text().split()] if ids.exists() else []
        repeated = [pandaid for pandaid, n in collections.Counter(received).items() if n > 1]
        if repeated:
            step.duplicates.append(("received twice by the clients", repeated[:20]))
        sent = query(
            "SELECT count(*) FROM jobs_statuslog WHERE pandaid BETWEEN %s AND %s "
            "AND oldstatus = 'activated' AND jobstatus = 'sent'",
            list(pool),
        )[0][0]
        if sent != len(received):
            step.problems.append(f"database dispatched {sent} jobs, clients received {len(received)}")
        if step.client.get("errors"):
            step.problems.append(f"client errors: {step.client['errors']}")

    def step_getjob(self, concurrency: int) -> Step:
        return self.http_step("getJob", "getjob", concurrency)

    def step_cycle(self, concurrency: int) -> Step:
        return self.http_step("pilot cycle", "cycle", concurrency)

    def step_ceiling_heartbeat(self, concurrency: int) -> Step:
        import dataset

        step = Step("ceiling heartbeat", concurrency)
        dataset.heartbeat_counters_reset(running=self.background.running)
        lo, hi = self.background.running
        self.measure(step, self.background.running, self.pgbench("heartbeat.sql", concurrency, {"lo": lo, "hi": hi}),
                     stdin=subprocess.DEVNULL)  # fmt: skip
        return step

    def steps_heartbeat(self, concurrency: int) -> list[Step]:
        """The heartbeat step with --heartbeat-driver's load generator; "both": wrk's, then pilots.py's."""
        if self.args.heartbeat_driver == "wrk":
            return [self.step_heartbeat_wrk(concurrency)]
        if self.args.heartbeat_driver == "python":
            return [self.step_heartbeat(concurrency)]
        return [self.step_heartbeat_wrk(concurrency), self.step_heartbeat(concurrency, "heartbeat (asyncio pilots)")]

    def step_heartbeat_wrk(self, concurrency: int, name: str = "heartbeat") -> Step:
        """wrk (one thread, C connections) replays pilots.py's heartbeat requests, pre-built, each once."""
        import dataset

        step = Step(name, concurrency, driver="wrk")
        running = self.background.running
        seconds = self.args.warmup + self.args.duration + 2
        pilots = heartbeat_requests.heartbeat_pilots(
            host="127.0.0.1", port=self.server.port, token=self.token, site=dataset.HEARTBEAT_QUEUE,
            running=running, concurrency=concurrency, close=self.server.kind == "granian",
        )  # fmt: skip
        rounds = heartbeat_requests.rounds_needed(self.args.wrk_max_rate, seconds + 3, running[1] - running[0] + 1)
        path = ARTIFACTS / f"heartbeat-requests-c{concurrency}.bin"
        heartbeat_requests.requests_write(path, pilots, rounds)
        dataset.heartbeat_counters_reset(running=running)
        opens = heartbeat_requests.tcp_active_opens()
        command = heartbeat_requests.wrk_command(self.server.port, concurrency, seconds, path)
        try:
            out = self.measure(step, running, command, stdin=subprocess.DEVNULL)
        finally:
            path.unlink(missing_ok=True)  # ~160 MB with the full data
        opens = heartbeat_requests.tcp_active_opens() - opens
        stored = effects(running).cpu_counter  # wrk has exited: every update it sent is in
        summary = heartbeat_requests.summary_parse(out)
        step.client = summary or {"output": out[-500:]}
        if summary and summary["sent"]:
            # gunicorn closes after each answer and wrk reconnects: ~1 when every call had its own connection
            # (machine-wide count, so other clients of the machine add to it)
            step.client["tcp_connections_per_request"] = opens / summary["sent"]
        step.problems += heartbeat_requests.summary_problems(summary, stored=stored)
        step.ran_dry = any(p.startswith("driver ran dry") for p in step.problems)
        return step

    def step_heartbeat(self, concurrency: int, name: str = "heartbeat") -> Step:
        import dataset

        step = Step(name, concurrency, driver="python")
        dataset.heartbeat_counters_reset(running=self.background.running)
        ids = ARTIFACTS / f"ids-heartbeat-c{concurrency}.txt"
        command = self.pilots("heartbeat", concurrency, dataset.HEARTBEAT_QUEUE, ids, running=self.background.running)
        out = self.measure(step, self.background.running, command)
        step.client = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        if step.client.get("errors"):
            step.problems.append(f"client errors: {step.client['errors']}")
        answered = sum(n for key, n in step.client.get("answers", {}).items() if key.endswith("StatusCode=0"))
        if answered and step.updates == 0:
            step.problems.append("the server answered heartbeats but stored no cpuConsumptionTime")
        return step

    def run(self, concurrency: int) -> list[Step]:
        steps = []
        for method in (self.step_ceiling_getjob, self.step_getjob, self.step_ceiling_heartbeat, self.steps_heartbeat,
                       self.step_cycle):  # fmt: skip
            for step in method(concurrency) if method == self.steps_heartbeat else [method(concurrency)]:
                report_step(step)
                steps.append(step)
        self.steps += steps
        return steps


# --- diagnostics ---------------------------------------------------------------------------------


def http_floor(server: Server, seconds: float, concurrency: int = 8) -> str:
    """gunicorn's own cost per request: wrk on isAlive (no database, no parsing), counted from its answers."""
    wrk = shutil.which("wrk")
    if not wrk:
        return "HTTP floor: skipped (apt-get install wrk)"
    process = subprocess.Popen(
        [wrk, "-t1", f"-c{concurrency}", f"-d{int(seconds) + 2}s", f"http://127.0.0.1:{server.port}/server/panda/isAlive"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(1)
    start, before = time.monotonic(), cpu_sample(server.pid, process.pid)
    time.sleep(seconds)
    after = cpu_sample(server.pid, process.pid)
    cpu = cpu_split(before, after, time.monotonic() - start)
    out = process.communicate(timeout=60)[0]
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    rate = float(match.group(1)) if match else 0.0
    per_request = 1000 * cpu["server"] / rate if rate else 0.0
    return (
        f"HTTP floor: isAlive (no database) at C={concurrency} with wrk: {rate:,.0f} requests/s, gunicorn "
        f"{cpu['server']:.2f} cores = {per_request:.2f} ms CPU per request"
    )


@dataclass
class InProcess:
    """One call of each kind run through Django's test client in this process: SQL and cost."""

    statements: dict[str, list[str]]
    cost: dict[str, tuple[float, float]]  # kind -> (CPU ms, wall ms) per call, sequential


def in_process_calls(token: str, first_pandaid: int, n: int) -> InProcess:
    """The SQL each call issues and its Python CPU time without gunicorn, caches warm."""
    import dataset
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    dataset.hot_jobs_reset(first=first_pandaid, n_activated=n + 10)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ORIGIN="atlas.production")

    def post(method: str, params: dict) -> str:
        body = gzip.compress(json.dumps(params).encode())
        return client.post(f"/server/panda/{method}", body, content_type="application/json").content.decode()

    def update(pandaid: int, state: str, **extra) -> str:
        return post("updateJob", {"jobId": pandaid, "attemptNr": 1, "node": "wn.bench", "state": state, **extra})

    def getjob() -> int:
        answer = post("getJob", getjob_params)
        match = re.search(r"PandaID=(\d+)", answer)
        if not match:
            raise RuntimeError(f"getJob dispatched nothing: {answer[:300]}")
        return int(match.group(1))

    getjob_params = {"siteName": dataset.HOT_QUEUE, "computingElement": dataset.HOT_QUEUE,
                     "prodSourceLabel": "managed", "mem": 16000, "diskSpace": 500000, "node": "wn.bench",
                     "resourceType": "SCORE"}  # fmt: skip
    getjob()  # warm the per-process caches, as a long-running worker has them
    statements = {}
    with CaptureQueriesContext(connection) as queries:
        pandaid = getjob()
    statements["getJob"] = [q["sql"] for q in queries.captured_queries]
    for label, state, extra in (
        ("updateJob starting", "starting", {}),
        ("updateJob running", "running", {}),
        ("updateJob heartbeat (running again)", "running", {"cpuConsumptionTime": 5}),
        ("updateJob finished", "finished", {"xml": "{}"}),
    ):
        with CaptureQueriesContext(connection) as queries:
            update(pandaid, state, **extra)
        statements[label] = [q["sql"] for q in queries.captured_queries]

    cost = {}
    cpu, wall = time.process_time(), time.perf_counter()
    ids = [getjob() for _ in range(n)]
    cost["getJob"] = ((time.process_time() - cpu) * 1000 / n, (time.perf_counter() - wall) * 1000 / n)
    for pandaid in ids:
        update(pandaid, "running")
    cpu, wall = time.process_time(), time.perf_counter()
    for pandaid in ids:
        update(pandaid, "running", cpuConsumptionTime=7)
    cost["updateJob heartbeat"] = ((time.process_time() - cpu) * 1000 / n, (time.perf_counter() - wall) * 1000 / n)
    return InProcess(statements=statements, cost=cost)


def profile_start(server: Server, seconds: float) -> subprocess.Popen | None:
    """py-spy on one gunicorn worker, collapsed stacks into var/bench/getjob-worker.collapsed.txt."""
    spy = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
    workers = children(server.pid)
    if not spy or not workers:
        print("  (profile skipped: install py-spy into .venv: .venv/bin/pip install py-spy)")
        return None
    return subprocess.Popen(
        [spy, "record", "--pid", str(workers[0]), "--duration", str(int(seconds)), "--rate", "200",
         "--format", "raw", "--output", str(ARTIFACTS / "getjob-worker.collapsed.txt"), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


# Where a worker's samples go, first match wins (substrings of the collapsed stack).
PROFILE_BUCKETS = (
    ("health check round trip (CONN_HEALTH_CHECKS)", ("close_if_health_check_failed",)),
    ("getJob claim statement", ("_claim_postgresql",)),
    ("getJob files query", ("_files_by_job",)),
    ("getJob job dictionary", ("job_dispatch_dict",)),
    ("getJob other (queue cache, pilot seen, nSent)", ("jobs_acquire",)),
    ("updateJob read of the row", ("_read_row",)),
    ("updateJob write", ("_apply", "_store_output_report")),
    ("updateJob other", ("job_update_from_pilot", "pilot_update_changes")),
    ("response encoding", ("legacy_dict", "legacy_text", "legacy_urlencoded")),
    ("request decoding and authentication", ("parsers.py", "perform_authentication", "Request.data")),
    ("Django/DRF request handling", ("WSGIHandler.__call__",)),
    ("gunicorn: waiting for the client's FIN (close_graceful)", ("close_graceful",)),
    ("gunicorn: accept, parse, write", ("SyncWorker",)),
)
DB_WAIT_LEAVES = ("Connection.wait", "_execute_send", "wait_c", "_fetch_gen")


def profile_summary(path: Path) -> list[str]:
    """Share of one worker's wall-clock samples per part of a call, and how much of it waits on PostgreSQL."""
    if not path.exists():
        return []
    buckets: collections.Counter = collections.Counter()
    waiting: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        label = next((name for name, keys in PROFILE_BUCKETS if any(k in stack for k in keys)), "idle / other")
        buckets[label] += n
        if any(leaf in stack.rsplit(";", 1)[-1] for leaf in DB_WAIT_LEAVES):
            waiting[label] += n
    if not total:
        return []
    lines = [f"{total} wall-clock samples (py-spy, 200/s) of one gunicorn worker:", "  share  (waiting on PostgreSQL)"]
    for name, n in buckets.most_common():
        lines.append(f"  {100 * n / total:5.1f}%  ({100 * waiting[name] / total:4.1f}%)  {name}")
    return lines


# --- report --------------------------------------------------------------------------------------


def report_step(step: Step) -> None:
    cpu = step.cpu
    extra = ""
    if step.name == "pilot cycle":
        extra = f", updates {step.update_rate:8.1f}/s"
    if step.driver == "wrk":
        per_call = step.client.get("tcp_connections_per_request")
        extra = f" [driver wrk{f', {per_call:.2f} TCP connections per call' if per_call is not None else ''}]"
    elif step.driver:
        extra = " [driver: asyncio pilots]"
    print(
        f"  C={step.concurrency:<3} {step.name:18s} {step.rate:8.1f}/s{extra}  "
        f"[cores: server {cpu.get('server', 0):.2f}, postgres {cpu.get('postgres', 0):.2f}, "
        f"load generator {cpu.get('loadgen', 0):.2f}, other {cpu.get('other', 0):.2f}]"
        + (f"  PROBLEMS: {step.problems}" if step.problems else "")
        + (f"  DUPLICATES: {step.duplicates}" if step.duplicates else ""),
        flush=True,
    )


def by(steps: list[Step], name: str, concurrency: int) -> Step | None:
    return next((s for s in steps if s.name == name and s.concurrency == concurrency), None)


def figures_table(steps: list[Step], heartbeats: int) -> list[str]:
    updates_per_job = 3 + heartbeats
    lines = [
        "| C | getJob ceiling (SQL) /s | getJob /s | ratio | heartbeat ceiling (SQL) /s | heartbeat /s² | ratio "
        "| pilot cycle: jobs /s | updates /s | ratio to mixed ceiling¹ | duplicates |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in sorted({s.concurrency for s in steps}):
        cg, g, ch, h, cy = (by(steps, n, c) for n in ("ceiling getJob", "getJob", "ceiling heartbeat", "heartbeat",
                                                       "pilot cycle"))  # fmt: skip
        if not all((cg, g, ch, h, cy)):
            continue
        mixed = 1 / (1 / cg.rate + updates_per_job / ch.rate) if cg.rate and ch.rate else 0
        dup = sum(len(s.duplicates) for s in (cg, g, cy))
        lines.append(
            f"| {c} | {cg.rate:,.0f} | {g.rate:,.1f} | **{100 * g.rate / cg.rate:.1f}%** | {ch.rate:,.0f} "
            f"| {h.rate:,.1f} | **{100 * h.rate / ch.rate:.1f}%** | {cy.rate:,.1f} | {cy.update_rate:,.1f} "
            f"| {100 * cy.rate / mixed:.1f}% | {'none' if dup == 0 else 'YES'} |"
        )
    lines.append("")
    lines.append(
        f"¹ The mixed ceiling is the SQL time of one job's work: 1 / (1/getJob ceiling + {updates_per_job}/heartbeat "
        "ceiling) jobs/s; the final update does more than a heartbeat, so this ratio is slightly flattering."
    )
    lines.append("")
    lines.append(heartbeat_driver_note(steps))
    return lines


def heartbeat_driver_note(steps: list[Step]) -> str:
    """Footnote ² of the figures table: which load generator drove the heartbeat figure, and the other's."""

    def per_call(s: Step) -> str:
        return f"{1000 * s.cpu.get('loadgen', 0) / s.rate:.3f}" if s.rate else "?"

    main = [s for s in steps if s.name == "heartbeat"]
    if not main:
        return ""
    if main[0].driver == "wrk":
        note = (
            "² Heartbeat load from wrk (one thread, C connections, `--timeout 30s`) replaying requests pre-built by "
            "pilots.py's own code (bench/dispatch/heartbeat_requests.py, wrk_heartbeat.lua): byte for byte "
            "pilots.py's heartbeats, each sent once, one TCP connection per call as pilot 3.11's urllib, but no "
            "early FIN; wrk used "
            + ", ".join(f"{per_call(s)} ms (C={s.concurrency})" for s in main)
            + " of CPU per heartbeat."
        )
    else:
        note = (
            "² Heartbeat load from the asyncio pilots (pilots.py; FIN sent with each request): "
            + ", ".join(f"{per_call(s)} ms (C={s.concurrency})" for s in main)
            + " of CPU per heartbeat."
        )
    python = [s for s in steps if s.name == "heartbeat (asyncio pilots)"]
    if python:
        rates = []
        for s in python:
            ceiling = by(steps, "ceiling heartbeat", s.concurrency)
            ratio = f", {100 * s.rate / ceiling.rate:.1f}%" if ceiling and ceiling.rate else ""
            rates.append(f"C={s.concurrency} {s.rate:,.1f}/s{ratio} ({per_call(s)} ms CPU per heartbeat)")
        note += " The same step driven by the asyncio pilots (pilots.py), run right after: " + "; ".join(rates) + "."
    return note


def cpu_table(steps: list[Step]) -> list[str]:
    lines = [
        "| C | step | rate /s | server cores | PostgreSQL cores | load generator cores | other (not ours) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for s in steps:
        lines.append(
            f"| {s.concurrency} | {s.name} | {s.rate:,.1f} | {s.cpu['server']:.2f} | {s.cpu['postgres']:.2f} "
            f"| {s.cpu['loadgen']:.2f} | {s.cpu['other']:.2f} |"
        )
    return lines


def transitions_lines(steps: list[Step]) -> list[str]:
    lines = []
    for s in steps:
        if s.name == "pilot cycle":
            moved = ", ".join(f"{k} {v / s.window:.1f}/s" for k, v in s.transitions.items() if v)
            lines.append(f"- C={s.concurrency}: {moved}; all updates {s.update_rate:.1f}/s")
    return lines


def statements_lines(captured: dict[str, list[str]]) -> list[str]:
    lines = []
    for label, sqls in captured.items():
        lines.append(f"- **{label}**: {len(sqls)} statements")
        for sql in sqls:
            sql = " ".join(sql.split()).replace("`", "'")
            lines.append(f"  - `{sql[:150]}{' …' if len(sql) > 150 else ''}`")
    return lines


def cost_lines(cost: dict[str, tuple[float, float]]) -> list[str]:
    lines = ["Python cost of one call in-process (Django test client, no gunicorn, one call at a time):", ""]
    for kind, (cpu_ms, wall_ms) in cost.items():
        lines.append(f"- {kind}: {cpu_ms:.2f} ms CPU, {wall_ms:.2f} ms wall (wall includes the database round trips)")
    return lines


def doc_block(
    args, info: dict, steps: list[Step], in_process: InProcess, floor: str, profile: list[str], started: str
) -> str:
    command = " ".join([".venv/bin/python bench/dispatch/run.py", *sys.argv[1:]])
    out = [
        DOC_START,
        f"Run of {started} UTC: `{command}` — {server_label(args)}, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per step.",
        "",
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, Python {info['python']}, "
        f"PostgreSQL {info['postgresql']} ({info['postgresql_settings']}), Linux {info['kernel']}; "
        f"load average at start {' '.join(info['loadavg'])}.",
        "",
        *figures_table(steps, args.heartbeats),
        "",
        "Pilot-cycle state changes counted in the status log:",
        "",
        *transitions_lines(steps),
        "",
        "CPU over each measured window (cores, from /proc; 'other' is everything else on the machine):",
        "",
        *cpu_table(steps),
        "",
        "SQL statements per call (captured in-process with Django's test client, caches warm; the health-check "
        "round trip of CONN_HEALTH_CHECKS does not go through the cursor and is not listed):",
        "",
        *statements_lines(in_process.statements),
        "",
        *cost_lines(in_process.cost),
        "",
        floor,
    ]
    if profile:
        out += ["", "py-spy, one gunicorn worker during getJob at C=8:", "", "```", *profile, "```"]
    out.append(DOC_END)
    return "\n".join(out)


def doc_write(block: str) -> None:
    text = DOC.read_text() if DOC.exists() else ""
    if DOC_START in text and DOC_END in text:
        head, rest = text.split(DOC_START, 1)
        text = head + block + rest.split(DOC_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


# --- main ----------------------------------------------------------------------------------------


def sweep(bench: Bench, args, url: str, counts: list[int]) -> None:
    print("worker sweep: getJob at C=8")
    for workers in counts:
        bench.server.stop()
        bench.server = Server(url=url, workers=workers, worker_class=args.worker_class, kind=args.server)
        step = bench.step_getjob(8)
        print(f"  workers={workers}: ", end="")
        report_step(step)


FRONTS = {"sync": ("gunicorn", "sync"), "api": ("gunicorn", API_WORKER), "gunicorn": ("gunicorn", None),
          "granian": ("granian", None)}  # fmt: skip


def compare_servers(bench: Bench, args, url: str, rounds: int) -> None:
    """Back-to-back rounds of the --compare fronts on the same data: each C's ceilings and HTTP steps."""
    print(f"server comparison: {rounds} rounds of {args.compare}, C={','.join(map(str, args.concurrency))}")
    for round_ in range(1, rounds + 1):
        for front in args.compare.split(","):
            kind, worker_class = FRONTS[front]
            bench.server.stop()
            bench.server = Server(url=url, workers=args.workers, worker_class=worker_class or args.worker_class,
                                  kind=kind)  # fmt: skip
            kind = front
            print(f"round {round_} {kind} (load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])})")
            for concurrency in args.concurrency:
                for method in (bench.step_ceiling_getjob, bench.step_getjob, bench.step_ceiling_heartbeat,
                               bench.steps_heartbeat):  # fmt: skip
                    for step in method(concurrency) if method == bench.steps_heartbeat else [method(concurrency)]:
                        print(f"  {kind:8} ", end="")
                        report_step(step)
                        bench.steps.append(step)


def load(args: argparse.Namespace, issuer) -> tuple[str, object]:
    """Create, migrate and fill the database; returns the production token and the background pools."""
    t0 = time.monotonic()
    database_create(args.database_url)
    django_setup(args.database_url)
    import dataset

    size = args.size
    queues = dataset.grid_create(n_queues=size.n_queues)
    token = dataset.production_token_issue(issuer)
    background = dataset.background_load(
        queues=queues, n_other=size.n_other, n_history=size.n_history, n_running=size.n_running
    )
    dataset.database_settle()
    print(
        f"loaded {size.n_history} finished + {size.n_other} activated jobs on {len(queues)} queues and "
        f"{size.n_running} running jobs in {time.monotonic() - t0:.1f} s"
    )
    return token, background


def report_duplicates(bench: Bench) -> int:
    """Prints each step's problems and the duplicate dispatch check; 1 when a PandaID was dispatched twice."""
    for s in bench.steps:
        if s.problems:
            print(f"problem in {s.name} C={s.concurrency}: {s.problems}")
    dups = [s for s in bench.steps if s.duplicates]
    if dups:
        print(f"duplicate dispatch check: FAILED {[(s.name, s.concurrency, s.duplicates) for s in dups]}")
    else:
        print("duplicate dispatch check: passed (no PandaID went activated->sent twice, none was received twice)")
    return 1 if dups else 0


def report(args, info: dict, bench: Bench, in_process: InProcess, floor: str, started: str) -> int:
    print()
    print("\n".join(figures_table(bench.steps, args.heartbeats)))
    print()
    print("\n".join(transitions_lines(bench.steps)))
    print("\nSQL statements per call:")
    print("\n".join(statements_lines(in_process.statements)))
    print("\n".join(cost_lines(in_process.cost)))
    print(floor)
    if bench.profile:
        print("\n".join(bench.profile))
    client_steps = [s for s in bench.steps if s.name in ("getJob", "heartbeat", "heartbeat (asyncio pilots)",
                                                          "pilot cycle")]  # fmt: skip
    if client_steps:
        worst = max(client_steps, key=lambda s: s.cpu["loadgen"])
        print(f"\nload generator CPU: at most {worst.cpu['loadgen']:.2f} cores ({worst.name}, C={worst.concurrency})")
    dups = report_duplicates(bench)
    if not args.quick and not args.no_doc:
        doc_write(doc_block(args, info, bench.steps, in_process, floor, bench.profile, started))
        print(f"figures written to {DOC.relative_to(BASE)}")
    return dups


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    info = machine(args.database_url)
    print(f"machine: {json.dumps(info)}")
    bench = None
    # Serves the keys the server fetches to validate the pilots' token, for the whole run.
    issuer = BenchIssuer()
    try:
        token, background = load(args, issuer)
        server = Server(url=args.database_url, workers=args.workers, worker_class=args.worker_class, kind=args.server)
        print(f"{server.kind} pid {server.pid} on 127.0.0.1:{server.port}, {server_label(args)}")
        bench = Bench(args, token, background, server)
        if args.compare_servers:
            compare_servers(bench, args, args.database_url, args.compare_servers)
            return report_duplicates(bench)
        if args.sweep_workers:
            sweep(bench, args, args.database_url, [int(n) for n in args.sweep_workers.split(",")])
            return 0
        for concurrency in args.concurrency:
            bench.run(concurrency)
        floor = http_floor(bench.server, min(args.duration, 5))
        try:
            in_process = in_process_calls(token, bench.next_pandaid, n=50 if args.quick else 300)
        except Exception as exc:  # a diagnostic: its failure must not hide the figures
            in_process = InProcess(statements={"(in-process calls failed)": [repr(exc)]}, cost={})
        bench.server.stop()
        return report(args, info, bench, in_process, floor, started)
    finally:
        if bench is not None:
            bench.server.stop()
            print(f"{bench.server.kind} {bench.server.pid} stopped")
        issuer.stop()
        if not args.keep_database:
            from django.db import connections

            connections.close_all()
            database_drop(args.database_url)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
