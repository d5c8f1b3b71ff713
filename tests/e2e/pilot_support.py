"""Running our pilot as a subprocess against the live server (shared by tests/e2e/test_pilot_*.py)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from apps.jobs.models import FileType, Job, JobFile, JobParameters
from pilot.info.storage import deterministic_path
from tests.factories import (
    PandaQueueFactory,
    SiteFactory,
    StorageEndpointFactory,
    job_with_files,
    production_user,
    queue_document,
    token_for,
)
from tests.pilot.support import FAST_CONFIG, REPO_ROOT

# A transformation like a small real one: reads its inputs, writes its outputs and a job report.
DEFAULT_TRF = """#!/bin/bash
# usage: run.sh <inputs comma list> <outputs comma list> [exit code] [extra command]
echo "payload starting in $PWD with $*"
ins="$1"; outs="$2"
[ "$ins" = none ] && ins=""
[ "$outs" = none ] && outs=""
for f in ${ins//,/ }; do test -r "$f" || { echo "missing input $f" >&2; exit 66; }; done
for f in ${outs//,/ }; do cat ${ins//,/ } /dev/null > "$f"; echo "produced by $PandaID" >> "$f"; done
cat > jobReport.json <<REPORT
{"exitCode": 0, "exitMsg": "OK", "files": {"output": []}}
REPORT
eval "${4:-true}"
echo "payload done"
exit ${3:-0}
"""


def adler32_of(data: bytes) -> str:
    return f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"


@dataclass
class PilotSite:
    queue: str
    site: str
    endpoint: str
    se_root: Path
    token_file: Path
    config: Path
    workdir: Path
    server_url: str
    origin: str = "atlas.pilot"

    def argv(self, *extra: str, api: str = "v1") -> list[str]:
        return [
            "-q",
            self.queue,
            "--pilot-user",
            "generic",
            "--url",
            self.server_url,
            "-b",
            "-j",
            "managed",
            "--config",
            str(self.config),
            "-a",
            str(self.workdir),
            "--api",
            api,
            *extra,
        ]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVESTER_", "OIDC_", "PANDA_", "PILOT_"))}
        env.update(
            {
                "PYTHONPATH": str(REPO_ROOT),
                "PILOT_NOKILL": "1",
                "OIDC_AUTH_TOKEN": str(self.token_file),
                "OIDC_AUTH_ORIGIN": self.origin,
            }
        )
        env.update(extra)
        return env

    @property
    def output_file(self) -> Path:
        return self.workdir.parent / "pilot.out"

    def start(self, *extra: str, api: str = "v1", env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """A pilot in the background; its output goes to :attr:`output_file` (read it with :meth:`output`)."""
        with open(self.output_file, "a") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "pilot", *self.argv(*extra, api=api)],
                cwd=self.workdir,
                env=env or self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def output(self) -> str:
        return self.output_file.read_text() if self.output_file.exists() else ""

    def run(
        self, *extra: str, api: str = "v1", env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pilot", *self.argv(*extra, api=api)],
            cwd=self.workdir,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def make_site(
    tmp_path: Path, server_url: str, *, config_extra: str = "", copytool: str = "posix", **document_overrides
) -> PilotSite:
    site = SiteFactory()
    endpoint = f"{site.name}_DATADISK"
    se_root = tmp_path / "se"
    se_root.mkdir()
    StorageEndpointFactory(
        name=endpoint,
        site=site,
        rprotocols={
            "1": {
                "endpoint": "file://localhost",
                "path": str(se_root),
                "flavour": "POSIX",
                "id": 1,
                "activities": [["read_lan", 1], ["write_lan", 1], ["read_wan", 1], ["write_wan", 1]],
            }
        },
    )
    name = f"{site.name}_QUEUE"
    document = queue_document(
        name,
        site.name,
        copytools={copytool: {"setup": ""}},
        acopytools={"pr": [copytool], "pw": [copytool], "pl": [copytool], "default": [copytool]},
        astorages={"pr": [endpoint], "pw": [endpoint], "pl": [endpoint], "default": [endpoint]},
        **document_overrides,
    )
    PandaQueueFactory(name=name, site=site, document=document)
    token_file = tmp_path / "pilot.token"
    token_file.write_text(token_for(production_user()))
    config = tmp_path / "pilot.cfg"
    config.write_text(FAST_CONFIG + config_extra)
    workdir = tmp_path / "wd"
    workdir.mkdir()
    return PilotSite(
        queue=name,
        site=site.name,
        endpoint=endpoint,
        se_root=se_root,
        token_file=token_file,
        config=config,
        workdir=workdir,
        server_url=server_url,
        # The token is a production user's: it acts with the production role that v1 pilot calls need.
        origin="atlas.production",
    )


def install_trf(trf_dir: Path, name: str = "run.sh", text: str = DEFAULT_TRF) -> None:
    trf_dir.mkdir(parents=True, exist_ok=True)
    (trf_dir / name).write_text(text)


def make_job(
    pilot_site: PilotSite,
    *,
    n_inputs: int = 1,
    n_outputs: int = 1,
    exit_code: int = 0,
    extra: str = "true",
    trf: str = "run.sh",
    place_inputs: bool = True,
    corrupt: bool = False,
    **fields,
) -> Job:
    job = job_with_files(
        n_inputs=n_inputs,
        n_outputs=n_outputs,
        computingsite=pilot_site.queue,
        transformation=f"{pilot_site.server_url}/trf/{trf}",
        **fields,
    )
    inputs = list(JobFile.objects.filter(job=job, type=FileType.INPUT).order_by("row_id"))
    outputs = list(JobFile.objects.filter(job=job, type=FileType.OUTPUT).order_by("row_id"))
    for f in inputs:
        data = f"content of {f.lfn}\n".encode()
        JobFile.objects.filter(pk=f.pk).update(fsize=len(data), checksum=f"ad:{adler32_of(data)}")
        if place_inputs:
            path = pilot_site.se_root / deterministic_path(f.scope, f.lfn)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.swapcase() if corrupt else data)  # same size, other checksum
    pars = f"{','.join(f.lfn for f in inputs) or 'none'} {','.join(f.lfn for f in outputs) or 'none'} {exit_code} "
    pars += shlex.quote(extra)
    JobParameters.objects.filter(job=job).update(jobparameters=pars)
    return job


def output_path(pilot_site: PilotSite, f: JobFile) -> Path:
    return pilot_site.se_root / deterministic_path(f.scope, f.lfn)


def wait_until(predicate, *, timeout: float = 60.0, interval: float = 0.2, what: str = "condition", output=None):
    """Poll ``predicate`` (a bounded wait, never a timing assertion)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}" + (f"; pilot output:\n{output()}" if output else ""))


def job_status(job: Job) -> str:
    return Job.objects.values_list("jobstatus", flat=True).get(pandaid=job.pandaid)


def process_alive(pid: int) -> bool:
    from pilot.util import procfs

    stat = procfs.read_stat(pid)
    return stat is not None and stat.state != "Z"


class FlakyProxy:
    """A TCP forwarder in front of the live server that can be switched off and on: a network outage."""

    def __init__(self, target_url: str) -> None:
        import socket
        import urllib.parse

        parsed = urllib.parse.urlsplit(target_url)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener = None
        self.connections: list = []
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import socket
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        import socket

        if self.listener is not None:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the other thread
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self.connections.clear()

    def _accept(self, listener) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, destination) -> None:
        import socket

        try:
            while data := source.recv(65536):
                destination.sendall(data)
        except OSError:
            pass
        finally:
            try:
                destination.shutdown(socket.SHUT_WR)
            except OSError:
                pass
