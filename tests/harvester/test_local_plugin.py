"""The local plugin against real processes: the stand-in pilot of conftest.py."""

import os
from pathlib import Path

import pytest

from harvester.plugins.local import LocalPlugin, process_identity
from harvester.store import WorkSpec
from tests.harvester.conftest import harvester_config, wait_for


def make_worker(config, worker_id=1) -> WorkSpec:
    return WorkSpec(
        worker_id=worker_id,
        queue="Q1",
        status="pending",
        mode="PULL",
        plugin="local",
        access_point=os.path.join(config.workdir, str(worker_id)),
    )


def submitted(tmp_path, *, harvester=None, **env):
    config = harvester_config(tmp_path, pilot_env={k: str(v) for k, v in env.items()}, harvester=harvester)
    plugin = LocalPlugin(config)
    worker = make_worker(config)
    assert plugin.submit_workers([worker]) == [(True, "")]
    return config, plugin, worker


def settled(plugin, worker):
    def check():
        ok, [(status, diag)] = plugin.check_workers([worker])
        assert ok
        return (status, diag) if status != "running" else None

    return wait_for(check, what="the worker to end")


def test_a_worker_runs_the_pilot_in_its_access_point_in_its_own_session(tmp_path):
    _, plugin, worker = submitted(tmp_path, STAND_IN_SLEEP=30)
    try:
        pid = worker.plugin_data["pid"]
        assert worker.batch_id == str(pid)
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid  # its own session and process group
        args = wait_for(
            lambda: (
                (Path(worker.access_point) / "args.txt").exists()
                and (Path(worker.access_point) / "args.txt").read_text()
            ),
            what="the pilot to start",
        )
        assert args.startswith("-m pilot -s Q1")
        env = (Path(worker.access_point) / "env.txt").read_text()
        assert "HARVESTER_WORKER_ID=1\n" in env and "HARVESTER_ID=unit-harvester\n" in env
        assert plugin.check_workers([worker]) == (True, [("running", "")])
    finally:
        plugin.kill_worker(worker)


@pytest.mark.parametrize(
    "exit_code, status, error", [(0, "finished", 0), (82, "finished", 0), (65, "failed", 1008), (1, "failed", -1)]
)
def test_the_pilots_exit_code_decides_how_the_worker_ended(tmp_path, exit_code, status, error):
    _, plugin, worker = submitted(tmp_path, STAND_IN_EXIT=exit_code)

    assert settled(plugin, worker)[0] == status
    assert (worker.native_exit_code, worker.error_code) == (exit_code, error)
    assert worker.end_time is not None


def test_killing_a_worker_stops_its_whole_process_group(tmp_path):
    _, plugin, worker = submitted(tmp_path, STAND_IN_SLEEP=600, STAND_IN_CHILD=1)
    child_file = Path(worker.access_point) / "child.pid"
    child = int(wait_for(lambda: child_file.exists() and child_file.read_text().strip(), what="the child"))

    ok, _ = plugin.kill_worker(worker)

    assert ok
    assert process_identity(worker.plugin_data["pid"]) is None
    wait_for(lambda: process_identity(child) is None, what="the child to go")
    worker.kill_requested = True
    assert settled(plugin, worker)[0] == "cancelled"


def test_a_kill_waits_for_a_pilot_that_takes_time_to_stop_after_its_wrapper_is_gone(tmp_path):
    # The wrapper shell dies at once on SIGTERM; the pilot still reports before it exits. The grace
    # period is generous so that a loaded machine cannot turn the awaited stop into a SIGKILL.
    _, plugin, worker = submitted(
        tmp_path,
        harvester={"kill_grace_seconds": 30},
        STAND_IN_SLEEP=600,
        STAND_IN_ON_TERM="sleep 1; echo stopped > stopped.txt; exit 143",
    )
    stand_in = int(wait_for(lambda: stand_in_pid(worker), what="the pilot to start"))

    assert plugin.kill_worker(worker) == (True, "terminated")

    assert (Path(worker.access_point) / "stopped.txt").read_text() == "stopped\n"
    assert process_identity(stand_in) is None


def test_a_pilot_that_does_not_stop_within_the_grace_period_is_killed_with_its_whole_group(tmp_path):
    _, plugin, worker = submitted(tmp_path, STAND_IN_SLEEP=600, STAND_IN_IGNORE_TERM=1, STAND_IN_CHILD=1)
    stand_in = int(wait_for(lambda: stand_in_pid(worker), what="the pilot to start"))
    child_file = Path(worker.access_point) / "child.pid"
    child = int(wait_for(lambda: child_file.exists() and child_file.read_text().strip(), what="the child"))

    assert plugin.kill_worker(worker) == (True, "killed")

    wait_for(lambda: process_identity(stand_in) is None, what="the pilot to go")
    wait_for(lambda: process_identity(child) is None, what="the child to go")
    assert process_identity(worker.plugin_data["pid"]) is None


def stand_in_pid(worker: WorkSpec) -> str:
    path = Path(worker.access_point) / "stand_in.pid"
    return path.exists() and path.read_text().strip()


def test_a_reused_pid_is_never_signalled(tmp_path):
    _, plugin, worker = submitted(tmp_path, STAND_IN_SLEEP=30)
    try:
        stranger = WorkSpec(**{**worker.__dict__, "plugin_data": {**worker.plugin_data, "start_ticks": 1}})
        assert plugin.kill_worker(stranger) == (True, "not running")
        assert process_identity(worker.plugin_data["pid"]) is not None
    finally:
        plugin.kill_worker(worker)


def test_a_restarted_harvester_finds_a_worker_it_started_but_did_not_record(tmp_path):
    config, plugin, worker = submitted(tmp_path, STAND_IN_SLEEP=30)
    try:
        forgotten = make_worker(config)
        assert LocalPlugin(config).find_worker(forgotten)
        assert forgotten.plugin_data["pid"] == worker.plugin_data["pid"]
        assert forgotten.plugin_data["start_ticks"] == worker.plugin_data["start_ticks"]
        assert not LocalPlugin(config).find_worker(make_worker(config, worker_id=2))
    finally:
        plugin.kill_worker(worker)


def test_a_worker_that_vanished_without_an_exit_code_is_missed(tmp_path):
    _, plugin, worker = submitted(tmp_path, STAND_IN_SLEEP=30)
    os.killpg(worker.plugin_data["pid"], 9)

    assert settled(plugin, worker)[0] == "missed"


def test_sweeping_removes_the_access_point_only_inside_the_work_area(tmp_path):
    config, plugin, worker = submitted(tmp_path)
    settled(plugin, worker)

    assert plugin.sweep_worker(worker) == (True, "")
    assert not Path(worker.access_point).exists()
    outside = WorkSpec(**{**worker.__dict__, "access_point": str(tmp_path)})
    ok, diag = plugin.sweep_worker(outside)
    assert not ok and "refusing" in diag and tmp_path.exists()


def test_a_pilot_that_cannot_start_is_a_failed_submission(tmp_path):
    config = harvester_config(tmp_path)
    plugin = LocalPlugin(config, shell=str(tmp_path / "no-such-shell"))
    [(ok, diag)] = plugin.submit_workers([make_worker(config)])
    assert not ok and "cannot start" in diag
