"""The pilot signals its payload and nothing else (pilot-harvester.md §9), run as a real subprocess."""

import json
import os
import subprocess
import time

from pilot.util import procfs
from tests.pilot.support import job_definition, pilot_env, queue_doc, run_pilot, write_config


def alive(pid: int) -> bool:
    stat = procfs.read_stat(pid)
    return stat is not None and stat.state != "Z"


def daemonize(command: str) -> int:
    """Start ``command`` the way a user daemon runs: double fork, new session, parent reaped (orphan)."""
    out = subprocess.run(
        ["/bin/bash", "-c", f"setsid bash -c '{command} >/dev/null 2>&1 & echo $!' </dev/null"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return int(out.stdout.strip())


def test_a_killed_payload_takes_its_whole_tree_and_unrelated_processes_of_the_user_survive(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    pids = tmp_path / "pids"
    # the payload: children, a setsid'd child and a double-forked daemon; then it loops (writes nothing)
    script = tmp_path / "payload.sh"
    script.write_text(
        f"sleep 600 & echo $! >> {pids}\nsetsid sleep 601 & echo $! >> {pids}\n"
        f"setsid bash -c 'sleep 602 & echo $! >> {pids}'\necho $$ >> {pids}\nsleep 603\n"
    )
    (home / "queuedata.json").write_text(json.dumps(queue_doc(copytool="mv", astorages={})))
    (home / "pandaJobData.out").write_text(json.dumps({"5001": job_definition(5001, job_pars=str(script))}))
    # unrelated processes of the same user: an orphaned daemon (parent is PID 1 or a subreaper, the
    # pattern pilot 3.11 kills), a plain child of the test and a child in its own session
    daemon = daemonize("sleep 700")
    plain = subprocess.Popen(["sleep", "701"])
    own_session = subprocess.Popen(["sleep", "702"], start_new_session=True)
    try:
        result = run_pilot(
            [
                "-q",
                "TEST_QUEUE",
                "--pilot-user",
                "generic",
                "-z",
                "-b",
                "--config",
                str(write_config(tmp_path)),
                "--cleanup",
                "false",
            ],
            cwd=home,
            env=pilot_env(),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads((home / "heartbeat.json").read_text())
        assert report["state"] == "failed"
        assert report["pilotErrorCode"] == 1150
        payload_pids = [int(p) for p in pids.read_text().split()]
        assert len(payload_pids) == 4
        time.sleep(0.5)
        for pid in payload_pids:
            assert not alive(pid), f"payload process {pid} survived"
        for pid in (daemon, plain.pid, own_session.pid):
            assert alive(pid), f"unrelated process {pid} was killed"
    finally:
        plain.kill()
        own_session.kill()
        plain.wait()
        own_session.wait()
        try:
            os.kill(daemon, 9)
        except ProcessLookupError:
            pass


def test_processes_the_payload_leaves_behind_are_ended_unless_pilot_nokill_is_set(tmp_path):
    for nokill, survives in (("0", False), ("1", True)):
        home = tmp_path / f"home{nokill}"
        home.mkdir()
        pidfile = tmp_path / f"leftover{nokill}"
        script = tmp_path / f"payload{nokill}.sh"
        script.write_text(f"setsid sleep 650 >/dev/null 2>&1 & echo $! > {pidfile}\necho done\n")
        (home / "queuedata.json").write_text(json.dumps(queue_doc(copytool="mv", astorages={})))
        (home / "pandaJobData.out").write_text(json.dumps({"5002": job_definition(5002, job_pars=str(script))}))
        result = run_pilot(
            ["-q", "TEST_QUEUE", "--pilot-user", "generic", "-z", "-b", "--config", str(write_config(tmp_path))],
            cwd=home,
            env=pilot_env(PILOT_NOKILL=nokill),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads((home / "heartbeat.json").read_text())["state"] == "finished"
        leftover = int(pidfile.read_text())
        time.sleep(0.3)
        try:
            assert alive(leftover) is survives
        finally:
            try:
                os.kill(leftover, 9)
            except ProcessLookupError:
                pass
