"""Many pilots at once against a real server: no job may be handed out twice.

PostgreSQL only: on SQLite Django's live server shares ONE in-memory connection between all its
request threads, so concurrent requests would interleave inside one transaction and the test
would measure the test harness rather than the claim.
"""

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from django.db.models import Count

from apps.jobs.models import Job, JobParameters, JobStatusLog
from apps.jobs.services.dispatch import forget_dispatch_caches
from apps.workers.models import JobWorker
from tests.factories import PandaQueueFactory, production_user, token_for

QUEUE = "QUEUE_CONCURRENT"
N_JOBS = 500
N_PILOTS = 32


def pilot(base_url: str, token: str, index: int) -> list[int]:
    """One pilot/Harvester: ask until the server says there is nothing left."""
    received: list[int] = []
    params = {"siteName": QUEUE, "node": f"wn{index:02d}", "harvester_id": "H1", "worker_id": str(index % 8)}
    # A quarter of the callers behave like pilot 3.11 (one job, flat dict), the rest like Harvester.
    if index % 4:
        params["nJobs"] = str(index % 4 + 1)
    while True:
        request = urllib.request.Request(
            f"{base_url}/server/panda/getJob",
            data=urlencode(params).encode(),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        if answer["StatusCode"] == 20:
            return received
        assert answer["StatusCode"] == 0, answer
        jobs = answer.get("jobs", [answer])
        received.extend(job["PandaID"] for job in jobs)


@pytest.mark.postgres
@pytest.mark.slow
def test_32_concurrent_pilots_dispatch_every_job_exactly_once(live_server, transactional_db):
    forget_dispatch_caches()
    PandaQueueFactory(name=QUEUE, site__name="SITE_CONCURRENT")
    token = token_for(production_user())
    jobs = Job.objects.bulk_create(
        [
            Job(
                computingsite=QUEUE,
                jobstatus="activated",
                prodsourcelabel="managed",
                currentpriority=i % 7,
                jobname=f"job.{i}",
            )
            for i in range(N_JOBS)
        ]
    )
    JobParameters.objects.bulk_create([JobParameters(job=job, jobparameters=f"--n={job.pandaid}") for job in jobs])

    with ThreadPoolExecutor(max_workers=N_PILOTS) as pool:
        results = list(pool.map(lambda i: pilot(live_server.url, token, i), range(N_PILOTS)))

    received = [pandaid for result in results for pandaid in result]
    assert len(received) == N_JOBS
    assert set(received) == {job.pandaid for job in jobs}
    assert Job.objects.filter(computingsite=QUEUE, jobstatus="sent").count() == N_JOBS
    sent_logs = JobStatusLog.objects.filter(oldstatus="activated", jobstatus="sent")
    assert sent_logs.count() == N_JOBS
    assert not sent_logs.values("pandaid").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert JobWorker.objects.count() == N_JOBS
    forget_dispatch_caches()
