"""Our pilot, run as a subprocess, against the real server (live_server): the normal job paths."""

import json
import tarfile

import pytest
from django.conf import settings

from apps.jobs.models import FileType, JobFile, JobOutputReport
from apps.jobs.services.adder import adder_run
from tests.e2e.pilot_support import install_trf, make_job, make_site, output_path

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pilot_site(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    return make_site(tmp_path, live_server.url)


@pytest.mark.parametrize("api", ["v1", "legacy"])
def test_a_job_with_an_input_and_an_output_succeeds_and_the_adder_finishes_it(pilot_site, api):
    job = make_job(pilot_site, n_inputs=1, n_outputs=1)
    result = pilot_site.run(api=api)
    assert result.returncode == 0, result.stdout + result.stderr
    job.refresh_from_db()
    assert job.jobstatus == "holding", result.stdout
    assert job.piloterrorcode == 0
    assert job.transexitcode == "0"
    assert job.pilottiming.count("|") == 4
    assert job.modificationhost
    assert job.pilotid.endswith("|PR|3.11.0.1")
    adder_run()
    job.refresh_from_db()
    assert job.jobstatus == "finished"
    output = JobFile.objects.get(job=job, type=FileType.OUTPUT)
    log = JobFile.objects.get(job=job, type=FileType.LOG)
    data = output_path(pilot_site, output).read_bytes()
    assert data.endswith(f"produced by {job.pandaid}\n".encode())
    assert output.fsize == len(data)
    assert output.checksum.startswith("ad:")
    with tarfile.open(output_path(pilot_site, log)) as tar:
        names = tar.getnames()
    top = f"tarball_PandaJob_{job.pandaid}_{pilot_site.queue}"
    assert {f"{top}/pilotlog.txt", f"{top}/payload.stdout", f"{top}/payload.stderr"} <= set(names)


def test_a_curlgetjob_queue_makes_the_legacy_pilot_post_forms(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    pilot_site = make_site(tmp_path, live_server.url, catchall="curlgetjob")
    job = make_job(pilot_site)
    result = pilot_site.run(api="legacy")
    assert result.returncode == 0, result.stdout
    assert "legacy calls are form posts" in result.stdout
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == 0
    report = json.loads(JobOutputReport.objects.get(job=job).data)
    assert set(report) == {f.lfn for f in JobFile.objects.filter(job=job).exclude(type=FileType.INPUT)}
    for entry in report.values():
        assert set(entry) == {"guid", "fsize", "adler32", "surl", "endpoint"}
        assert entry["endpoint"] == pilot_site.endpoint
