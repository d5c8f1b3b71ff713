"""The file and dataset lookups (monitor.md §1 "Files / datasets"): /files/, /file/, /datasets/, /dataset/."""

from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ddm.models import DatasetFile, Replica, Rule
from apps.jedi.models import DatasetType
from apps.jobs.states import JobStatus
from tests.factories import job_with_files
from tests.jedi_factories import (
    DataFileFactory,
    DatasetContentFactory,
    DDMDatasetFactory,
    TaskDatasetFactory,
    TaskFactory,
    ddm_dataset_with_files,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """Task 501 read EVNT files of mc23.EVNT.e1 with job A (finished) and B (failed); the catalogue holds the
    dataset with two files, one replicated at SE_A, and a stage rule."""
    task = TaskFactory(jeditaskid=501, taskname="mc23.EVNT.reco/", status="running")
    dataset = ddm_dataset_with_files("mc23.EVNT.e1", 2, endpoint="SE_A")
    Rule.objects.create(dataset=dataset, endpoint="SE_B", activity="stage", state="stuck", error="tape offline")
    first, second = (df.file for df in DatasetFile.objects.filter(dataset=dataset).order_by("file__lfn"))
    task_dataset = TaskDatasetFactory(task=task, datasetname="mc23:mc23.EVNT.e1", nfiles=2, nfilesfinished=1)
    DatasetContentFactory(dataset=task_dataset, task=task, lfn=first.lfn, status="finished")
    DatasetContentFactory(dataset=task_dataset, task=task, lfn=second.lfn, status="ready")
    job_a = job_with_files(n_inputs=0, jeditaskid=501, jobstatus=JobStatus.FINISHED)
    job_b = job_with_files(n_inputs=0, jeditaskid=501, jobstatus=JobStatus.FAILED)
    for job in (job_a, job_b):
        job.files.create(type="input", lfn=first.lfn, scope="mc23", dataset="mc23:mc23.EVNT.e1", jeditaskid=501)
    return {"task": task, "dataset": dataset, "files": (first, second), "jobs": (job_a, job_b)}


def get_json(client, url, **params):
    response = client.get(url, {**params, "json": ""})
    assert response.status_code == 200, response.content
    return response.json()


def test_files_finds_job_files_and_catalogue_files_by_lfn_wildcard(client, world):
    first, second = world["files"]

    data = get_json(client, "/files/", lfn="mc23.EVNT.e1._*")

    assert data["selection"] == {"lfn": "mc23.EVNT.e1._*"}
    assert sorted((row["lfn"], row["pandaid"]) for row in data["files"]) == sorted(
        (first.lfn, job.pandaid) for job in world["jobs"]
    )
    assert {row["jobstatus"] for row in data["files"]} == {"finished", "failed"}
    catalogue = {row["lfn"]: row for row in data["catalogue"]}
    assert set(catalogue) == {first.lfn, second.lfn}
    assert catalogue[first.lfn]["nreplicas"] == 1
    assert catalogue[first.lfn]["datasets"] == ["mc23:mc23.EVNT.e1"]


def test_files_of_one_job_are_its_inputs_outputs_and_log_and_skip_the_catalogue(client, world):
    job_a, _ = world["jobs"]

    data = get_json(client, "/files/", pandaid=str(job_a.pandaid))

    assert {row["type"] for row in data["files"]} == {"input", "output", "log"}
    assert data["catalogue"] == []
    assert any("catalogue is searched only" in warning for warning in data["warnings"])
    summary = {facet["field"]: {v["kname"]: v["kvalue"] for v in facet["list"]} for facet in data["selectionsummary"]}
    assert summary["type"] == {"input": 1, "output": 1, "log": 1}


def test_files_by_dataset_accepts_the_scope_and_finds_the_catalogue_members(client, world):
    data = get_json(client, "/files/", dataset="mc23:mc23.EVNT.e1")

    assert len(data["files"]) == 2
    assert len(data["catalogue"]) == 2


def test_files_without_a_selecting_key_is_refused(client, world):
    response = client.get("/files/", {"status": "ready", "json": ""})

    assert response.status_code == 400
    assert "give one of lfn" in response.json()["error"]


def test_files_refuses_unknown_keys_and_percent(client, world):
    assert client.get("/files/?lfn=x&colour=red").status_code == 400
    assert client.get("/files/?lfn=EVNT%25").status_code == 400


def test_the_files_page_links_each_file_and_job(client, world):
    first, _ = world["files"]
    job_a, _ = world["jobs"]

    html = unescape(client.get("/files/?lfn=mc23.EVNT.e1._*").content.decode())

    assert f'href="/file/?lfn={first.lfn}&scope=mc23"' in html
    assert f'href="/job/{job_a.pandaid}/"' in html
    assert '<p class="selection" data-testid="selection">lfn=mc23.EVNT.e1._*</p>' in html


def test_the_file_page_shows_replicas_datasets_jobs_and_the_tasks_records(client, world):
    first, _ = world["files"]

    data = get_json(client, "/file/", lfn=first.lfn, scope="mc23")

    assert [row["lfn"] for row in data["file"]] == [first.lfn]
    assert [(row["endpoint"], row["state"]) for row in data["replicas"]] == [("SE_A", "available")]
    assert [row["dataset__name"] for row in data["datasets"]] == ["mc23.EVNT.e1"]
    assert sorted(row["pandaid"] for row in data["jobs"]) == sorted(job.pandaid for job in world["jobs"])
    assert [(row["task_id"], row["status"]) for row in data["taskfiles"]] == [(501, "finished")]


def test_the_file_page_takes_scope_colon_lfn(client, world):
    first, _ = world["files"]

    data = get_json(client, "/file/", lfn=f"mc23:{first.lfn}")

    assert data["selection"] == {"lfn": first.lfn, "scope": "mc23"}


def test_a_file_only_jobs_know_has_a_page_without_catalogue_entry(client, world):
    job_a, _ = world["jobs"]
    log = job_a.files.get(type="log")

    data = get_json(client, "/file/", lfn=log.lfn)

    assert data["file"] == [] and data["replicas"] == []
    assert [row["pandaid"] for row in data["jobs"]] == [job_a.pandaid]


def test_the_file_page_warns_when_several_scopes_hold_the_name(client, world):
    DataFileFactory(scope="user.jdoe", lfn="shared.root")
    DataFileFactory(scope="mc23", lfn="shared.root")

    data = get_json(client, "/file/", lfn="shared.root")

    assert [row["scope"] for row in data["file"]] == ["mc23", "user.jdoe"]
    assert any("add scope=" in warning for warning in data["warnings"])


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "give lfn="),
        ("lfn=EVNT*", 400, "search with wildcards"),
        ("lfn=x&pandaid=1", 400, "unknown parameter pandaid"),
        ("lfn=nowhere.root", 404, "no file nowhere.root"),
    ],
)
def test_the_file_page_refuses_what_it_cannot_answer(client, world, query, status, message):
    response = client.get(f"/file/?{query}&json")

    assert response.status_code == status
    assert message in response.json()["error"]


