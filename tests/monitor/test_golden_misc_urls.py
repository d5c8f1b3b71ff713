"""Golden URLs of the file and dataset lookups, task logs, task chain and flow, work queues and job memory pages:
real-world forms answer 200 with the expected selection echo, in HTML and in JSON."""

import pytest

from apps.ddm.models import Rule
from apps.jedi.models import DatasetType, TaskCommand
from apps.jedi.states import TaskStatus
from apps.jobs.states import JobStatus
from apps.shares.models import GlobalShare
from tests.factories import job_with_files
from tests.jedi_factories import TaskDatasetFactory, TaskFactory, ddm_dataset_with_files

pytestmark = pytest.mark.django_db

LFN = "mc23.EVNT.e1._000001.root"

# (URL, expected selection echo; None for pages that name one object in their path)
GOLDEN_URLS = [
    ("/files/?lfn=mc23.EVNT.*", "lfn=mc23.EVNT.*"),
    ("/files/?lfn=mc23.EVNT.*&scope=mc23", "lfn=mc23.EVNT.*, scope=mc23"),
    (f"/files/?lfn={LFN}", f"lfn={LFN}"),
    ("/files/?lfn=EVNT.*|HITS.*", "lfn=EVNT.*|HITS.*"),
    ("/files/?lfn=*.root,mc23.*", "lfn=*.root,mc23.*"),
    ("/files/?jeditaskid=901", "jeditaskid=901"),
    ("/files/?jeditaskid=901&type=output", "jeditaskid=901, type=output"),
    ("/files/?jeditaskid=901&type=input&status=!failed", "jeditaskid=901, status=!failed, type=input"),
    ("/files/?pandaid=5001", "pandaid=5001"),
    ("/files/?pandaid=5001|5002", "pandaid=5001|5002"),
    ("/files/?dataset=mc23:mc23.EVNT.e1", "dataset=mc23:mc23.EVNT.e1"),
    ("/files/?dataset=mc23.EVNT.e1", "dataset=mc23.EVNT.e1"),
    ("/files/?scope=mc23&lfn=log.*", "lfn=log.*, scope=mc23"),
    ("/files/?guid=*&jeditaskid=901", "guid=*, jeditaskid=901"),
    ("/files/?jeditaskid=901&display_limit=2", "jeditaskid=901, display_limit=2"),
    ("/files/?jeditaskid=901&sortby=lfn-descending", "jeditaskid=901, sortby=lfn-descending"),
    ("/files/?lfn=mc23.EVNT.*&timestamp=1700000000", "lfn=mc23.EVNT.*"),
    (f"/file/?lfn={LFN}&scope=mc23", f"lfn={LFN}, scope=mc23"),
    (f"/file/?lfn={LFN}", f"lfn={LFN}"),
    (f"/file/?lfn=mc23:{LFN}", f"lfn={LFN}, scope=mc23"),
    ("/datasets/?datasetname=mc23.EVNT*", "datasetname=mc23.EVNT*"),
    ("/datasets/?datasetname=*EVNT*", "datasetname=*EVNT*"),
    ("/datasets/?datasetname=mc23:mc23.EVNT.e1", "datasetname=mc23:mc23.EVNT.e1"),
    ("/datasets/?jeditaskid=901", "jeditaskid=901"),
    ("/datasets/?jeditaskid=901&type=output|log", "jeditaskid=901, type=output|log"),
    ("/datasets/?jeditaskid=901|902", "jeditaskid=901|902"),
    ("/datasets/?datasetname=*EVNT*&status=ready", "datasetname=*EVNT*, status=ready"),
    ("/datasets/?containername=Not specified&jeditaskid=901", "containername=Not specified, jeditaskid=901"),
    ("/dataset/?datasetname=mc23:mc23.EVNT.e1", "datasetname=mc23:mc23.EVNT.e1"),
    ("/dataset/?datasetname=mc23.EVNT.e1", "datasetname=mc23:mc23.EVNT.e1"),
    ("/dataset/?datasetname=mc23:mc23.HITS.s1", "datasetname=mc23:mc23.HITS.s1"),
    ("/taskchain/?jeditaskid=901", "jeditaskid=901"),
    ("/taskchain/?jeditaskid=902", "jeditaskid=902"),
    ("/taskchain/?jeditaskid=902&timestamp=1700000000", "jeditaskid=902"),
    ("/ganttTaskChain/?jeditaskid=901", "jeditaskid=901"),
    ("/ganttTaskChain/?jeditaskid=902", "jeditaskid=902"),
    ("/tasklogs/901/", None),
    ("/tasklogs/902/", None),
    ("/taskflow/901/", None),
    ("/taskflow/902/", None),
    ("/workQueues/", None),
    ("/prmonplots/5001/", None),
    ("/job/5001/", None),
]


@pytest.fixture
def world():
    evgen = TaskFactory(jeditaskid=901, parent_tid=901, status=TaskStatus.DONE, taskname="mc23.evgen.e1/")
    simul = TaskFactory(jeditaskid=902, parent_tid=901, status=TaskStatus.RUNNING, taskname="mc23.simul.s1/")
    TaskDatasetFactory(task=evgen, datasetname="mc23:mc23.EVNT.e1", type=DatasetType.OUTPUT)
    TaskDatasetFactory(task=evgen, datasetname="mc23:mc23.log.e1", type=DatasetType.LOG)
    TaskDatasetFactory(task=simul, datasetname="mc23:mc23.EVNT.e1", type=DatasetType.INPUT)
    TaskDatasetFactory(task=simul, datasetname="mc23:mc23.HITS.s1", type=DatasetType.OUTPUT)
    TaskCommand.objects.create(task=simul, command="retry", owner="alice")
    dataset = ddm_dataset_with_files("mc23.EVNT.e1", 2, endpoint="SE_A")
    Rule.objects.create(dataset=dataset, endpoint="SE_B")
    job = job_with_files(pandaid=5001, jeditaskid=901, jobstatus=JobStatus.FINISHED, maxpss=1_000_000)
    job.files.create(type="input", lfn=LFN, scope="mc23", dataset="mc23:mc23.EVNT.e1", jeditaskid=902)
    job_with_files(pandaid=5002, jeditaskid=902, jobstatus=JobStatus.RUNNING, gshare="User Analysis")
    GlobalShare.objects.create(name="User Analysis", value=100)


def echo_of(selection: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in selection.items())


@pytest.mark.parametrize(("url", "echo"), GOLDEN_URLS, ids=[url for url, _ in GOLDEN_URLS])
def test_a_golden_url_answers_with_its_echo_in_html_and_json(client, world, url, echo):
    html = client.get(url)
    assert html.status_code == 200, html.content[:300]
    if echo is not None:
        assert f'<p class="selection" data-testid="selection">{echo}</p>' in html.content.decode()
    separator = "&" if "?" in url else "?"
    response = client.get(f"{url}{separator}json")
    assert response.status_code == 200
    data = response.json()
    if echo is not None:
        assert echo_of(data["selection"]) == echo


def test_each_page_here_has_its_help_section(client):
    urls = {section["url"] for section in client.get("/help/?json").json()["help"]}

    assert {
        "/files/",
        "/datasets/",
        "/tasklogs/<jeditaskid>/",
        "/taskchain/?jeditaskid=<id>",
        "/workQueues/",
        "/prmonplots/<pandaid>/",
    } <= urls
