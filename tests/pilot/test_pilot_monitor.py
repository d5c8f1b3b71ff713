import json
import time

import pytest

from pilot.cli import parse_args
from pilot.context import PilotContext
from pilot.info.queuedata import QueueData
from pilot.jobcontrol.jobspec import Job
from pilot.jobrunner import JobRun
from pilot.monitor.jobmonitor import JobMonitor
from pilot.monitor.pilotmonitor import PilotMonitor
from pilot.settings import Settings
from tests.pilot.support import job_definition, queue_doc


@pytest.fixture
def ctx(tmp_path):
    args = parse_args(["-q", "TEST_QUEUE", "--pilot-user", "generic", "-l", "1000"])
    context = PilotContext(
        args=args,
        settings=Settings(),
        pilot_home=str(tmp_path),
        base_dir=str(tmp_path),
        pilot_log=str(tmp_path / "pilotlog.txt"),
    )
    context.queuedata = QueueData.from_document(queue_doc(maxtime=0), "TEST_QUEUE")
    return context


def running_job(ctx):
    run = JobRun(ctx, Job.from_definition(job_definition(6001)), getjob_time=time.time(), getjob_seconds=0)
    ctx.current = run
    return run


def test_the_lifetime_is_the_smaller_of_the_option_and_maxtime_with_grace(ctx):
    assert ctx.lifetime() == 1000
    ctx.queuedata = QueueData.from_document(queue_doc(maxtime=500, pilot_walltime_grace=1.5), "TEST_QUEUE")
    assert ctx.lifetime() == 750


def test_at_the_end_of_the_lifetime_the_job_is_stopped_with_1213(ctx):
    run = running_job(ctx)
    monitor = PilotMonitor(ctx)
    monitor._check_lifetime()
    assert not run.kill.tripped
    ctx.started -= 950  # within the stage-out reserve (10 % of the lifetime)
    monitor._check_lifetime()
    assert run.kill.code == 1213
    assert ctx.abort.is_set()
    assert ctx.exit_error == 1213


def test_losing_the_server_for_longer_than_lost_heartbeat_aborts_with_1318(ctx):
    run = running_job(ctx)
    monitor = PilotMonitor(ctx)
    monitor._check_server_contact()
    assert not run.kill.tripped
    ctx.last_server_contact -= ctx.settings.lost_heartbeat + 1
    monitor._check_server_contact()
    assert run.kill.code == 1318
    assert ctx.abort.is_set()
    assert ctx.exit_error == 1318


def test_a_dead_monitoring_thread_fails_the_job_with_1319(ctx):
    class DeadMonitor(JobMonitor):
        def run(self):
            return

    run = running_job(ctx)
    run.monitor = DeadMonitor(run)
    run.monitor.start()
    run.monitor.join()
    PilotMonitor(ctx)._check_threads()
    assert run.kill.code == 1319


def test_the_pilot_heartbeat_file_is_written(ctx, tmp_path):
    PilotMonitor(ctx)._write_heartbeat_file()
    content = json.loads((tmp_path / "pilot_heartbeat.json").read_text())
    assert set(content) == {"last_pilot_heartbeat", "last_server_update", "pilot_pid"}
