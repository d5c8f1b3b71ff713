import datetime as dt

import pytest

from apps.core.timeutil import utcnow
from apps.jobs.selectors.status import job_statuses, job_statuses_with_command
from apps.jobs.states import ACTIVE_GROUP, ARCHIVED_GROUP, DEFINED_GROUP
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", sorted(ACTIVE_GROUP | ARCHIVED_GROUP))
def test_get_status_sees_active_and_archived_jobs(status):
    job = JobFactory(jobstatus=status, attemptnr=3)

    assert job_statuses(pandaids=[job.pandaid]) == [(status, 3)]


@pytest.mark.parametrize("status", sorted(DEFINED_GROUP))
def test_get_status_does_not_look_at_the_defined_group(status):
    job = JobFactory(jobstatus=status)

    assert job_statuses(pandaids=[job.pandaid]) == [None]


def test_get_status_keeps_the_requested_order_and_duplicates():
    first = JobFactory(jobstatus="running", attemptnr=1)
    second = JobFactory(jobstatus="finished", attemptnr=2)

    assert job_statuses(pandaids=[second.pandaid, 123456789, first.pandaid, second.pandaid]) == [
        ("finished", 2),
        None,
        ("running", 1),
        ("finished", 2),
    ]


def test_get_status_of_nothing_is_nothing():
    assert job_statuses(pandaids=[]) == []


@pytest.mark.parametrize("status", sorted(ACTIVE_GROUP))
def test_check_status_reports_active_jobs_with_their_command(status):
    job = JobFactory(jobstatus=status, commandtopilot="tobekilled", modificationtime=dt.datetime(2000, 1, 1))

    assert job_statuses_with_command(pandaids=[job.pandaid]) == [{"status": status, "command": "tobekilled"}]


@pytest.mark.parametrize("status", sorted(ARCHIVED_GROUP))
def test_check_status_reports_archived_jobs_modified_within_the_last_hour(status):
    recent = JobFactory(jobstatus=status, modificationtime=utcnow() - dt.timedelta(minutes=50))
    old = JobFactory(jobstatus=status, modificationtime=utcnow() - dt.timedelta(minutes=70))

    assert job_statuses_with_command(pandaids=[recent.pandaid, old.pandaid]) == [
        {"status": status, "command": None},
        {"status": "unknown", "command": "tobekilled"},
    ]


@pytest.mark.parametrize("status", sorted(DEFINED_GROUP))
def test_check_status_reports_defined_and_unknown_jobs_as_unknown_tobekilled(status):
    job = JobFactory(jobstatus=status)

    assert job_statuses_with_command(pandaids=[job.pandaid, 99999999]) == [
        {"status": "unknown", "command": "tobekilled"},
        {"status": "unknown", "command": "tobekilled"},
    ]


def test_status_lookups_cost_one_statement(django_assert_num_queries):
    jobs = [JobFactory(jobstatus="running") for _ in range(5)]

    with django_assert_num_queries(1):
        job_statuses(pandaids=[job.pandaid for job in jobs])
    with django_assert_num_queries(1):
        job_statuses_with_command(pandaids=[job.pandaid for job in jobs])
