"""The task profile pages: jobs and events a task completed over time, as a page and as JSON."""

import datetime as dt

import pytest

from apps.core.timeutil import utcnow
from apps.jedi.states import TaskStatus
from apps.jobs.states import JobStatus
from apps.monitor.selectors.task_profile import task_profile
from tests.factories import JobFactory
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hour_zero():
    return utcnow().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)


@pytest.fixture
def task(hour_zero):
    task = TaskFactory(status=TaskStatus.RUNNING, creationdate=hour_zero - dt.timedelta(hours=1))
    for offset, state, nevents in ((0, "finished", 100), (1, "finished", 50), (1, "finished", 0), (2, "failed", 7)):
        JobFactory(
            jeditaskid=task.jeditaskid,
            jobstatus=state,
            nevents=nevents,
            endtime=hour_zero + dt.timedelta(hours=offset, minutes=5),
        )
    JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.RUNNING, nevents=1000)
    return task


def test_the_profile_accumulates_ended_jobs_and_the_events_of_finished_ones(task, hour_zero):
    profile = task_profile(task)

    assert profile["jobs"]["finished"] == [(hour_zero, 1), (hour_zero + dt.timedelta(hours=1), 3)]
    assert profile["jobs"]["failed"] == [(hour_zero + dt.timedelta(hours=2), 1)]
    assert profile["events"] == {"finished": [(hour_zero, 100), (hour_zero + dt.timedelta(hours=1), 150)]}


def test_the_profile_page_plots_both_series_and_lists_their_points(client, task):
    response = client.get(f"/taskprofile/{task.jeditaskid}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<svg") == 2
    assert f'href="/task/{task.jeditaskid}/"' in html
    assert "<td>events finished</td>" in html and "<td>150</td>" in html


def test_the_profile_data_url_and_the_page_json_carry_the_same_series(client, task):
    data = client.get(f"/taskprofiledata/{task.jeditaskid}/").json()

    assert data == client.get(f"/taskprofile/{task.jeditaskid}/", {"json": ""}).json()
    assert data["jeditaskid"] == task.jeditaskid and data["status"] == TaskStatus.RUNNING
    assert [point["count"] for point in data["jobs"]["finished"]] == [1, 3]
    assert [point["count"] for point in data["events"]["finished"]] == [100, 150]


def test_a_task_with_no_ended_job_has_an_empty_profile(client):
    task = TaskFactory(status=TaskStatus.READY)

    data = client.get(f"/taskprofiledata/{task.jeditaskid}/").json()
    html = client.get(f"/taskprofile/{task.jeditaskid}/").content.decode()

    assert data["jobs"] == {} and data["events"] == {}
    assert "No job of this task has ended yet." in html


@pytest.mark.parametrize("url", ["/taskprofile/999999/", "/taskprofiledata/999999/"])
def test_an_unknown_task_is_a_404(client, url):
    assert client.get(url, {"json": ""}).status_code == 404


def test_the_profile_is_refused_to_anonymous_callers_when_anonymous_read_is_off(client, settings, task):
    settings.PANDA_MONITOR_ANONYMOUS_READ = False

    assert client.get(f"/taskprofiledata/{task.jeditaskid}/").status_code == 403
