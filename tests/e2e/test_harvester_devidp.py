"""The quick start's identity wiring: Harvester obtains its own robot token from the development identity
provider (client-credentials grant over HTTP) and the pilots it starts get jobs with that token."""

import stat

import pytest
from django.conf import settings

from apps.devidp.services.setup import secret_file
from apps.jobs.models import Job
from apps.workers.models import HarvesterInstance
from tests.e2e.devidp_support import token_claims
from tests.e2e.harvester_support import (
    HARVESTER_ID,
    HarvesterProcess,
    kill_leftover_workers,
    run_until_jobs_final,
    write_config,
)
from tests.e2e.pilot_support import install_trf, make_job, make_site

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, tmp_path, devidp):
    install_trf(settings.PANDA_TRF_DIR)
    return make_site(tmp_path, live_server.url)


@pytest.fixture
def harvester(tmp_path, site, devidp):
    token_file = tmp_path / "harvester" / "token"
    config_path = write_config(
        tmp_path,
        site,
        harvester={
            "token_endpoint": f"{devidp.issuer}/token",
            "client_id": "panda-harvester",
            "client_secret_file": str(secret_file("panda-harvester")),
            "token_file": str(token_file),
            "origin": "atlas.production",
        },
        maxWorkers=1,
        nQueueLimitWorker=1,
    )
    process = HarvesterProcess(config_path, tmp_path / "harvester.log")
    yield process
    process.stop()
    kill_leftover_workers(config_path)


def test_harvesters_pilots_get_and_run_jobs_with_its_oidc_robot_token(tmp_path, site, harvester, devidp):
    jobs = [make_job(site, n_inputs=0, n_outputs=1) for _ in range(2)]

    harvester.start()
    run_until_jobs_final([job.pandaid for job in jobs], timeout=200, log=harvester.log)

    assert set(Job.objects.filter(pandaid__in=[j.pandaid for j in jobs]).values_list("jobstatus", flat=True)) == {
        "finished"
    }
    assert HarvesterInstance.objects.filter(harvester_id=HARVESTER_ID).exists()
    token_file = tmp_path / "harvester" / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    claims = token_claims(token_file.read_text().strip())
    assert (claims["iss"], claims["sub"], claims["client_id"]) == (devidp.issuer, "panda-harvester", "panda-harvester")
    assert "token obtained from" in harvester.log()
