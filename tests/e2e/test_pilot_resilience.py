"""Multi-job pilots, and the server going away: the final update is never lost."""

import pytest
from django.conf import settings

from tests.e2e.pilot_support import FlakyProxy, install_trf, job_status, make_job, make_site, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NO_LOOPING = "looping_limit_default = 600\nlooping_limit_min_default = 600\n"


def test_a_multi_job_pilot_takes_a_second_job_of_the_same_task(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    pilot_site = make_site(tmp_path, live_server.url, timefloor=10)
    first = make_job(pilot_site, jeditaskid=100, currentpriority=3000, lockedby="jedi")
    other_task = make_job(pilot_site, jeditaskid=200, currentpriority=2000, lockedby="jedi")
    second = make_job(pilot_site, jeditaskid=100, currentpriority=1000, lockedby="jedi")
    result = pilot_site.run()
    assert result.returncode == 0, result.stdout
    for job in (first, second):
        job.refresh_from_db()
        assert job.jobstatus == "holding", result.stdout
        assert job.piloterrorcode == 0
    other_task.refresh_from_db()
    assert other_task.jobstatus == "activated"
    assert "pilot done: 2 job(s)" in result.stdout


def test_without_timefloor_a_pilot_runs_one_job(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    pilot_site = make_site(tmp_path, live_server.url)
    first, second = make_job(pilot_site), make_job(pilot_site)
    assert pilot_site.run().returncode == 0
    statuses = sorted([job_status(first), job_status(second)])
    assert statuses == ["activated", "holding"]


def test_the_job_finishes_and_is_reported_although_the_server_was_unreachable_in_the_middle(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    proxy = FlakyProxy(live_server.url)
    pilot_site = make_site(tmp_path, proxy.url, config_extra=NO_LOOPING + "final_update_max_wait = 120\n")
    go = tmp_path / "go"
    job = make_job(pilot_site, extra=f"while ! test -e {go}; do echo waiting; sleep 0.2; done")
    pilot = pilot_site.start()
    try:
        wait_until(lambda: job_status(job) == "running", what="the running heartbeat", output=pilot_site.output)
        proxy.stop()
        wait_until(
            lambda: f"update (running) of job {job.pandaid} failed" in pilot_site.output(),
            what="a failed heartbeat",
            output=pilot_site.output,
        )
        go.touch()  # the payload ends while the server is unreachable
        wait_until(
            lambda: f"final update of job {job.pandaid} not delivered" in pilot_site.output(),
            what="a failed final update",
            output=pilot_site.output,
        )
        assert job_status(job) == "running"
        proxy.start()
        pilot.wait(timeout=120)
    finally:
        pilot.kill()
        proxy.stop()
    assert pilot.returncode == 0, pilot_site.output()
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == 0


def test_an_unacknowledged_final_update_is_resent_by_the_next_pilot_in_the_same_work_dir(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    proxy = FlakyProxy(live_server.url)
    pilot_site = make_site(tmp_path, proxy.url, config_extra=NO_LOOPING + "final_update_max_wait = 1\n")
    go = tmp_path / "go"
    job = make_job(pilot_site, extra=f"while ! test -e {go}; do echo waiting; sleep 0.2; done")
    pilot = pilot_site.start()
    try:
        wait_until(lambda: job_status(job) == "running", what="the running heartbeat", output=pilot_site.output)
        proxy.stop()
        go.touch()
        pilot.wait(timeout=120)
    finally:
        pilot.kill()
    assert pilot.returncode == 79, pilot_site.output()  # 1318 COMMUNICATIONFAILURE
    spooled = list((pilot_site.workdir / "pilot_final_updates").glob("*.json"))
    assert [p.name for p in spooled] == [f"{job.pandaid}_1.json"]
    assert job_status(job) == "running"
    proxy.start()
    try:
        result = pilot_site.run()
    finally:
        proxy.stop()
    assert result.returncode == 82, result.stdout  # no new job, but the old final update went out
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == 0
    assert not (pilot_site.workdir / "pilot_final_updates").exists()
