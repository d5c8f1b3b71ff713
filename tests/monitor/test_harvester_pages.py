import datetime as dt

import pytest

from apps.core.timeutil import utcnow
from apps.workers.models import HarvesterInstance, HarvesterSlots, JobWorker, Worker
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def worker(harvesterid="CERN_A", workerid=1, *, age_hours=1.0, **fields):
    moment = utcnow() - dt.timedelta(hours=age_hours)
    defaults = {"status": "running", "computingsite": "CERN_Q", "resourcetype": "SCORE", "jobtype": "managed"}
    return Worker.objects.create(
        harvesterid=harvesterid, workerid=workerid, submittime=moment, lastupdate=moment, **(defaults | fields)
    )


def test_the_instances_page_lists_instances_with_their_recent_workers_by_status(client):
    HarvesterInstance.objects.create(harvester_id="CERN_A", hostname="a.cern.ch", sw_version="0.5")
    HarvesterInstance.objects.create(harvester_id="CERN_B")
    worker("CERN_A", 1)
    worker("CERN_A", 2, status="finished")
    worker("CERN_A", 3, age_hours=30)

    data = client.get("/harvester/instances/", {"json": ""}).json()
    page = client.get("/harvester/instances/").content.decode()

    assert [(i["harvesterid"], i["workers"]) for i in data["instances"]] == [
        ("CERN_A", {"finished": 1, "running": 1}),
        ("CERN_B", {}),
    ]
    assert 'href="/harvester/workers/?harvesterid=CERN_A&amp;status=running&amp;hours=12"' in page


def test_the_workers_page_summarises_workers_by_the_worker_facets(client):
    worker("CERN_A", 1)
    worker("CERN_A", 2, status="submitted", computingsite="FZK_Q")
    worker("CERN_B", 3, resourcetype="MCORE")

    data = client.get("/harvester/workers/", {"json": ""}).json()

    assert set(data) >= {"summary", "workers"}
    assert set(data["summary"]) == {
        "status",
        "computingsite",
        "computingelement",
        "resourcetype",
        "harvesterid",
        "nativestatus",
        "jobtype",
    }
    assert data["summary"]["status"] == {"running": 2, "submitted": 1}
    assert data["summary"]["computingelement"] == {"Not specified": 3}
    assert {(w["harvesterid"], w["workerid"]) for w in data["workers"]} == {("CERN_A", 1), ("CERN_A", 2), ("CERN_B", 3)}


def test_instance_computingsite_and_status_narrow_the_workers(client):
    worker("CERN_A", 1)
    worker("CERN_A", 2, status="submitted", computingsite="FZK_Q")
    worker("CERN_B", 3)

    def ids(**params):
        data = client.get("/harvester/workers/", {**params, "json": ""}).json()
        return sorted((w["harvesterid"], w["workerid"]) for w in data["workers"])

    assert ids(instance="CERN_A") == [("CERN_A", 1), ("CERN_A", 2)]
    assert ids(computingsite="FZK_Q") == [("CERN_A", 2)]
    assert ids(status="running", harvesterid="CERN_B") == [("CERN_B", 3)]
    assert ids(status="!running") == [("CERN_A", 2)]


def test_facet_links_add_their_filter_to_the_current_url(client):
    worker("CERN_A", 1)

    page = client.get("/harvester/workers/", {"instance": "CERN_A"}).content.decode()

    assert 'href="?instance=CERN_A&amp;status=running"' in page
    assert 'href="/jobs/?harvesterid=CERN_A&amp;workerid=1"' in page


def test_when_no_worker_is_in_the_window_it_widens_to_the_last_submitted_worker_and_warns(client):
    worker("CERN_A", 1, status="finished", age_hours=50)
    worker("CERN_A", 2, status="finished", age_hours=30)
    worker("CERN_B", 3, status="finished", age_hours=20, computingsite="OTHER_Q")

    data = client.get("/harvester/workers/", {"computingsite": "CERN_Q", "hours": "6", "json": ""}).json()

    assert [(w["harvesterid"], w["workerid"]) for w in data["workers"]] == [("CERN_A", 2)]
    assert any("widened" in warning and "CERN_A:2" in warning for warning in data["warnings"])


