"""The task page, its live summary fragment, status log, and the plots of a task."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.brokerage.models import BrokerageDecision
from apps.core.timeutil import utcnow
from apps.jedi.models import DatasetType, TaskStatusLog
from apps.jedi.services.throttle import forget_throttle_counts
from apps.jedi.states import TaskStatus
from apps.jobs.states import JobStatus
from apps.monitor.selectors.task_detail import task_params_humanized
from apps.monitor.selectors.task_plots import task_consumption, task_progress
from tests.factories import JobFactory
from tests.jedi_factories import TaskDatasetFactory, TaskFactory

pytestmark = pytest.mark.django_db


def finished_job(task, *, minutes: int, cpu: int, maxpss: int, **fields):
    start = utcnow() - dt.timedelta(hours=2)
    return JobFactory(
        jeditaskid=task.jeditaskid,
        jobstatus=JobStatus.FINISHED,
        starttime=start,
        endtime=start + dt.timedelta(minutes=minutes),
        cpuconsumptiontime=cpu,
        maxpss=maxpss,
        corecount=1,
        **fields,
    )


@pytest.fixture
def running_task():
    task = TaskFactory(status=TaskStatus.RUNNING, username="Jane Doe")
    TaskDatasetFactory(
        task=task, datasetname="mc23:mc23.EVNT.e1", nfiles=10, nfilestobeused=10, nfilesfinished=4, nfilesfailed=1
    )
    TaskDatasetFactory(task=task, datasetname="user.jdoe.out/", type=DatasetType.OUTPUT, streamname="OUTPUT0")
    finished_job(task, minutes=60, cpu=1800, maxpss=2_048_000, specialhandling="sj")
    finished_job(task, minutes=30, cpu=1800, maxpss=1_024_000)
    JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.RUNNING, computingsite="QUEUE_A")
    JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.FAILED, piloterrorcode=1150)
    return task


def test_the_task_page_shows_parameters_datasets_job_summary_scouts_and_plots(client, running_task):
    response = client.get(f"/task/{running_task.jeditaskid}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<strong>{running_task.taskname}</strong>" in html
    assert 'owner <a href="/user/Jane%20Doe/">Jane Doe</a>' in html
    assert "mc23:mc23.EVNT.e1" in html and "40.0" in html  # 4 of 10 files done
    assert f"/jobs/?jeditaskid={running_task.jeditaskid}&amp;jobstatus=failed" in html
    assert 'data-testid="task-scouts"' in html
    assert html.count("<svg") == 5
    assert "N files per job" in html
    assert f'data-live-url="/getjobsummaryfortask/{running_task.jeditaskid}/?json"' in html
    assert "monitor/live.js" in html


def test_the_task_json_carries_the_legacy_keys(client, running_task):
    data = client.get(f"/task/{running_task.jeditaskid}/?json").json()
    assert {"task", "taskparams", "datasets"} <= set(data)
    assert data["task"]["jeditaskid"] == running_task.jeditaskid
    assert data["task"]["status"] == "running"
    assert data["taskparams"]["taskName"] == running_task.taskname
    input_ds = next(ds for ds in data["datasets"] if ds["type"] == "input")
    assert (input_ds["nfiles"], input_ds["nfilesfinished"], input_ds["nfilesfailed"], input_ds["percent_done"]) == (
        10,
        4,
        1,
        40.0,
    )
    assert {row["jobstatus"]: row["count"] for row in data["jobsummary"]} == {
        "running": 1,
        "finished": 2,
        "failed": 1,
    }
    assert [scout["jobstatus"] for scout in data["scouts"]] == ["finished"]
    assert data["plots"]["consumption_summary"]["njobs"] == 2
    assert sum(b["count"] for b in data["plots"]["histograms"]["duration"]) == 2


def test_task_query_by_id_and_by_name(client, running_task):
    response = client.get(f"/task?jeditaskid={running_task.jeditaskid}")
    assert response.status_code == 302 and response["Location"] == f"/task/{running_task.jeditaskid}/"
    response = client.get("/task/", {"taskname": running_task.taskname})
    assert response["Location"] == f"/task/{running_task.jeditaskid}/"
    data = client.get("/task/", {"taskname": running_task.taskname, "json": ""}).json()
    assert data["task"]["jeditaskid"] == running_task.jeditaskid


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 400), ("?jeditaskid=x", 400), ("?taskname=no.such.task", 404), ("?jeditaskid=999999", 302)],
)
def test_task_query_refuses_bad_input(client, query, status):
    assert client.get(f"/task/{query}").status_code == status


def test_an_unknown_task_is_a_404(client):
    assert client.get("/task/999999/").status_code == 404
    assert client.get("/task/999999/?json").json() == {"error": "task 999999 not found"}
    assert client.get("/getjobsummaryfortask/999999/?json").status_code == 404


def test_the_live_fragment_url_returns_the_summary_and_says_when_to_stop(client, running_task):
    data = client.get(f"/getjobsummaryfortask/{running_task.jeditaskid}/?json").json()
    assert data["final"] is False
    assert {row["jobstatus"]: row["count"] for row in data["jobsummary"]}["running"] == 1
    assert 'data-testid="task-jobsummary"' in data["fragment"]
    assert f"/jobs/?jeditaskid={running_task.jeditaskid}&amp;jobstatus=running" in data["fragment"]
    running_task.status = TaskStatus.DONE
    running_task.save()
    data = client.get(f"/getjobsummaryfortask/{running_task.jeditaskid}/?json").json()
    assert data["final"] is True and data["status"] == "done"
    assert client.get(f"/getjobsummaryfortask/{running_task.jeditaskid}/").status_code == 200


def test_a_final_task_page_does_not_refresh_itself(client):
    task = TaskFactory(status=TaskStatus.DONE)
    html = client.get(f"/task/{task.jeditaskid}/").content.decode()
    assert "data-live-url" not in html and "live.js" not in html


def test_the_task_status_log_page_lists_changes(client, running_task):
    TaskStatusLog.objects.create(
        jeditaskid=running_task.jeditaskid, oldstatus="ready", status="running", reason="avalanche"
    )
    rows = client.get(f"/taskstatuslog/{running_task.jeditaskid}/?json").json()
    assert rows[-1]["status"] == "running" and rows[-1]["reason"] == "avalanche"
    assert client.get(f"/taskstatuslog/{running_task.jeditaskid}/").status_code == 200
    assert client.get("/taskstatuslog/999999/").status_code == 404


def test_the_task_page_shows_brokerage_decisions(client, running_task):
    BrokerageDecision.objects.create(
        jeditaskid=running_task.jeditaskid,
        chosen=[{"queue": "QUEUE_A", "weight": 0.7}],
        rejected={"QUEUE_B": "maxrss: 2000 < 4000"},
        summary="1 of 2 queues kept",
    )
    html = client.get(f"/task/{running_task.jeditaskid}/").content.decode()
    assert "1 of 2 queues kept" in html and "QUEUE_B (maxrss: 2000 &lt; 4000)" in html


def test_progress_counts_finished_and_failed_jobs_cumulatively():
    t0 = utcnow().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)
    task = TaskFactory(status=TaskStatus.RUNNING, creationdate=t0 - dt.timedelta(hours=1))
    for offset, state in ((0, "finished"), (1, "finished"), (1, "finished"), (2, "failed")):
        JobFactory(jeditaskid=task.jeditaskid, jobstatus=state, endtime=t0 + dt.timedelta(hours=offset, minutes=5))
    # A job that failed before it started has no endtime: its last modification counts.
    JobFactory(jeditaskid=task.jeditaskid, jobstatus="failed", modificationtime=t0 + dt.timedelta(hours=2))
    JobFactory(jeditaskid=task.jeditaskid, jobstatus="running", endtime=None)
    progress = task_progress(task)
    assert progress["finished"] == [(t0, 1), (t0 + dt.timedelta(hours=1), 3)]
    assert progress["failed"] == [(t0 + dt.timedelta(hours=2), 2)]


def test_consumption_values_are_minutes_megabytes_and_percent(running_task):
    data = task_consumption(running_task.jeditaskid)
    assert sorted(data["duration"]) == [30.0, 60.0]
    assert sorted(data["maxpss"]) == [1000.0, 2000.0]
    assert sorted(data["cpu_efficiency"]) == [50.0, 100.0]
    assert data["summary"]["max_duration"] == 3600.0


def test_parameters_are_humanized():
    rows = dict(
        task_params_humanized(
            {
                "nFilesPerJob": 2,
                "noBuild": True,
                "jobParameters": [{"type": "constant", "value": "--events 10"}],
                "log": {"value": "x.log.tgz", "dataset": "user.x.log/", "param_type": "log"},
            }
        )
    )
    assert rows["N files per job"] == "2"
    assert rows["No build"] == "yes"
    assert rows["Job parameters"] == "--events 10"
    assert rows["Log"] == "x.log.tgz   [log: user.x.log/]"


def test_the_task_page_does_a_fixed_number_of_queries_whatever_the_number_of_jobs(client):
    counts = []
    for n in (1, 15):
        task = TaskFactory(status=TaskStatus.RUNNING)
        TaskDatasetFactory(task=task, nfiles=n, nfilestobeused=n)
        for i in range(n):
            finished_job(task, minutes=10 + i, cpu=300, maxpss=1000 * (i + 1), specialhandling="sj")
            JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.ACTIVATED, computingsite=f"QUEUE_{i}")
        forget_throttle_counts()  # the throttler keeps its counts per process for a few seconds
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/task/{task.jeditaskid}/?json").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 30


# --- the tasks list ------------------------------------------------------------------------------------


def test_the_tasks_list_shows_matching_tasks_with_input_progress_and_facets(client, running_task):
    TaskFactory(status=TaskStatus.DONE, username="Other User")
    response = client.get("/tasks/", {"status": "running"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/task/{running_task.jeditaskid}/"' in html
    assert "4 / 10" in html and "(1 failed)" in html
    assert "status=running" in html  # the selection echo
    assert 'data-facet="username"' in html
    assert "/tasks/?status=running&amp;username=Jane+Doe" in html


def test_the_tasks_json_has_the_selection_summary_and_every_column(client, running_task):
    TaskFactory(status=TaskStatus.DONE, username="Other User")
    data = client.get("/tasks/", {"json": "", "username": "Jane Doe"}).json()
    assert [task["jeditaskid"] for task in data["tasks"]] == [running_task.jeditaskid]
    assert {"taskname", "status", "splitrule", "gshare"} <= set(data["tasks"][0])
    status_facet = next(item for item in data["selectionsummary"] if item["field"] == "status")
    assert status_facet["list"] == [{"kname": "running", "kvalue": 1}]
    assert data["selection"]["username"] == "Jane Doe"
    project_facet = next(item for item in data["selectionsummary"] if item["field"] == "project")
    assert project_facet["list"] == [{"kname": "user", "kvalue": 1}]
    projected = client.get("/tasks/", {"json": "", "fields": "jeditaskid,status"}).json()["tasks"]
    assert all(set(row) == {"jeditaskid", "status"} for row in projected)


def test_the_stream_and_tag_facets_read_the_taskname_and_each_link_finds_its_tasks(client):
    data_task = TaskFactory(taskname="data23_13p6TeV.00451234.physics_Main.merge.AOD.f1380_m2188")
    mc_task = TaskFactory(taskname="mc23_13p6TeV.601229.PhPy8EG_ttbar.simul.HITS.e8514_s4162")
    TaskFactory(taskname="no-dots-at-all")

    data = client.get("/tasks/", {"json": ""}).json()
    summary = {item["field"]: {v["kname"]: v["kvalue"] for v in item["list"]} for item in data["selectionsummary"]}
    html = client.get("/tasks/").content.decode()

    assert summary["stream"] == {"PhPy8EG_ttbar": 1, "physics_Main": 1}
    assert summary["tag"] == {"e8514_s4162": 1, "f1380_m2188": 1}
    assert summary["project"] == {"data23_13p6TeV": 1, "mc23_13p6TeV": 1}  # a name without the part is not listed
    assert 'href="/tasks/?stream=physics_Main"' in html and 'href="/tasks/?tag=e8514_s4162"' in html
    for key, value, task in (("stream", "physics_Main", data_task), ("tag", "e8514_s4162", mc_task)):
        found = client.get("/tasks/", {"json": "", key: value}).json()["tasks"]
        assert [row["jeditaskid"] for row in found] == [task.jeditaskid]


def test_user_is_the_legacy_name_of_the_username_filter(client):
    mine = TaskFactory(username="jdoe")
    TaskFactory(username="someone else")

    data = client.get("/tasks/", {"json": "", "user": "jdoe"}).json()

    assert [row["jeditaskid"] for row in data["tasks"]] == [mine.jeditaskid]
    assert data["selection"]["user"] == "jdoe"


@pytest.mark.parametrize("query", ["bogus=1", "jeditaskid=abc", "status=", "outputs=nothing", "user=!"])
def test_the_tasks_list_refuses_bad_filters(client, query):
    response = client.get(f"/tasks/?{query}&json")
    assert response.status_code == 400
    assert response.json()["error"]


def test_the_tasks_list_does_a_fixed_number_of_queries(client):
    counts = []
    for n in (1, 12):
        for _ in range(n):
            task = TaskFactory(status=TaskStatus.RUNNING)
            TaskDatasetFactory(task=task, nfiles=3)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/tasks/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_anonymous_callers_are_refused_when_anonymous_read_is_off(client, settings, running_task):
    settings.PANDA_MONITOR_ANONYMOUS_READ = False
    for url in (f"/task/{running_task.jeditaskid}/", "/tasks/", f"/getjobsummaryfortask/{running_task.jeditaskid}/"):
        response = client.get(url, {"json": ""})
        assert response.status_code == 403, url
        assert "anonymous read is disabled" in response.json()["error"]
