"""Golden URLs of the task and job pages: real-world forms answer 200 with the expected selection echo,
in HTML and in JSON, and match the expected tasks."""

import pytest

from apps.jedi.models import JobRetryHistory
from apps.jedi.states import TaskStatus
from apps.jobs.models import JobStatusLog
from apps.jobs.states import JobStatus
from tests.factories import JobFactory, job_with_files
from tests.jedi_factories import TaskDatasetFactory, TaskFactory

pytestmark = pytest.mark.django_db

ACTIVE_WARNING = "not applied to tasks in active states"

# (query string of /tasks/, expected echo, expected task keys matching (None: not checked))
TASK_LIST_URLS = [
    ("", "days=7", {"analysis", "production", "group"}),
    ("status=running", "status=running, days=7", {"analysis"}),
    ("status=running|done", "status=running|done, days=7", {"analysis", "production", "group"}),
    ("status=!done", "status=!done, days=7", {"analysis"}),
    ("username=Jane*", "username=Jane*, days=7", {"analysis"}),
    ("username=prodsys&days=30", "username=prodsys, days=30", {"production"}),
    ("user=Jane Doe", "user=Jane Doe, days=7", {"analysis"}),
    ("username=jane doe", "username=jane doe, days=7", set()),  # exact values are case-sensitive
    ("taskname=user.jdoe*", "taskname=user.jdoe*, days=7", {"analysis"}),
    ("taskname=*EVNT*", "taskname=*EVNT*, days=7", {"analysis", "production"}),
    ("days=3", "days=3", {"analysis", "production", "group"}),
    ("hours=12", "hours=12", {"analysis", "production", "group"}),
    ("category=user analysis", "category=user analysis, days=7", {"analysis"}),
    ("category=production", "category=production, days=7", {"production"}),
    ("category=group production", "category=group production, days=7", {"group"}),
    ("category=production|group production", "category=production|group production, days=7", {"production", "group"}),
    ("project=mc23", "project=mc23, days=7", {"production"}),
    ("tag=_tid001", "tag=_tid001, days=7", {"production"}),
    ("stream=EVNT", "stream=EVNT, days=7", {"analysis", "production"}),
    ("campaign=MC23", "campaign=MC23, days=7", {"production"}),
    ("campaign=MC23:MC23a", "campaign=MC23:MC23a, days=7", {"production"}),
    ("campaign=MC23:MC23", "campaign=MC23:MC23, days=7", set()),
    ("reqid_from=10&reqid_to=13", "reqid_from=10, reqid_to=13, days=7", {"production"}),
    ("reqid=15", "reqid=15, days=7", {"analysis"}),
    ("workinggroup=Not specified", "workinggroup=Not specified, days=7", {"analysis"}),
    ("workinggroup=*", "workinggroup=*, days=7", {"production", "group"}),
    ("tasktype=prod&status=done", "status=done, tasktype=prod, days=7", {"production", "group"}),
    ("currentpriority=900", "currentpriority=900, days=7", {"production"}),
    ("gshare=User Analysis", "gshare=User Analysis, days=7", {"analysis"}),
    ("sortby=priority-descending", "days=7, sortby=priority-descending", None),
    ("sortby=create-ascending&display_limit=1", "days=7, display_limit=1, sortby=create-ascending", None),
    ("limit=2", "days=7, limit=2", None),
    ("earlierthan=1", "earlierthan=1", set()),
    ("status=running&timestamp=1700000000", "status=running, days=7", {"analysis"}),
]


@pytest.fixture
def world():
    tasks = {
        "analysis": TaskFactory(
            taskname="user.jdoe.EVNT.test/", status=TaskStatus.RUNNING, username="Jane Doe", reqid=15
        ),
        "production": TaskFactory(
            taskname="mc23.801234.EVNT.e8514_tid001",
            status=TaskStatus.DONE,
            username="prodsys",
            tasktype="prod",
            prodsourcelabel="managed",
            workinggroup="AP_MCGN",
            campaign="MC23:MC23a",
            reqid=12,
            currentpriority=900,
            gshare="Validation",
        ),
        "group": TaskFactory(
            taskname="group.phys.ntuple.v1/",
            status=TaskStatus.DONE,
            username="groupie",
            tasktype="prod",
            prodsourcelabel="managed",
            workinggroup="GP_PHYS",
            gshare="Group",
        ),
    }
    TaskDatasetFactory(task=tasks["analysis"], nfiles=4, nfilesfinished=1)
    analysis = tasks["analysis"]
    first = job_with_files(jeditaskid=analysis.jeditaskid, jobstatus=JobStatus.FAILED, piloterrorcode=1150)
    second = JobFactory(jeditaskid=analysis.jeditaskid, jobstatus=JobStatus.RUNNING, batchid="condor.42")
    JobStatusLog.objects.create(pandaid=first.pandaid, oldstatus="running", jobstatus="failed")
    JobRetryHistory.objects.create(
        jeditaskid=analysis.jeditaskid,
        oldpandaid=first.pandaid,
        newpandaid=second.pandaid,
        originpandaid=first.pandaid,
    )
    return {"tasks": tasks, "ids": {name: task.jeditaskid for name, task in tasks.items()}, "jobs": (first, second)}


