"""/workQueues/: the global-share leaves in the role of JEDI's work queues (monitor.md §1 "Misc")."""

from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.jedi.states import TaskStatus
from apps.jobs.states import JobStatus
from apps.shares.models import GlobalShare
from tests.factories import JobFactory
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shares():
    analysis = GlobalShare.objects.create(name="Analysis", value=20, rank=1, prodsourcelabel="user|panda")
    GlobalShare.objects.create(name="User Analysis", parent=analysis, value=80, rank=1, queue_cap=500)
    GlobalShare.objects.create(name="Group Analysis", parent=analysis, value=20, rank=0, workinggroup=".+")
    GlobalShare.objects.create(name="Production", value=80, rank=0, prodsourcelabel="managed", throttled=False)
    for status in (JobStatus.ACTIVATED, JobStatus.ASSIGNED, JobStatus.RUNNING, JobStatus.FINISHED):
        JobFactory(gshare="User Analysis", jobstatus=status)
    JobFactory(gshare="Legacy", jobstatus=JobStatus.SENT)
    TaskFactory(gshare="User Analysis", status=TaskStatus.RUNNING, workqueue_id=7)
    TaskFactory(gshare="User Analysis", status=TaskStatus.DONE, workqueue_id=7)


def test_work_queues_are_the_share_leaves_with_rules_caps_tasks_and_jobs(client, shares):
    data = client.get("/workQueues/?json").json()

    queues = {row["name"]: row for row in data["workqueues"]}
    assert list(queues) == ["Production", "Group Analysis", "User Analysis", "Legacy"]
    user = queues["User Analysis"]
    assert (user["path"], user["target"], user["queue_cap"], user["throttled"]) == (
        "Analysis/User Analysis",
        16.0,
        500,
        True,
    )
    assert user["rules"] == [{"share": "Analysis", "field": "prodsourcelabel", "pattern": "user|panda"}]
    assert (user["tasks"], user["queued"], user["running"]) == (1, 2, 1)
    assert queues["Production"]["throttled"] is False
    assert (queues["Legacy"]["in_tree"], queues["Legacy"]["running"]) == (False, 1)
    assert data["workqueue_ids"] == [{"workqueue_id": 7, "tasks": 1}]


def test_the_work_queues_page_links_each_queue_to_its_jobs(client, shares):
    html = unescape(client.get("/workQueues/").content.decode())

    assert 'href="/jobs/?gshare=User%20Analysis&jobstatus=sent|starting|running"' in html
    assert "(not in the share tree)" in html


def test_the_work_queues_page_costs_the_same_for_many_jobs(client, shares):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/workQueues/").status_code == 200
        return len(captured)

    few = queries()
    for n in range(20):
        JobFactory(gshare=f"Other{n}", jobstatus=JobStatus.RUNNING)
    assert queries() == few
