"""The Slurm plugin against a real single-node Slurm (started here), running the stand-in pilot."""

import os
from pathlib import Path

import pytest

from harvester.plugins.local import process_identity
from harvester.plugins.slurm import SlurmPlugin
from harvester.store import WorkSpec
from tests.harvester.conftest import harvester_config, wait_for
from tests.harvester.slurm_cluster import MISSING, SKIP_REASON, start_slurm

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON or "slurm")]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    yield cluster
    cluster.stop()


def setup(tmp_path, slurm, worker_id=1, **env):
    config = harvester_config(tmp_path, pilot_env={k: str(v) for k, v in env.items()}, nCore=1)
    plugin = SlurmPlugin(config, partition="debug", slurm_conf=str(slurm.conf))
    worker = WorkSpec(
        worker_id=worker_id,
        queue="Q1",
        status="pending",
        mode="PULL",
        plugin="slurm",
        access_point=os.path.join(config.workdir, str(worker_id)),
    )
    return config, plugin, worker


def status_of(plugin, worker):
    ok, [(status, diag)] = plugin.check_workers([worker])
    assert ok
    return status


def test_a_worker_is_a_batch_job_that_runs_the_pilot_and_ends_finished(tmp_path, slurm):
    _, plugin, worker = setup(tmp_path, slurm)

    assert plugin.submit_workers([worker]) == [(True, "")]
    assert worker.batch_id.isdigit()
    script = (Path(worker.access_point) / "run_pilot.sbatch").read_text()
    assert "#SBATCH --job-name=harvester-unit-harvester-1\n" in script and "#SBATCH --partition=debug" in script
    wait_for(lambda: status_of(plugin, worker) == "finished", timeout=60, what="the batch job to finish")
    assert (worker.native_status, worker.native_exit_code, worker.error_code) == ("COMPLETED", 0, 0)
    assert (Path(worker.access_point) / "args.txt").read_text().startswith("-m pilot -s Q1")
    env = (Path(worker.access_point) / "env.txt").read_text()
    assert "HARVESTER_WORKER_ID=1\n" in env and f"SLURM_JOB_ID={worker.batch_id}\n" in env


def test_a_failing_pilot_fails_its_worker_with_the_pilot_error(tmp_path, slurm):
    _, plugin, worker = setup(tmp_path, slurm, STAND_IN_EXIT=79)
    plugin.submit_workers([worker])

    wait_for(lambda: status_of(plugin, worker) == "failed", timeout=60, what="the batch job to fail")
    assert (worker.native_status, worker.native_exit_code, worker.error_code) == ("FAILED", 79, 1318)


def test_a_worker_is_running_then_cancelled_by_scancel(tmp_path, slurm):
    _, plugin, worker = setup(tmp_path, slurm, STAND_IN_SLEEP=600)
    plugin.submit_workers([worker])
    wait_for(lambda: status_of(plugin, worker) == "running", timeout=60, what="the batch job to run")

    assert plugin.kill_worker(worker) == (True, "cancelled")
    wait_for(lambda: status_of(plugin, worker) == "cancelled", timeout=60, what="the batch job to be cancelled")
    pilot = int((Path(worker.access_point) / "stand_in.pid").read_text())
    wait_for(lambda: process_identity(pilot) is None, timeout=60, what="Slurm to end the pilot process")
    assert plugin.kill_worker(worker)[0]  # again: nothing to do
    assert plugin.sweep_worker(worker) == (True, "")
    assert not Path(worker.access_point).exists()


def test_a_restarted_harvester_finds_its_batch_job_by_name(tmp_path, slurm):
    config, plugin, worker = setup(tmp_path, slurm, worker_id=5, STAND_IN_SLEEP=600)
    plugin.submit_workers([worker])
    try:
        _, fresh_plugin, forgotten = setup(tmp_path, slurm, worker_id=5)
        assert fresh_plugin.find_worker(forgotten)
        assert forgotten.batch_id == worker.batch_id
        _, _, never = setup(tmp_path, slurm, worker_id=6)
        assert not fresh_plugin.find_worker(never)
    finally:
        plugin.kill_worker(worker)


def test_several_workers_are_checked_together_even_when_slurm_forgot_one(tmp_path, slurm):
    _, plugin, first = setup(tmp_path, slurm, worker_id=1)
    _, _, second = setup(tmp_path, slurm, worker_id=2)
    plugin.submit_workers([first, second])
    wait_for(
        lambda: plugin.check_workers([first, second])[1] == [("finished", ""), ("finished", "")],
        timeout=60,
        what="both batch jobs to finish",
    )
    forgotten = WorkSpec(**{**second.__dict__, "batch_id": "999999", "access_point": str(tmp_path / "gone")})

    ok, results = plugin.check_workers([first, forgotten])

    assert ok and results[0] == ("finished", "") and results[1][0] == "missed"


def test_sbatch_refusing_a_worker_is_a_failed_submission(tmp_path, slurm):
    config = harvester_config(tmp_path)
    plugin = SlurmPlugin(config, partition="no-such-partition", slurm_conf=str(slurm.conf))
    worker = WorkSpec(
        worker_id=1,
        queue="Q1",
        status="pending",
        mode="PULL",
        plugin="slurm",
        access_point=os.path.join(config.workdir, "1"),
    )
    [(ok, diag)] = plugin.submit_workers([worker])
    assert not ok and "sbatch failed" in diag and worker.batch_id is None
