"""Query-count baselines of the monitor's main pages (issue 7, "Speed"): a page showing 50 rows costs exactly
as many queries as the same page showing 5, so a per-row query (an N+1) fails here.

Each test builds a few rows of every kind the page lists (distinct queues, users, tasks and error codes,
so that facets and breakdowns have one group per row), counts the queries of one request, adds many more
rows and counts again; it also checks that the second answer really shows the rows added last.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.timeutil import utcnow
from apps.jedi.models import DatasetType, JobRetryHistory, TaskStatusLog
from apps.jedi.states import TaskStatus
from apps.jobs.models import JobStatusLog
from apps.jobs.services.job_errors import job_errors_record_many
from apps.jobs.states import JobStatus
from apps.workers.models import JobWorker, Worker
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, job_with_files
from tests.jedi_factories import TaskDatasetFactory, TaskFactory

pytestmark = pytest.mark.django_db

FEW, MANY = 5, 50


def queries_of(client, url: str) -> tuple[int, str]:
    """(number of queries, body) of one GET of ``url``, which must answer 200."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured), response.content.decode()


def failed_jobs(first: int, last: int) -> list:
    """Failed jobs numbered first .. last - 1, each on its own queue, of its own user and task, with its own code."""
    jobs = [
        JobFactory(
            jobstatus=JobStatus.FAILED,
            computingsite=f"Q{n:03d}",
            produsername=f"user{n:03d}",
            jeditaskid=100_000 + n,
            piloterrorcode=1000 + n,
            piloterrordiag=f"diag {n}",
            modificationtime=utcnow() - dt.timedelta(minutes=n + 1),
        )
        for n in range(first, last)
    ]
    job_errors_record_many(job.pandaid for job in jobs)
    return jobs


def assert_flat(client, url: str, grow, shown) -> None:
    """``grow(first, last)`` adds rows; the page costs the same with FEW and with MANY of them."""
    grow(0, FEW)
    few, _ = queries_of(client, url)
    grow(FEW, MANY)
    many, body = queries_of(client, url)
    assert shown(MANY - 1) in body
    assert many == few, f"{url}: {few} queries for {FEW} rows, {many} for {MANY}"


def test_the_jobs_list_costs_as_many_queries_for_50_jobs_as_for_5(client):
    assert_flat(client, "/jobs/?hours=12", failed_jobs, lambda n: f"Q{n:03d}")


def test_the_jobs_list_json_costs_as_many_queries_for_50_jobs_as_for_5(client):
    assert_flat(client, "/jobs/?hours=12&json", failed_jobs, lambda n: f'"user{n:03d}"')


def test_the_job_page_costs_as_many_queries_for_50_files_status_changes_and_retries_as_for_5(client):
    counts = []
    for n in (FEW, MANY):
        job = job_with_files(n_inputs=n, jobstatus=JobStatus.FAILED, piloterrorcode=1150, jeditaskid=77)
        JobStatusLog.objects.bulk_create(
            JobStatusLog(pandaid=job.pandaid, oldstatus="running", jobstatus="running", reason=f"step {i}")
            for i in range(n)
        )
        retries = [JobFactory(jeditaskid=77, jobstatus=JobStatus.FAILED) for _ in range(n)]
        chain = [job, *retries]
        JobRetryHistory.objects.bulk_create(
            JobRetryHistory(jeditaskid=77, oldpandaid=old.pandaid, newpandaid=new.pandaid, originpandaid=job.pandaid)
            for old, new in zip(chain, chain[1:], strict=False)
        )
        count, body = queries_of(client, f"/job/{job.pandaid}/")
        assert f"EVNT.{job.pandaid}._{n - 1:06d}.pool.root.1" in body
        assert f'href="/job/{retries[-1].pandaid}/"' in body
        counts.append(count)
    assert counts[0] == counts[1], f"job page: {counts[0]} queries for {FEW} files, {counts[1]} for {MANY}"


def test_the_tasks_list_costs_as_many_queries_for_50_tasks_as_for_5(client):
    def grow(first, last):
        for n in range(first, last):
            TaskFactory(taskname=f"user.jdoe.count{n:03d}/", username=f"user{n:03d}", status=TaskStatus.RUNNING)

    assert_flat(client, "/tasks/", grow, lambda n: f"user.jdoe.count{n:03d}/")


def test_the_task_page_costs_as_many_queries_for_50_jobs_datasets_and_log_rows_as_for_5(client):
    task = TaskFactory(status=TaskStatus.RUNNING)
    start = utcnow() - dt.timedelta(hours=3)

    def grow(first, last):
        states = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.RUNNING, JobStatus.ACTIVATED)
        for n in range(first, last):
            job = JobFactory(
                jeditaskid=task.jeditaskid,
                jobstatus=states[n % len(states)],
                computingsite=f"Q{n:03d}",
                specialhandling="sj" if n % 2 else "",
                starttime=start,
                endtime=start + dt.timedelta(minutes=n + 1),
                cpuconsumptiontime=60 * n,
                maxpss=1_000_000 + n,
            )
            JobStatusLog.objects.create(pandaid=job.pandaid, oldstatus="running", jobstatus=job.jobstatus)
            TaskDatasetFactory(task=task, datasetname=f"mc23:mc23.count.{n:03d}", type=DatasetType.OUTPUT, nfiles=n)
            TaskStatusLog.objects.create(jeditaskid=task.jeditaskid, oldstatus="ready", status="running")

    assert_flat(client, f"/task/{task.jeditaskid}/", grow, lambda n: f"mc23:mc23.count.{n:03d}")


