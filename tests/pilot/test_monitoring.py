import json
import os
import time

from pilot.info.queuedata import QueueData
from pilot.jobcontrol.jobspec import Job
from pilot.monitor import checks
from pilot.monitor.metrics import JobMetrics
from pilot.payload.interpret import interpret_payload_exit
from tests.pilot.support import job_definition, queue_doc


def make_job(tmp_path, **overrides):
    job = Job.from_definition(job_definition(3001, outputs=("HITS.1",), **overrides))
    job.workdir = str(tmp_path)
    return job


def test_a_job_dir_with_no_recent_change_is_looping(tmp_path):
    job = make_job(tmp_path)
    old = time.time() - 100
    for name in ("payload.stdout", "data.root"):
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / "pilotlog.txt").write_text("the pilot writes here all the time")
    code, detail = checks.check_looping(job, now=time.time(), payload_started=old, limit=50)
    assert code == 1150
    assert "limit 50 s" in detail
    assert checks.check_looping(job, now=time.time(), payload_started=old, limit=500) == (0, "")
    (tmp_path / "data.root").write_text("progress")
    assert checks.check_looping(job, now=time.time(), payload_started=old, limit=50) == (0, "")


def test_the_looping_check_can_be_switched_off_by_the_job(tmp_path):
    job = make_job(tmp_path, loopingCheck=False)
    assert checks.check_looping(job, now=time.time() + 10000, payload_started=0, limit=1) == (0, "")


def test_the_memory_limit_is_rss_grace_times_maxrss_scaled_to_the_job_cores(tmp_path):
    job = make_job(tmp_path, coreCount=4)
    queue = QueueData.from_document(queue_doc(maxrss=16000, corecount=8), "Q")
    assert checks.memory_limit_kb(job, queue) == 2 * 16000 * 0.5 * 1024
    queue = QueueData.from_document(queue_doc(maxrss=0, pilot_rss_grace=3), "Q")
    job.minramcount = 1000
    assert checks.memory_limit_kb(job, queue) == 3 * 1000 * 1024
    job.minramcount = 0
    assert checks.memory_limit_kb(job, queue) == 0
    queue = QueueData.from_document(queue_doc(maxrss=1000, memkillgrace=150), "Q")
    job.corecount = 1
    assert checks.memory_limit_kb(job, queue) == int(2 * 1000 * 1024 * 1.5)


def test_exceeding_the_memory_limit_is_1235():
    assert checks.check_memory(5000, 4000)[0] == 1235
    assert checks.check_memory(3000, 4000) == (0, "")
    assert checks.check_memory(10**9, 0) == (0, "")


def test_a_work_dir_over_maxwdir_is_1104_and_no_local_space_is_1098(tmp_path):
    job = make_job(tmp_path)
    (tmp_path / "big").write_bytes(b"x" * (2 * 1024 * 1024))
    queue = QueueData.from_document(queue_doc(maxwdir=1), "Q")
    assert checks.check_disk(job, queue, min_free_mb=0)[0] == 1104
    queue = QueueData.from_document(queue_doc(maxwdir=100), "Q")
    assert checks.check_disk(job, queue, min_free_mb=0) == (0, "")
    assert checks.check_disk(job, queue, min_free_mb=10**12)[0] == 1098


def test_a_huge_payload_stdout_is_1106(tmp_path):
    job = make_job(tmp_path)
    (tmp_path / "payload.stdout").write_bytes(b"x" * 4096)
    assert checks.check_stdout_size(job, limit_kb=2)[0] == 1106
    assert checks.check_stdout_size(job, limit_kb=100) == (0, "")


def test_metrics_keep_maxima_and_averages_of_the_samples():
    metrics = JobMetrics()
    metrics.start()
    metrics.sample([os.getpid()])
    metrics.sample([os.getpid()])
    fields = metrics.update_fields(elapsed=2.0)
    assert fields["maxRSS"] >= fields["avgRSS"] > 0
    assert fields["maxPSS"] > 0 and fields["maxVMEM"] > 0
    assert fields["totRCHAR"] >= 0 and "rateRCHAR" in fields
    assert metrics.cpu_time() >= 0
    assert JobMetrics().update_fields(elapsed=1.0) == {}


def test_a_non_zero_exit_becomes_the_mapped_pilot_error_with_the_stderr_tail(tmp_path):
    job = make_job(tmp_path)
    (tmp_path / "payload.stderr").write_text("warming up\nFATAL: cannot read input\n\n")
    interpret_payload_exit(job, 1)
    assert job.transexitcode == 1
    assert job.piloterrorcode == 1305
    assert job.piloterrordiag == "Failed to execute payload: FATAL: cannot read input"


def test_exit_code_three_is_1368_and_zero_is_no_error(tmp_path):
    job = make_job(tmp_path)
    interpret_payload_exit(job, 3)
    assert (job.piloterrorcode, job.transexitcode) == (1368, 3)
    job = make_job(tmp_path)
    interpret_payload_exit(job, 0)
    assert job.piloterrorcodes == []


def test_the_job_report_is_forwarded_verbatim_and_gives_exe_errors_guids_and_events(tmp_path):
    job = make_job(tmp_path)
    report = {
        "exitCode": 65,
        "exitMsg": "transform failed",
        "files": {"output": [{"subFiles": [{"name": "HITS.1", "file_guid": "ABC-GUID", "nentries": 50}]}]},
    }
    text = json.dumps(report, indent=2)
    (tmp_path / "jobReport.json").write_text(text)
    interpret_payload_exit(job, 0)
    assert job.metadata == text
    assert (job.exeerrorcode, job.exeerrordiag) == (65, "transform failed")
    assert job.outdata[0].guid == "ABC-GUID"
    assert job.nevents == 50


def test_a_broken_job_report_is_still_forwarded(tmp_path):
    job = make_job(tmp_path)
    (tmp_path / "jobReport.json").write_text("{not json")
    interpret_payload_exit(job, 0)
    assert job.metadata == "{not json"
    assert job.piloterrorcodes == []
