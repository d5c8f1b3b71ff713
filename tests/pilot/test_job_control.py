import json
import os
import time

import pytest

from pilot.cli import parse_args
from pilot.comm.apinames import UPDATEJOB_V1, to_v1
from pilot.context import PilotContext
from pilot.info.queuedata import QueueData
from pilot.jobcontrol import backchannel
from pilot.jobcontrol.jobspec import Job
from pilot.jobcontrol.spool import FinalUpdateSpool
from pilot.jobcontrol.updatedata import build_update, error_code_to_send, final_state
from pilot.jobrunner import JobRun
from pilot.settings import Settings
from tests.pilot.support import job_definition, queue_doc


@pytest.fixture
def run(tmp_path):
    args = parse_args(["-q", "TEST_QUEUE", "--pilot-user", "generic", "-i", "RC"])
    ctx = PilotContext(
        args=args,
        settings=Settings(),
        pilot_home=str(tmp_path),
        base_dir=str(tmp_path),
        pilot_log=str(tmp_path / "pilotlog.txt"),
    )
    ctx.queuedata = QueueData.from_document(queue_doc(panda_resource="TEST_RESOURCE"), "TEST_QUEUE")
    (tmp_path / "pilotlog.txt").write_text("pilot log text")
    job = Job.from_definition(job_definition(2001, outputs=("HITS.1",)))
    job.workdir = str(tmp_path / "PanDA_Pilot-2001")
    os.makedirs(job.workdir)
    return JobRun(ctx, job, getjob_time=1700000000.5, getjob_seconds=3.2)


def test_a_heartbeat_carries_the_pilot_3_fields(run, monkeypatch):
    monkeypatch.setenv("GTAG", "http://logs/pilot.out")
    monkeypatch.setenv("PANDA_JSID", "harvester-h1")
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    data = build_update(run, "running", final=False)
    assert data["jobId"] == "2001"
    assert data["state"] == "running"
    assert data["siteName"] == "TEST_RESOURCE"
    assert data["attemptNr"] == 1
    assert data["schedulerID"] == "harvester-h1"
    assert data["pilotID"].startswith("http://logs/pilot.out|SLURM|RC|3.11")
    assert data["batchID"] == "777"
    assert data["startTime"] == 1700000000.5
    assert data["xml"] == "" and data["metaData"] == ""
    assert data["coreCount"] == 1
    assert data["cpuConsumptionUnit"].startswith("s+")
    assert "pilotErrorCode" not in data and "endTime" not in data


def test_the_final_update_adds_report_timing_log_and_errors(run):
    spec = run.job.outdata[0]
    spec.status, spec.filesize, spec.checksum = "transferred", 5, {"adler32": "0000000a"}
    spec.surl, spec.endpoint = "file:///se/HITS.1", "DISK"
    run.job.metadata = '{"exitCode": 0}'
    run.job.transexitcode = 3
    run.job.add_error(1368)
    data = build_update(run, final_state(run), final=True)
    assert data["state"] == "failed"
    assert json.loads(data["xml"]) == {
        "HITS.1": {
            "guid": spec.guid,
            "fsize": 5,
            "adler32": "0000000a",
            "surl": "file:///se/HITS.1",
            "endpoint": "DISK",
        }
    }
    assert data["metaData"] == '{"exitCode": 0}'
    assert data["pilotErrorCode"] == 1368
    assert data["pilotErrorDiag"] == "Remote file open timed out"
    assert data["transExitCode"] == 3
    assert data["pilotTiming"] == "3|0|0|0|0"
    assert data["pilotLog"] == "pilot log text"
    assert data["endTime"] >= data["startTime"]


def test_recoverable_stage_out_errors_of_user_jobs_are_sent_negated(run):
    run.job.add_error(1137)
    assert error_code_to_send(run) == 1137
    run.job.prodsourcelabel = "user"
    assert error_code_to_send(run) == -1137
    run.job.piloterrorcodes[0] = 1305
    assert error_code_to_send(run) == 1305


def test_v1_updates_use_snake_case_names_and_utc_times(run):
    data = to_v1(build_update(run, "finished", final=True), UPDATEJOB_V1)
    assert data["job_id"] == "2001" and data["job_status"] == "finished"
    assert data["start_time"] == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1700000000.5))
    assert "timestamp" not in data and "jobId" not in data
    assert set(data) <= set(UPDATEJOB_V1.values())


def test_tobekilled_trips_1144_and_stops_fetching_jobs(run):
    backchannel.handle_command(run, "debug,tobekilled")
    assert run.kill.tripped and run.kill.code == 1144
    assert run.killed_by_server
    assert run.ctx.abort.is_set()
    assert run.job.debug


def test_debug_debugoff_nocleanup_and_alreadydone(run):
    backchannel.handle_command(run, "debug")
    assert run.job.debug
    backchannel.handle_command(run, "debugoff")
    assert not run.job.debug
    backchannel.handle_command(run, "nocleanup")
    assert run.ctx.args.cleanup is False
    backchannel.handle_command(run, "alreadydone")
    assert run.job.updates_stopped
    backchannel.handle_command(run, "NULL-ish,whatever")
    assert not run.kill.tripped


@pytest.mark.parametrize(
    ("command", "ok"),
    [
        ("tail -30 payload.stdout", True),
        ("ls -l", True),
        ("ps axo pid,ppid,args", True),
        ("du -sk .", True),
        ("rm -rf .", False),
        ("tail payload.stdout; rm x", False),
        ("cat /etc/passwd", False),
        ("tail /etc/shadow", False),
        ("ls ../..", False),
        ("tail x | sh", False),
        ("ls $(id)", False),
    ],
)
def test_only_safe_debug_commands_are_accepted(command, ok):
    assert (backchannel.validate_debug_command(command) is not None) is ok


def test_a_debug_command_runs_in_the_job_dir_and_its_output_goes_into_the_heartbeat(run):
    with open(os.path.join(run.job.workdir, "payload.stdout"), "w") as out:
        out.write("line1\nline2\nline3\n")
    backchannel.handle_command(run, "tail -1 payload.stdout")
    assert run.job.debug_command == "tail -1 payload.stdout"
    assert backchannel.run_debug_command(run) == "line3\n"
    backchannel.handle_command(run, "rm payload.stdout")
    assert run.job.debug_command == "tail -1 payload.stdout"


def test_the_spool_keeps_final_updates_until_removed(tmp_path):
    spool = FinalUpdateSpool(str(tmp_path))
    data = {"jobId": "7", "attemptNr": 2, "state": "finished"}
    spool.save(data)
    assert FinalUpdateSpool(str(tmp_path)).pending() == [data]
    (tmp_path / "pilot_final_updates" / "junk.json").write_text("not json")
    assert spool.pending() == [data]
    spool.remove(data)
    (tmp_path / "pilot_final_updates" / "junk.json").unlink()
    spool.remove(data)
    assert spool.pending() == []
    assert not (tmp_path / "pilot_final_updates").exists()
