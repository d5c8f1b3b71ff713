"""A quick-start demo job, made by demo_jobs on the demo grid, run by our pilot against the live server."""

import zlib

import pytest

from apps.jobs.models import FileType, Job, JobFile, JobStatusLog
from apps.jobs.services.adder import adder_run
from apps.jobs.services.demo import demo_jobs_create
from pilot.info.storage import deterministic_path

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_demo_job_runs_through_a_real_pilot_and_the_adder_finishes_it(demo_site):
    # 20 events: a one-second payload.
    created = demo_jobs_create(queues=["DEMO_QUEUE"], per_queue=1, server_url=demo_site.server_url, max_events=20)
    [pandaid] = created.created["DEMO_QUEUE"]

    result = demo_site.run(timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    job = Job.objects.get(pandaid=pandaid)
    assert (job.jobstatus, job.piloterrorcode, job.transexitcode) == ("holding", 0, "0"), result.stdout
    adder_run()
    job.refresh_from_db()
    assert job.jobstatus == "finished"
    statuses = list(JobStatusLog.objects.filter(pandaid=pandaid).order_by("id").values_list("jobstatus", flat=True))
    assert statuses == ["defined", "activated", "sent", "starting", "running", "holding", "finished"]
    for f in JobFile.objects.filter(job=job).exclude(type=FileType.INPUT):
        data = (demo_site.se_root / deterministic_path(f.scope, f.lfn)).read_bytes()
        assert f.status == "ready"
        assert (f.fsize, f.checksum) == (len(data), f"ad:{zlib.adler32(data) & 0xFFFFFFFF:08x}")
    output = JobFile.objects.get(job=job, type=FileType.OUTPUT)
    assert output.nevents == 20
    hits = (demo_site.se_root / deterministic_path(output.scope, output.lfn)).read_bytes()
    assert hits.startswith(f"demo HITS of PandaID {pandaid}: 20 events from EVNT.".encode())
