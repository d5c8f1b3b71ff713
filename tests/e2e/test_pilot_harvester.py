"""Harvester modes: PULL (worker IDs), PUSH (pre-placed job, server updates) and no network (-z, files)."""

import json
import urllib.request

import pytest
from django.conf import settings

from apps.jobs.models import Job
from apps.workers.models import JobWorker, Worker
from tests.e2e.pilot_support import adler32_of, install_trf, job_status, make_job, make_site

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def acquire_like_harvester(pilot_site, n_jobs=1):
    """What Harvester's JobFetcher does: ``pilot/acquire_jobs`` with n_jobs, as a production identity."""
    body = json.dumps(
        {
            "site_name": pilot_site.queue,
            "n_jobs": n_jobs,
            "prod_source_label": "managed",
            "scheduler_id": "harvester-h1",
        }
    ).encode()
    request = urllib.request.Request(
        f"{pilot_site.server_url}/api/v1/pilot/acquire_jobs",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {pilot_site.token_file.read_text()}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["success"], answer
    return answer["data"]["jobs"]


def test_a_pull_pilot_reports_its_worker_and_the_job_is_bound_to_it(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    pilot_site = make_site(tmp_path, live_server.url)
    job = make_job(pilot_site)
    env = pilot_site.env(HARVESTER_ID="h1", HARVESTER_WORKER_ID="42", PANDA_JSID="harvester-h1")
    result = pilot_site.run("--harvester-submit-mode", "PULL", env=env)
    assert result.returncode == 0, result.stdout
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.schedulerid == "harvester-h1"
    assert JobWorker.objects.filter(harvesterid="h1", workerid=42, pandaid=job.pandaid).exists()
    worker = Worker.objects.get(harvesterid="h1", workerid=42)
    assert worker.pilotstatus == "finished"
    assert worker.pilotstarttime is not None and worker.pilotendtime is not None


def test_a_push_pilot_runs_the_pre_placed_job_and_updates_the_server(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    pilot_site = make_site(tmp_path, live_server.url)
    job = make_job(pilot_site)
    [definition] = acquire_like_harvester(pilot_site)
    assert definition["PandaID"] == job.pandaid
    access_point = tmp_path / "ap"
    access_point.mkdir()
    (access_point / "pandaJobData.out").write_text(json.dumps({str(job.pandaid): definition}))
    env = pilot_site.env(HARVESTER_ID="h1", HARVESTER_WORKER_ID="43")
    result = pilot_site.run(
        "--harvester-submit-mode",
        "PUSH",
        "--harvester-datadir",
        str(access_point),
        "--harvester-workdir",
        str(access_point),
        env=env,
    )
    assert result.returncode == 0, result.stdout
    assert not (access_point / "pandaJobData.out").exists()
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == 0


def test_without_network_everything_goes_through_the_access_point_files(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    pilot_site = make_site(tmp_path, live_server.url, copytool="mv")
    job = make_job(pilot_site, place_inputs=False)
    [definition] = acquire_like_harvester(pilot_site)
    access_point = tmp_path / "ap"
    access_point.mkdir()
    (access_point / "HPCJobs.json").write_text(json.dumps({str(job.pandaid): definition}))
    # Harvester's preparator put the input next to the pilot (mv copytool)
    in_lfn = definition["inFiles"]
    data = f"content of {in_lfn}\n".encode()
    assert definition["checksum"] == f"ad:{adler32_of(data)}"
    (access_point / in_lfn).write_bytes(data)
    env = pilot_site.env(HARVESTER_ID="h1", HARVESTER_WORKER_ID="44")
    argv = [
        "-q",
        pilot_site.queue,
        "--pilot-user",
        "generic",
        "-z",
        "-b",
        "--config",
        str(pilot_site.config),
        "--harvester-submit-mode",
        "PUSH",
        "--harvester-workdir",
        str(access_point),
        "--queuedata-url",
        f"{live_server.url}/cache/schedconfig/{{pandaqueue}}.all.json",
        "--storagedata-url",
        f"{live_server.url}/cache/ddmendpoints.json",
        "-g",
        live_server.url,
    ]
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pilot", *argv],
        cwd=access_point,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    attributes = json.loads((access_point / "worker_attributes.json").read_text())
    assert attributes["jobStatus"] == "finished"
    assert attributes["pilotErrorCode"] == 0
    assert "xml" not in attributes
    [(panda_id, files)] = json.loads((access_point / "event_status.dump.json").read_text()).items()
    assert panda_id == str(job.pandaid)
    by_type = {f["type"]: f for f in files}
    out_lfn = definition["outFiles"].split(",")[0]
    assert by_type["output"]["path"] == str(access_point / out_lfn)
    assert by_type["output"]["chksum"] == adler32_of((access_point / out_lfn).read_bytes())
    assert by_type["log"]["path"] == str(access_point / definition["logFile"])
    lines = (access_point / "output.list").read_text().splitlines()
    assert lines[0].startswith(f"{out_lfn} file://localhost")
    assert ":checksumtype=adler32:checksumvalue=" in lines[0]
    assert json.loads((access_point / "jobReport.json").read_text())["exitMsg"] == "OK"
    assert (access_point / "kill_worker").exists()
    assert not (access_point / "HPCJobs.json").exists()
    assert (access_point / "job_definition.json").exists()
    assert job_status(job) == "sent"  # the pilot never called the server: Harvester reports for it
    assert Job.objects.get(pandaid=job.pandaid).piloterrorcode == 0