def test_the_file_page_html_lists_the_replicas_and_links_the_dataset(client, world):
    first, _ = world["files"]

    html = unescape(client.get(f"/file/?lfn={first.lfn}&scope=mc23").content.decode())

    assert "SE_A" in html
    assert 'href="/dataset/?datasetname=mc23:mc23.EVNT.e1"' in html


def test_datasets_by_name_wildcard_lists_task_datasets_and_catalogue_datasets(client, world):
    DDMDatasetFactory(name="mc23.HITS.s1")

    data = get_json(client, "/datasets/", datasetname="*EVNT*")

    assert [(row["datasetname"], row["jeditaskid"], row["taskstatus"]) for row in data["datasets"]] == [
        ("mc23:mc23.EVNT.e1", 501, "running")
    ]
    (catalogue,) = data["catalogue"]
    assert (catalogue["name"], catalogue["nfiles"], catalogue["rules"]) == ("mc23.EVNT.e1", 2, {"stuck": 1})


def test_datasets_of_a_task_lists_its_datasets_by_type(client, world):
    TaskDatasetFactory(task=world["task"], datasetname="mc23:mc23.AOD.r1", type=DatasetType.OUTPUT)

    data = get_json(client, "/datasets/", jeditaskid="501", type="output")

    assert [row["datasetname"] for row in data["datasets"]] == ["mc23:mc23.AOD.r1"]
    assert data["catalogue"] == []


def test_datasets_without_a_selecting_key_is_refused(client, world):
    assert client.get("/datasets/?status=ready").status_code == 400


