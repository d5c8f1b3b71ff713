"""Jobs the pilot must stop: killed from the server, looping, over memory, pilot signalled; debug mode."""

import signal

import pytest
from django.conf import settings

from apps.jobs.models import JobText
from apps.jobs.services.adder import adder_run
from apps.jobs.services.kill import job_kill
from tests.e2e.pilot_support import install_trf, job_status, make_job, make_site, process_alive, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


NO_LOOPING = "looping_limit_default = 600\nlooping_limit_min_default = 600\n"


@pytest.fixture
def pilot_site(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    return make_site(tmp_path, live_server.url, config_extra=NO_LOOPING)


def sleeping_job(pilot_site, tmp_path, **kwargs):
    """A payload that sleeps without writing; its process IDs are written outside the job dir."""
    pids = tmp_path / "payload.pids"
    job = make_job(pilot_site, extra=f"echo $$ >> {pids}; sleep 600 & echo $! >> {pids}; wait", **kwargs)
    return job, pids


def read_pids(path):
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_a_job_killed_on_the_server_is_reported_failed_1144_and_its_payload_is_gone(pilot_site, tmp_path):
    job, pids = sleeping_job(pilot_site, tmp_path)
    pilot = pilot_site.start("--cleanup", "false")
    try:
        wait_until(lambda: len(read_pids(pids)) == 2, what="the payload to start", output=pilot_site.output)
        wait_until(lambda: job_status(job) == "running", what="the running heartbeat")
        job.refresh_from_db()
        assert job_kill(job, code=None, killer="test")
        pilot.wait(timeout=60)
    finally:
        pilot.kill()
    assert pilot.returncode == 0, pilot_site.output()
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == 1144
    assert job.piloterrordiag == "This job was killed by panda server"
    for pid in read_pids(pids):
        assert not process_alive(pid)
    adder_run()
    job.refresh_from_db()
    assert job.jobstatus == "cancelled"


def test_a_looping_job_is_killed_with_1150(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    pilot_site = make_site(tmp_path, live_server.url)
    job, pids = sleeping_job(pilot_site, tmp_path)
    result = pilot_site.run()
    assert result.returncode == 0, result.stdout
    job.refresh_from_db()
    assert job.piloterrorcode == 1150
    assert job.piloterrordiag.startswith("Looping job killed by pilot: no file in the job dir was modified")
    for pid in read_pids(pids):
        assert not process_alive(pid)


def test_a_job_over_its_memory_limit_is_killed_with_1235(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    # 2 x maxrss = 40 MB; the payload holds 200 MB
    pilot_site = make_site(tmp_path, live_server.url, maxrss=20, config_extra=NO_LOOPING)
    job = make_job(pilot_site, extra="python3 -c 'import time; b = b\"x\" * (200 * 1024 * 1024); time.sleep(600)'")
    result = pilot_site.run()
    assert result.returncode == 0, result.stdout
    job.refresh_from_db()
    assert job.piloterrorcode == 1235
    assert "job has exceeded the memory limit" in job.piloterrordiag
    assert job.maxrss > 40 * 1024
    assert job.maxpss > 0


def test_a_signalled_pilot_fails_its_job_with_the_signal_code_and_exits_143(pilot_site, tmp_path):
    job, pids = sleeping_job(pilot_site, tmp_path)
    pilot = pilot_site.start()
    try:
        wait_until(lambda: len(read_pids(pids)) == 2, what="the payload to start", output=pilot_site.output)
        pilot.send_signal(signal.SIGTERM)
        pilot.wait(timeout=60)
    finally:
        pilot.kill()
    assert pilot.returncode == 143, pilot_site.output()
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == 1201
    for pid in read_pids(pids):
        assert not process_alive(pid)


def test_debug_mode_heartbeats_carry_the_payload_stdout_tail(pilot_site, tmp_path):
    marker = tmp_path / "stop"
    job = make_job(
        pilot_site,
        specialhandling="dm",
        extra=f"for i in $(seq 1 300); do echo tick $i; test -e {marker} && break; sleep 0.2; done",
    )
    pilot = pilot_site.start()
    try:
        wait_until(
            lambda: (
                "tick"
                in (
                    JobText.objects.filter(job_id=job.pandaid, kind=JobText.Kind.STDOUT)
                    .values_list("text", flat=True)
                    .first()
                    or ""
                )
            ),
            what="a debug heartbeat",
        )
        marker.touch()
        pilot.wait(timeout=60)
    finally:
        pilot.kill()
    assert pilot.returncode == 0, pilot_site.output()
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == 0


def test_a_pilot_at_the_end_of_its_lifetime_stops_the_payload_with_1213_and_exits_81(pilot_site, tmp_path):
    job, pids = sleeping_job(pilot_site, tmp_path)
    result = pilot_site.run("-l", "8")
    assert result.returncode == 81, result.stdout
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == 1213
    for pid in read_pids(pids):
        assert not process_alive(pid)


def test_a_setdebugmode_queue_switches_debug_mode_on_for_every_job(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    pilot_site = make_site(tmp_path, live_server.url, catchall="setdebugmode")
    job = make_job(pilot_site, extra="for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.3; done")
    result = pilot_site.run()
    assert result.returncode == 0, result.stdout
    job.refresh_from_db()
    assert "dm" in job.specialhandling.split(",")
    assert "tick" in JobText.objects.get(job_id=job.pandaid, kind=JobText.Kind.STDOUT).text
