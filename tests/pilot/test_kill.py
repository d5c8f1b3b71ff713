import os
import signal
import subprocess
import time

from pilot.util import procfs
from pilot.util.kill import PayloadKiller, Target, payload_targets, signal_target


def alive(pid: int) -> bool:
    stat = procfs.read_stat(pid)
    return stat is not None and stat.state != "Z"


def wait_for_file(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and path.read_text().strip():
            return path.read_text().split()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_the_killer_ends_the_payload_tree_and_nothing_else(tmp_path):
    unrelated_same_session = subprocess.Popen(["sleep", "300"])
    unrelated_own_session = subprocess.Popen(["sleep", "301"], start_new_session=True)
    pids = tmp_path / "pids"
    payload = subprocess.Popen(
        [
            "/bin/bash",
            "-c",
            f"sleep 302 & echo $! >> {pids}; setsid sleep 303 & echo $! >> {pids}; "
            f"trap '' TERM; echo $$ >> {pids}; sleep 304",
        ],
        start_new_session=True,
    )
    try:
        children = wait_for_file(pids)
        while len(children) < 3:
            children = wait_for_file(pids)
        killer = PayloadKiller(payload, grace=1.0)
        assert {t.pid for t in killer.targets()} >= {int(p) for p in children}
        assert unrelated_same_session.pid not in {t.pid for t in killer.targets()}
        assert unrelated_own_session.pid not in {t.pid for t in killer.targets()}
        started = time.monotonic()
        killer.kill()
        assert payload.wait(timeout=10) == -signal.SIGKILL  # it ignored TERM, so it got KILL after the grace
        assert time.monotonic() - started >= 1.0
        for pid in children:
            assert not alive(int(pid))
        assert alive(unrelated_same_session.pid)
        assert alive(unrelated_own_session.pid)
    finally:
        for process in (unrelated_same_session, unrelated_own_session, payload):
            process.kill()
            process.wait()


def test_a_process_is_not_signalled_when_its_identity_changed():
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        stat = procfs.read_stat(process.pid)
        assert not signal_target(Target(process.pid, stat.starttime + 1), signal.SIGTERM)
        assert alive(process.pid)
        assert signal_target(Target(process.pid, stat.starttime), signal.SIGTERM)
        assert process.wait(timeout=10) == -signal.SIGTERM
    finally:
        process.kill()
        process.wait()


def test_processes_outside_the_pilot_tree_are_never_targets():
    # PID 1 and this process are not below any payload
    targets = payload_targets(1, 1)
    assert all(t.pid not in (1, os.getpid()) for t in targets)


def test_proc_parsing_reads_this_process():
    stat = procfs.read_stat(os.getpid())
    assert stat.pid == os.getpid()
    assert stat.ppid == os.getppid()
    assert procfs.memory(os.getpid()).rss > 0
    assert procfs.io(os.getpid()).rchar >= 0
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in {s.pid for s in procfs.descendants(os.getpid())}
        assert procfs.is_descendant(child.pid, os.getpid())
    finally:
        child.kill()
        child.wait()