def test_the_dataset_page_shows_state_files_rules_and_tasks(client, world):
    data = get_json(client, "/dataset/", datasetname="mc23:mc23.EVNT.e1")

    assert data["selection"] == {"datasetname": "mc23:mc23.EVNT.e1"}
    assert (data["dataset"]["kind"], data["dataset"]["state"], data["dataset"]["nfiles"]) == ("dataset", "open", 2)
    assert sorted(row["nreplicas"] for row in data["files"]) == [1, 1]
    assert [(row["activity"], row["state"], row["error"]) for row in data["rules"]] == [
        ("stage", "stuck", "tape offline")
    ]
    (task,) = data["tasks"]
    assert (task["jeditaskid"], task["contents"]) == (501, {"finished": 1, "ready": 1})


def test_the_dataset_page_finds_a_dataset_by_its_bare_name(client, world):
    data = get_json(client, "/dataset/", datasetname="mc23.EVNT.e1")

    assert data["dataset"]["name"] == "mc23.EVNT.e1"
    assert [task["jeditaskid"] for task in data["tasks"]] == [501]


def test_the_dataset_page_shows_a_container_and_its_members(client, world):
    container = DDMDatasetFactory(name="mc23.EVNT.all", kind="container")
    world["dataset"].containers.add(container)

    member = get_json(client, "/dataset/", datasetname="mc23.EVNT.e1")["dataset"]
    holder = get_json(client, "/dataset/", datasetname="mc23.EVNT.all")["dataset"]

    assert member["containers"] == ["mc23:mc23.EVNT.all"]
    assert holder["members"] == ["mc23:mc23.EVNT.e1"]


def test_a_dataset_only_jedi_knows_is_shown_with_a_warning(client, world):
    TaskDatasetFactory(task=world["task"], datasetname="mc23:mc23.AOD.r1", type=DatasetType.OUTPUT)

    data = get_json(client, "/dataset/", datasetname="mc23:mc23.AOD.r1")

    assert data["dataset"] is None
    assert [task["type"] for task in data["tasks"]] == ["output"]
    assert any("does not know this dataset" in warning for warning in data["warnings"])


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 400), ("datasetname=mc23.*", 400), ("datasetname=a b", 400), ("datasetname=mc23.none", 404)],
)
def test_the_dataset_page_refuses_what_it_cannot_answer(client, world, query, status):
    assert client.get(f"/dataset/?{query}").status_code == status


def test_the_dataset_page_html_lists_files_and_rules(client, world):
    first, _ = world["files"]

    html = unescape(client.get("/dataset/?datasetname=mc23:mc23.EVNT.e1").content.decode())

    assert f'href="/file/?lfn={first.lfn}&scope=mc23"' in html
    assert "tape offline" in html
    assert 'href="/task/501/"' in html


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(captured)


def test_the_lookups_cost_as_many_queries_for_many_rows_as_for_few(client, world):
    first, _ = world["files"]
    urls = [
        "/files/?lfn=mc23.EVNT.*",
        "/datasets/?datasetname=mc23.EVNT.*",
        "/dataset/?datasetname=mc23.EVNT.e1",
        f"/file/?lfn={first.lfn}",
    ]
    few = [count_queries(client, url) for url in urls]
    dataset = world["dataset"]
    for n in range(30):
        extra = DataFileFactory(lfn=f"mc23.EVNT.e1._{n + 100:06d}.root")
        DatasetFile.objects.create(dataset=dataset, file=extra)
        Replica.objects.create(file=extra, endpoint=f"SE_{n}")
        Replica.objects.create(file=first, endpoint=f"SE_{n}")
        DDMDatasetFactory(name=f"mc23.EVNT.x{n}")
        TaskDatasetFactory(task=world["task"], datasetname=f"mc23:mc23.EVNT.x{n}")
        job = job_with_files(n_inputs=0, jeditaskid=600 + n)
        job.files.create(type="input", lfn=extra.lfn, scope="mc23", jeditaskid=600 + n)
        job.files.create(type="input", lfn=first.lfn, scope="mc23", jeditaskid=600 + n)
    many = [count_queries(client, url) for url in urls]

    assert many == few
    assert len(get_json(client, "/file/", lfn=first.lfn)["jobs"]) == 32
