import datetime as dt
import re
from html import unescape

import pytest

from apps.core.timeutil import utcnow
from apps.monitor.services.snapshots import queue_snapshot_take
from apps.workers.models import Worker
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, UserFactory
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_the_front_page_shows_the_system_at_a_glance(client):
    TaskFactory.create_batch(2, status="running")
    TaskFactory(status="done", modificationtime=utcnow() - dt.timedelta(days=30))
    JobFactory.create_batch(3, computingsite="BAD_Q", jobstatus="failed")
    JobFactory(computingsite="BAD_Q", jobstatus="finished")
    JobFactory(computingsite="GOOD_Q", jobstatus="finished")
    JobFactory(computingsite="OK_Q", jobstatus="failed")
    JobFactory(computingsite="OK_Q", jobstatus="running")
    Worker.objects.create(harvesterid="h1", workerid=1, status="running")
    Worker.objects.create(harvesterid="h1", workerid=2, status="submitted")

    data = client.get("/", {"json": ""}).json()
    page = client.get("/").content.decode()

    assert data["tasks"] == {"running": 2}
    assert data["jobs"] == {"running": 1, "finished": 2, "failed": 4}
    assert [(row["computingsite"], row["failed"], row["failure_rate"]) for row in data["topfailingqueues"]] == [
        ("BAD_Q", 3, 0.75),
        ("OK_Q", 1, 1.0),
    ]
    assert data["workers"] == {"running": 1, "submitted": 1}
    assert "<svg" in page and "Jobs by state" in page
    assert 'action="/search/"' in page
    assert 'href="/jobs/?computingsite=BAD_Q&amp;jobstatus=failed&amp;hours=12"' in page


def test_the_front_page_reads_job_counts_from_the_snapshot_when_there_is_one(client):
    JobFactory(computingsite="Q", jobstatus="running")
    queue_snapshot_take()
    JobFactory(computingsite="Q", jobstatus="running")

    data = client.get("/", {"json": ""}).json()

    assert (data["jobs_source"], data["jobs"]) == ("snapshot", {"running": 1})


def test_the_front_page_takes_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    for n in range(10):
        JobFactory(computingsite=f"Q{n}", jobstatus="failed")
        TaskFactory(status="running")

    with django_assert_max_num_queries(5):
        client.get("/")


def test_a_pandaid_search_opens_the_job(client):
    job = JobFactory()

    response = client.get("/search/", {"q": f" {job.pandaid} "})

    assert response.status_code == 302 and response.url == f"/job/{job.pandaid}/"


def test_a_task_id_search_opens_the_task(client):
    task = TaskFactory()

    assert client.get("/search/", {"q": str(task.jeditaskid)}).url == f"/task/{task.jeditaskid}/"


def test_a_number_that_is_both_a_job_and_a_task_offers_both(client):
    task = TaskFactory()
    JobFactory(pandaid=task.jeditaskid)

    response = client.get("/search/", {"q": str(task.jeditaskid)})

    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="/job/{task.jeditaskid}/"' in page and f'href="/task/{task.jeditaskid}/"' in page


def test_a_task_name_search_lists_the_tasks_of_that_name(client):
    TaskFactory(taskname="mc23.evgen.task/")

    assert client.get("/search/", {"q": "mc23.evgen.task/"}).url == "/tasks/?taskname=mc23.evgen.task%2F"
    assert client.get("/search/", {"q": "mc23.*"}).url == "/tasks/?taskname=mc23.%2A"


def test_a_user_search_opens_the_user_page(client):
    JobFactory(produsername="Alice Smith")

    assert client.get("/search/", {"q": "Alice Smith"}).url == "/user/Alice%20Smith/"


def test_a_queue_or_site_search_opens_its_page(client):
    PandaQueueFactory(name="CERN_Q", site=SiteFactory(name="CERN-PROD"))

    assert client.get("/search/", {"q": "CERN_Q"}).url == "/site/CERN_Q/"
    assert client.get("/search/", {"q": "CERN-PROD"}).url == "/site/CERN-PROD/"


def test_a_search_that_matches_nothing_says_so_and_suggests_a_task_name_search(client):
    response = client.get("/search/", {"q": "nothing-here"})
    data = client.get("/search/", {"q": "nothing-here", "json": ""}).json()

    assert response.status_code == 200
    assert "Nothing is named" in response.content.decode()
    assert 'href="/tasks/?taskname=%2Anothing-here%2A"' in response.content.decode()
    assert data == {"query": "nothing-here", "hits": []}


def test_an_empty_search_is_a_400(client):
    assert client.get("/search/", {"q": "  "}).status_code == 400
    assert client.get("/search/").status_code == 400


def test_the_help_page_has_a_section_per_view(client):
    page = client.get("/help/").content.decode()
    data = client.get("/help/", {"json": ""}).json()

    assert {section["url"] for section in data["help"]} >= {"/dash/region/", "/sites/", "/harvester/instances/"}
    assert "Status summary" in page and "/wns/&lt;site&gt;/" in page


@pytest.mark.parametrize(
    ("old", "new"),
    [("/dashboard/?jobtype=prod", "/dash/region/?jobtype=prod"), ("/queues/", "/sites/"), ("/wnInfo/Q/", "/wns/Q/")],
)
def test_an_obsolete_url_redirects_to_its_successor(client, old, new):
    response = client.get(old)

    assert response.status_code == 302 and response.url == new


def test_an_obsolete_url_without_successor_says_decommissioned(client):
    response = client.get("/incidents/")

    assert response.status_code == 410
    assert "has been decommissioned" in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/dash/region/",
        "/status_summary/api/",
        "/sites/",
        "/site/Q/",
        "/wns/Q/",
        "/globalshares/",
        "/harvester/workers/",
        "/harvester/instances/",
        "/search/?q=1",
    ],
)
def test_the_pages_refuse_anonymous_callers_when_anonymous_read_is_off(client, settings, url):
    settings.PANDA_MONITOR_ANONYMOUS_READ = False

    response = client.get(url, HTTP_ACCEPT="application/json")

    assert response.status_code == 403
    assert "anonymous read is disabled" in response.json()["error"]


def test_a_logged_in_user_reads_the_pages_when_anonymous_read_is_off(client, settings):
    settings.PANDA_MONITOR_ANONYMOUS_READ = False
    client.force_login(UserFactory())

    assert client.get("/dash/region/", {"json": ""}).status_code == 200


def test_every_link_of_the_front_page_opens(client):
    TaskFactory(status="running")
    JobFactory(computingsite="BAD_Q", jobstatus="failed")
    JobFactory(computingsite="BAD_Q", jobstatus="running")
    Worker.objects.create(harvesterid="h1", workerid=1, status="running")
    page = client.get("/").content.decode()

    links = {unescape(href) for href in re.findall(r'href="(/[^"]*)"', page)} - {"/static/monitor/monitor.css"}

    assert "/site/BAD_Q/" in links
    for href in sorted(links):
        if href.startswith(("/login", "/logout", "/oidc", "/admin")) or href == "/site/BAD_Q/":
            continue  # the account box, and a queue that only jobs name (its page is a 404 by design)
        assert client.get(href).status_code == 200, href
