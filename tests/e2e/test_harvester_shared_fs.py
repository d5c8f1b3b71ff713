"""Harvester for a resource without outbound network: the pilot runs with ``-z`` (no server access at
all) and Harvester carries the job in and every update, the outputs and the job report out."""

import json
from pathlib import Path

import pytest

from apps.jobs.models import FileType, Job, JobFile, JobMetadata, JobStatusLog
from apps.workers.models import Worker
from tests.e2e.harvester_support import (
    HARVESTER_ID,
    HarvesterProcess,
    kill_leftover_workers,
    live_workers,
    run_until_jobs_final,
    store_of,
    write_config,
)
from tests.e2e.pilot_support import make_job, output_path, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def run_harvester(tmp_path, site, pandaids, **queue):
    config_path = write_config(
        tmp_path, site, mode="SHARED_FS", maxWorkers=1, nQueueLimitWorker=1, nQueueLimitJob=1, **queue
    )
    harvester = HarvesterProcess(config_path, tmp_path / "harvester.log")
    try:
        harvester.start()
        run_until_jobs_final(pandaids, timeout=300, log=harvester.log)
        wait_until(lambda: live_workers(config_path) == 0, timeout=120, what="workers to end", output=harvester.log)
        store = store_of(config_path)
        workers = store.workers(with_jobs=True)
        store.close()
    finally:
        harvester.stop()
        kill_leftover_workers(config_path)
    return workers, harvester


def test_a_pilot_without_server_access_runs_its_jobs_and_harvester_registers_the_outputs(site, tmp_path):
    jobs = [make_job(site, n_inputs=1, n_outputs=1) for _ in range(2)]
    pandaids = [job.pandaid for job in jobs]

    workers, harvester = run_harvester(tmp_path, site, pandaids)

    assert set(Job.objects.filter(pandaid__in=pandaids).values_list("jobstatus", flat=True)) == {"finished"}, (
        harvester.log()
    )
    for job in Job.objects.filter(pandaid__in=pandaids):
        # the states went through Harvester's bulk updates: starting/running, then the final one
        states = list(JobStatusLog.objects.filter(pandaid=job.pandaid).values_list("jobstatus", flat=True))
        assert "holding" in states and states[-1] == "finished"
        output = JobFile.objects.get(job=job, type=FileType.OUTPUT)
        assert output.status == "ready" and output.guid and output.fsize and output.checksum.startswith("ad:")
        assert output_path(site, output).read_bytes().endswith(f"produced by {job.pandaid}\n".encode())
        assert JobFile.objects.get(job=job, type=FileType.LOG).status == "ready"
        assert json.loads(JobMetadata.objects.get(job=job).metadata)["exitMsg"] == "OK"  # jobReport.json
    for worker in workers:
        pilot_args = (Path(worker.access_point) / "run_pilot.sh").read_text()
        assert " -z " in pilot_args and "--url" not in pilot_args and "OIDC_AUTH_TOKEN" not in pilot_args
        assert (Path(worker.access_point) / "event_status.dump.json.read").exists()
    assert set(Worker.objects.filter(harvesterid=HARVESTER_ID).values_list("status", flat=True)) == {"finished"}


def test_a_failing_payload_without_server_access_fails_its_job_with_the_pilots_error(site, tmp_path):
    job = make_job(site, n_inputs=0, n_outputs=1, exit_code=3)

    run_harvester(tmp_path, site, [job.pandaid])

    job.refresh_from_db()
    assert job.jobstatus == "failed"
    assert job.transexitcode == "3"
    assert job.piloterrorcode == 1368  # what the pilot reports for a plain exit 3 (pilot-harvester.md §8.1)
