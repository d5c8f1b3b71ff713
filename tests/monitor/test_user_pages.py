import datetime as dt
from html import unescape

import pytest

from apps.core.timeutil import utcnow
from apps.jobs.services.transitions import job_change_status
from tests.factories import JobFactory
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity():
    """alice: task 11 with 3 jobs (finished, failed pilot:1305, running); bob: an old job; carol: a task only."""
    TaskFactory(jeditaskid=11, taskname="user.alice.test1", username="alice", status="running")
    TaskFactory(jeditaskid=12, taskname="user.carol.test2", username="carol", status="registered")
    JobFactory(jobstatus="finished", produsername="alice", jeditaskid=11, computingsite="SITE_A")
    failed = JobFactory(jobstatus="running", produsername="alice", jeditaskid=11, computingsite="SITE_A")
    job_change_status(failed, new="failed", changes={"piloterrorcode": 1305, "piloterrordiag": "payload failed"})
    JobFactory(jobstatus="running", produsername="alice", jeditaskid=11, computingsite="SITE_B")
    JobFactory(jobstatus="finished", produsername="bob", modificationtime=utcnow() - dt.timedelta(days=30))


def get_json(client, url, **params):
    response = client.get(url, {**params, "json": ""})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_users_page_lists_users_active_in_the_window_with_job_and_task_counts(client, activity):
    data = get_json(client, "/users/")

    users = {user["name"]: user for user in data["users"]}
    assert set(users) == {"alice", "carol"}
    alice = users["alice"]
    assert (alice["njobs"], alice["nactive"], alice["nfinished"], alice["nfailed"]) == (3, 1, 1, 1)
    assert (alice["ntasks"], alice["nactivetasks"]) == (1, 1)
    assert (users["carol"]["njobs"], users["carol"]["ntasks"]) == (0, 1)
    assert data["selection"] == {"days": "7"}


def test_a_longer_window_finds_older_users(client, activity):
    names = {user["name"] for user in get_json(client, "/users/", days="60")["users"]}

    assert names == {"alice", "bob", "carol"}


def test_job_filters_narrow_the_users_to_those_with_matching_jobs(client, activity):
    names = {user["name"] for user in get_json(client, "/users/", computingsite="SITE_B")["users"]}

    assert names == {"alice"}


def test_the_users_page_links_each_user_page(client, activity):
    html = unescape(client.get("/users/").content.decode())

    assert 'href="/user/alice/"' in html
    assert 'href="/user/carol/"' in html


def test_the_user_page_shows_the_users_tasks_jobs_and_errors(client, activity):
    data = get_json(client, "/user/alice/")

    assert data["user"] == "alice"
    assert data["selection"] == {"produsername": "alice", "days": "7"}
    (task,) = data["tasks"]
    assert (task["jeditaskid"], task["njobs"], task["percent_finished"]) == (11, 3, 33.3)
    assert task["jobs"] == {"finished": 1, "failed": 1, "running": 1}
    assert {row["name"]: row["count"] for row in data["jobSummary"]} == {"finished": 1, "failed": 1, "running": 1}
    assert len(data["jobs"]) == 3
    assert [(row["error"], row["count"]) for row in data["errsByCount"]] == [("pilot:1305", 1)]
    assert {status: sum(p["count"] for p in points) for status, points in data["progress"].items()} == {
        "finished": 1,
        "failed": 1,
    }


def test_the_user_page_html_links_the_users_tasks_list_and_plots_progress(client, activity):
    response = client.get("/user/alice/")

    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert 'href="/tasks/?username=alice&days=7"' in html
    assert "/task/11/" in html
    assert "<svg" in html
    assert "user.alice.test1" in html


def test_a_user_name_with_a_space_works_and_is_escaped_in_links(client):
    JobFactory(jobstatus="running", produsername="Jane Doe")

    response = client.get("/user/Jane%20Doe/")

    assert response.status_code == 200
    assert "/tasks/?username=Jane+Doe" in response.content.decode()


def test_a_user_with_only_tasks_has_a_page(client, activity):
    data = get_json(client, "/user/carol/")

    assert [task["jeditaskid"] for task in data["tasks"]] == [12]
    assert data["jobs"] == []


def test_a_user_without_jobs_or_tasks_gets_an_empty_page_that_says_so(client, activity):
    response = client.get("/user/newcomer/")

    assert response.status_code == 200
    assert "No jobs or tasks of newcomer in this window" in response.content.decode()
    data = get_json(client, "/user/newcomer/")
    assert (data["tasks"], data["jobs"], data["jobSummary"]) == ([], [], [])


def test_bobs_old_jobs_show_with_a_longer_window(client, activity):
    assert get_json(client, "/user/bob/")["jobs"] == []
    assert len(get_json(client, "/user/bob/", days="60")["jobs"]) == 1


def test_the_user_profile_shows_task_progress_and_the_progress_plot(client, activity):
    response = client.get("/userProfile/alice/")

    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "33.3%" in html
    assert "<svg" in html
    assert get_json(client, "/userProfile/alice/")["tasks"][0]["jeditaskid"] == 11


def test_the_user_pages_refuse_bad_filters(client, activity):
    assert client.get("/users/", {"days": "x"}).status_code == 400
    assert client.get("/user/alice/", {"bogus": "1"}).status_code == 400


def test_the_user_pages_cost_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    for i in range(10):
        TaskFactory(jeditaskid=100 + i, username=f"user{i % 3}")
        JobFactory.create_batch(3, jobstatus="finished", produsername=f"user{i % 3}", jeditaskid=100 + i)

    with django_assert_max_num_queries(6):
        get_json(client, "/users/")
    with django_assert_max_num_queries(12):
        get_json(client, "/user/user1/")