def echo_of(selection: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in selection.items())


@pytest.mark.parametrize(
    ("query", "echo", "expected"), TASK_LIST_URLS, ids=[url or "(none)" for url, *_ in TASK_LIST_URLS]
)
def test_a_tasks_url_answers_with_its_echo_in_html_and_json(client, world, query, echo, expected):
    html = client.get(f"/tasks/?{query}")
    assert html.status_code == 200
    assert f'<p class="selection" data-testid="selection">{echo}</p>' in html.content.decode()
    separator = "&" if query else ""
    data = client.get(f"/tasks/?{query}{separator}json").json()
    assert echo_of(data["selection"]) == echo
    if expected is not None:
        names = {name for name, ident in world["ids"].items() if ident in {t["jeditaskid"] for t in data["tasks"]}}
        assert names == expected
    if "status=running" in query:
        assert any(ACTIVE_WARNING in warning for warning in data["warnings"])


def test_limits_and_sorting_shape_the_list(client, world):
    by_priority = client.get("/tasks/?sortby=priority-descending&json").json()["tasks"]
    priorities = [task["currentpriority"] for task in by_priority]
    assert priorities == sorted(priorities, reverse=True)
    assert len(client.get("/tasks/?limit=2&json").json()["tasks"]) == 2
    html = client.get("/tasks/?sortby=create-ascending&display_limit=1").content.decode()
    assert html.count('href="/task/') == 1


# Detail pages: (URL template, JSON keys that must be present)
DETAIL_URLS = [
    ("/task/{analysis}/", {"task", "taskparams", "datasets", "jobsummary", "why_not_running", "plots"}),
    ("/task/{production}/", {"task", "taskparams", "datasets"}),
    ("/task/?jeditaskid={analysis}", {"task", "taskparams", "datasets"}),
    ("/task?jeditaskid={group}", {"task", "taskparams", "datasets"}),
    ("/task/?taskname=user.jdoe.EVNT.test/", {"task", "taskparams", "datasets"}),
    ("/getjobsummaryfortask/{analysis}/", {"jobsummary", "fragment", "final", "status"}),
    ("/getjobsummaryfortask/{production}/", {"jobsummary", "fragment", "final", "status"}),
    ("/job/{first}/", {"job", "files", "dsfiles", "errors", "why_not_running"}),
    ("/job/{second}/", {"job", "files", "dsfiles"}),
    ("/job/?pandaid={first}", {"job", "files", "dsfiles"}),
    ("/job?pandaid={second}", {"job", "files", "dsfiles"}),
    ("/job/{second}/condor.42/", {"job", "files", "dsfiles"}),
    ("/jobrelationships/{first}/", {"pandaid", "ancestors", "descendants"}),
    ("/jobrelationships/{second}/", {"pandaid", "ancestors", "descendants"}),
]
LIST_JSON_DETAIL_URLS = ["/jobstatuslog/{first}/", "/taskstatuslog/{analysis}/"]


def fill(template: str, world) -> str:
    first, second = world["jobs"]
    return template.format(**world["ids"], first=first.pandaid, second=second.pandaid)


@pytest.mark.parametrize(("template", "keys"), DETAIL_URLS, ids=[t for t, _ in DETAIL_URLS])
def test_a_detail_url_answers_in_html_and_json(client, world, template, keys):
    url = fill(template, world)
    response = client.get(url, follow=True)
    assert response.status_code == 200
    assert "<html" in response.content.decode()
    separator = "&" if "?" in url else "?"
    data = client.get(f"{url}{separator}json").json()
    assert keys <= set(data)


@pytest.mark.parametrize("template", LIST_JSON_DETAIL_URLS)
def test_a_status_log_url_answers_in_html_and_json(client, world, template):
    url = fill(template, world)
    assert client.get(url).status_code == 200
    rows = client.get(f"{url}?json").json()
    assert isinstance(rows, list) and rows


def test_there_are_at_least_thirty_golden_urls():
    assert len(TASK_LIST_URLS) + len(DETAIL_URLS) + len(LIST_JSON_DETAIL_URLS) >= 30
