"""Failed jobs: the pilot reports them with pilot 3's error codes and the Adder fails them."""

import pytest
from django.conf import settings

from apps.jobs.models import FileType, JobFile, JobMetadata, JobText
from apps.jobs.services.adder import adder_run
from tests.e2e.pilot_support import install_trf, make_job, make_site, output_path

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pilot_site(live_server, tmp_path):
    install_trf(settings.PANDA_TRF_DIR)
    return make_site(tmp_path, live_server.url)


@pytest.mark.parametrize(("exit_code", "pilot_error"), [(7, 1305), (3, 1368)])
def test_a_payload_that_exits_non_zero_fails_with_the_mapped_error(pilot_site, exit_code, pilot_error):
    job = make_job(pilot_site, exit_code=exit_code)
    result = pilot_site.run()
    assert result.returncode == 0, result.stdout
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == pilot_error
    assert job.transexitcode == str(exit_code)
    pilot_log = JobText.objects.get(job_id=job.pandaid, kind=JobText.Kind.PILOT_LOG).text
    assert f"payload of job {job.pandaid} ended: exit code {exit_code}" in pilot_log
    assert '"exitMsg": "OK"' in JobMetadata.objects.get(job_id=job.pandaid).metadata
    adder_run()
    job.refresh_from_db()
    assert job.jobstatus == "failed"
    log = JobFile.objects.get(job=job, type=FileType.LOG)
    assert log.status == "ready"
    assert output_path(pilot_site, log).exists()
    output = JobFile.objects.get(job=job, type=FileType.OUTPUT)
    assert not output_path(pilot_site, output).exists()


def test_a_missing_input_file_fails_the_job_with_1331_before_the_payload_runs(pilot_site):
    job = make_job(pilot_site, place_inputs=False)
    result = pilot_site.run()
    assert result.returncode == 0, result.stdout
    job.refresh_from_db()
    assert job.jobstatus == "holding"
    assert job.piloterrorcode == 1331
    assert "Input file is missing in storage element" in job.piloterrordiag
    assert job.transexitcode in (None, "0", "")
    adder_run()
    job.refresh_from_db()
    assert job.jobstatus == "failed"


def test_an_input_checksum_mismatch_fails_the_job_with_1171(pilot_site):
    job = make_job(pilot_site, corrupt=True)
    result = pilot_site.run()
    assert result.returncode == 0, result.stdout
    job.refresh_from_db()
    assert job.piloterrorcode == 1171
    assert job.piloterrordiag.startswith("adler32 mismatch on input file")


def test_a_transformation_outside_the_allowed_base_urls_is_1149(pilot_site):
    job = make_job(pilot_site)
    result = pilot_site.run("-g", "https://somewhere.else/trf/")
    assert result.returncode == 0, result.stdout
    job.refresh_from_db()
    assert job.piloterrorcode == 1149


def test_no_job_for_the_queue_exits_82_and_no_credential_exits_68(pilot_site):
    result = pilot_site.run()
    assert result.returncode == 82, result.stdout
    env = pilot_site.env()
    del env["OIDC_AUTH_TOKEN"]
    env["X509_USER_PROXY"] = "/nonexistent/proxy"
    result = pilot_site.run(env=env)
    assert result.returncode == 68
    assert "no credential" in result.stdout


def test_an_unknown_queue_exits_with_queuedata_errors(pilot_site, live_server):
    pilot_site.queue = "NO_SUCH_QUEUE"
    result = pilot_site.run()
    assert result.returncode == 72, result.stdout  # 1117 QUEUEDATANOTOK: the server answers {"error": ...}