def test_the_error_summary_costs_as_many_queries_for_50_failures_as_for_5(client):
    def grow(first, last):
        failed_jobs(first, last)
        for n in range(first, last):
            TaskFactory(jeditaskid=100_000 + n, taskname=f"user.jdoe.failing{n:03d}/")

    assert_flat(client, "/errors/?hours=12", grow, lambda n: f"user.jdoe.failing{n:03d}/")


def test_the_queue_dashboard_costs_as_many_queries_for_50_queues_as_for_5(client):
    def grow(first, last):
        for n in range(first, last):
            queue = PandaQueueFactory(name=f"Q{n:03d}", site=SiteFactory(name=f"SITE{n:03d}"))
            JobFactory(computingsite=queue.name, jobstatus=JobStatus.RUNNING)
            JobFactory(computingsite=queue.name, jobstatus=JobStatus.ACTIVATED)

    assert_flat(client, "/dash/region/", grow, lambda n: f"Q{n:03d}")


def test_the_sites_page_costs_as_many_queries_for_50_queues_as_for_5(client):
    def grow(first, last):
        for n in range(first, last):
            PandaQueueFactory(name=f"Q{n:03d}", site=SiteFactory(name=f"SITE{n:03d}"))

    assert_flat(client, "/sites/", grow, lambda n: f"Q{n:03d}")


def test_a_site_page_costs_as_many_queries_for_50_queues_as_for_5(client):
    site = SiteFactory(name="BIG-SITE")

    def grow(first, last):
        for n in range(first, last):
            queue = PandaQueueFactory(name=f"Q{n:03d}", site=site)
            JobFactory(computingsite=queue.name, jobstatus=JobStatus.RUNNING)

    assert_flat(client, "/site/BIG-SITE/", grow, lambda n: f"Q{n:03d}")


def test_a_queue_page_costs_as_many_queries_for_50_jobs_as_for_5(client):
    PandaQueueFactory(name="BUSY_Q")

    def grow(first, last):
        for n in range(first, last):
            JobFactory(computingsite="BUSY_Q", jobstatus=(JobStatus.RUNNING, JobStatus.FAILED)[n % 2])

    assert_flat(client, "/site/BUSY_Q/?json", grow, lambda n: '"running": 25')


def test_the_harvester_workers_page_costs_as_many_queries_for_50_workers_as_for_5(client):
    moment = utcnow() - dt.timedelta(hours=1)

    def grow(first, last):
        for n in range(first, last):
            Worker.objects.create(
                harvesterid="CERN_A",
                workerid=n,
                status="running",
                computingsite=f"Q{n:03d}",
                computingelement=f"ce{n:03d}.cern.ch",
                resourcetype="SCORE",
                jobtype="managed",
                submittime=moment,
                lastupdate=moment,
            )
            job = JobFactory(computingsite=f"Q{n:03d}", jobstatus=JobStatus.RUNNING)
            JobWorker.objects.create(harvesterid="CERN_A", workerid=n, pandaid=job.pandaid)

    assert_flat(client, "/harvester/workers/?harvesterid=CERN_A", grow, lambda n: f"ce{n:03d}.cern.ch")


def test_the_users_page_costs_as_many_queries_for_50_users_as_for_5(client):
    def grow(first, last):
        failed_jobs(first, last)
        for n in range(first, last):
            TaskFactory(username=f"user{n:03d}", status=TaskStatus.RUNNING)

    assert_flat(client, "/users/", grow, lambda n: f"user{n:03d}")


def test_a_user_page_costs_as_many_queries_for_50_tasks_and_jobs_as_for_5(client):
    def grow(first, last):
        jobs = []
        for n in range(first, last):
            TaskFactory(taskname=f"user.jdoe.mine{n:03d}/", username="Jane Doe", status=TaskStatus.RUNNING)
            jobs.append(
                JobFactory(
                    produsername="Jane Doe",
                    jeditaskid=200_000 + n,
                    jobstatus=JobStatus.FAILED,
                    computingsite=f"Q{n:03d}",
                    piloterrorcode=1000 + n,
                    modificationtime=utcnow() - dt.timedelta(minutes=n + 1),
                )
            )
        job_errors_record_many(job.pandaid for job in jobs)

    assert_flat(client, "/user/Jane%20Doe/", grow, lambda n: f"user.jdoe.mine{n:03d}/")