def test_with_no_matching_worker_at_all_the_page_is_empty_without_widening(client):
    data = client.get("/harvester/workers/", {"computingsite": "NOWHERE", "json": ""}).json()

    assert data["workers"] == [] and not any("widened" in w for w in data["warnings"])


def test_a_bad_worker_filter_is_a_400(client):
    response = client.get("/harvester/workers/", {"colour": "blue", "json": ""})

    assert response.status_code == 400
    assert "colour" in response.json()["error"]


def test_the_worker_page_shows_the_worker_and_the_jobs_it_ran(client):
    w = worker("CERN_A", 7)
    ran = JobFactory.create_batch(2, computingsite="CERN_Q")
    JobFactory(computingsite="CERN_Q")
    for job in ran:
        JobWorker.objects.create(harvesterid="CERN_A", workerid=7, pandaid=job.pandaid)

    data = client.get("/harvester/worker/7/", {"harvesterid": "CERN_A", "json": ""}).json()
    page = client.get("/harvester/worker/7/", {"harvesterid": "CERN_A"}).content.decode()

    assert data["workers"][0]["status"] == w.status
    assert sorted(job["pandaid"] for job in data["jobs"]) == sorted(job.pandaid for job in ran)
    assert 'href="/jobs/?harvesterid=CERN_A&amp;workerid=7"' in page


def test_a_worker_id_known_to_two_instances_asks_which_one(client):
    worker("CERN_A", 7)
    worker("CERN_B", 7)

    page = client.get("/harvester/worker/7/").content.decode()

    assert "/harvester/worker/7/?harvesterid=CERN_A" in page and "/harvester/worker/7/?harvesterid=CERN_B" in page
    assert client.get("/harvester/worker/8/").status_code == 404


def test_the_worker_page_takes_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    worker("CERN_A", 7)
    for job in JobFactory.create_batch(10, computingsite="CERN_Q"):
        JobWorker.objects.create(harvesterid="CERN_A", workerid=7, pandaid=job.pandaid)

    with django_assert_max_num_queries(2):
        client.get("/harvester/worker/7/", {"harvesterid": "CERN_A"})


def test_workers_for_a_task_are_the_workers_that_ran_its_jobs(client, django_assert_max_num_queries):
    task_job, other_job = JobFactory(jeditaskid=42), JobFactory(jeditaskid=43)
    worker("CERN_A", 1)
    worker("CERN_A", 2)
    worker("CERN_B", 1)
    JobWorker.objects.create(harvesterid="CERN_A", workerid=1, pandaid=task_job.pandaid)
    JobWorker.objects.create(harvesterid="CERN_B", workerid=1, pandaid=other_job.pandaid)

    with django_assert_max_num_queries(1 + 7 + 1):  # workers, one GROUP BY per facet, the rows
        data = client.get("/workersfortask/", {"jeditaskid": "42", "json": ""}).json()

    assert [(w["harvesterid"], w["workerid"]) for w in data["workers"]] == [("CERN_A", 1)]
    assert data["summary"]["harvesterid"] == {"CERN_A": 1}
    assert client.get("/workersfortask/", {"jeditaskid": "x"}).status_code == 400


def test_the_slots_page_lists_slot_targets(client):
    HarvesterSlots.objects.create(pandaqueuename="CERN_Q", numslots=100)
    HarvesterSlots.objects.create(pandaqueuename="CERN_Q", resourcetype="MCORE", numslots=20)

    data = client.get("/harvester/slots/", {"json": ""}).json()

    assert [(s["resourcetype"], s["numslots"]) for s in data["slots"]] == [("", 100), ("MCORE", 20)]
    assert "all" in client.get("/harvester/slots/").content.decode()


def test_the_workers_page_takes_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    for n in range(15):
        worker("CERN_A", n, computingsite=f"Q{n}")

    with django_assert_max_num_queries(1 + 1 + 7):  # exists, rows, one GROUP BY per facet
        client.get("/harvester/workers/")


def test_an_empty_date_range_widens_too(client):
    worker("CERN_A", 1, status="finished", age_hours=100)

    data = client.get("/harvester/workers/", {"date_from": "2020-01-01", "date_to": "2020-01-02", "json": ""}).json()

    assert [w["workerid"] for w in data["workers"]] == [1]
    assert any("widened" in warning for warning in data["warnings"])
