import datetime as dt
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.core.timeutil import utcnow
from apps.jobs.models import Job
from apps.jobs.services.adder import adder_run
from apps.jobs.services.job_errors import job_errors_record
from apps.jobs.services.transitions import job_change_status
from apps.monitor.services.error_hourly import error_hourly_update
from tests.dispatcher.update_wire import as_pilot, legacy, post_json
from tests.factories import JobFactory, job_with_files
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


def fail(*, at=None, site="SITE_A", user="alice", task=1, label="managed", status="running", **codes) -> Job:
    job = JobFactory(jobstatus=status, computingsite=site, produsername=user, jeditaskid=task, prodsourcelabel=label)
    return job_change_status(job, new="failed", changes={"modificationtime": at or utcnow(), **codes})


def get_json(client, url="/errors/", **params):
    response = client.get(url, {**params, "json": ""})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def failures():
    """alice: 2 x pilot:1305 at SITE_A (task 1), one with exe:65 too; bob: ddm:200 at SITE_B (task 2)."""
    TaskFactory(jeditaskid=1, taskname="mc23.evgen.task1", username="alice")
    fail(piloterrorcode=1305, piloterrordiag="payload failed: exit 65", exeerrorcode=65)
    fail(piloterrorcode=1305, piloterrordiag="payload failed: exit 65")
    fail(site="SITE_B", user="bob", task=2, ddmerrorcode=200, ddmerrordiag="bad output entry")
    JobFactory(jobstatus="finished", computingsite="SITE_A", produsername="alice", jeditaskid=1)


def by_error(data) -> dict:
    return {row["error"]: row for row in data["errsByCount"]}


def test_errors_are_counted_by_component_and_code_with_description_and_sample_diag(client, failures):
    data = get_json(client)

    rows = by_error(data)
    assert {key: row["count"] for key, row in rows.items()} == {"pilot:1305": 2, "exe:65": 1, "ddm:200": 1}
    assert data["errsByCount"][0]["error"] == "pilot:1305"
    assert rows["pilot:1305"]["codename"] == "piloterrorcode"
    assert rows["pilot:1305"]["codeval"] == 1305
    assert rows["pilot:1305"]["diag"] == "payload failed: exit 65"
    assert rows["pilot:1305"]["desc"].startswith("PAYLOADEXECUTIONFAILURE")
    assert rows["ddm:200"]["desc"].startswith("Adder")
    assert Job.objects.filter(pk=rows["ddm:200"]["example_pandaid"], computingsite="SITE_B").exists()


def test_the_json_has_the_legacy_keys_and_the_selection(client, failures):
    data = get_json(client)

    assert {"jobSummary", "errsByCount", "errsBySite", "errsByUser", "errsByTask", "selection"} <= set(data)
    assert data["selection"] == {"hours": "12"}


def test_errors_are_broken_down_by_site_user_and_task(client, failures):
    data = get_json(client)

    sites = {row["name"]: row for row in data["errsBySite"]}
    assert (sites["SITE_A"]["toterrors"], sites["SITE_A"]["toterrjobs"]) == (3, 2)
    assert sites["SITE_A"]["errors"]["pilot:1305"]["count"] == 2
    assert list(sites["SITE_B"]["errors"]) == ["ddm:200"]
    users = {row["name"]: row["toterrjobs"] for row in data["errsByUser"]}
    assert users == {"alice": 2, "bob": 1}
    tasks = {row["name"]: row for row in data["errsByTask"]}
    assert tasks[1]["longname"] == "mc23.evgen.task1"
    assert tasks[2]["longname"] == ""
    assert tasks[1]["tasktype"] == "jeditaskid"


def test_the_job_summary_counts_every_job_of_the_selection_by_state(client, failures):
    data = get_json(client)

    assert data["jobSummary"] == [{"name": "failed", "count": 3}, {"name": "finished", "count": 1}]


def test_filters_narrow_the_summary(client, failures):
    data = get_json(client, computingsite="SITE_B")

    assert list(by_error(data)) == ["ddm:200"]
    assert data["selection"]["computingsite"] == "SITE_B"


def test_a_component_error_code_filter_keeps_all_errors_of_the_matching_jobs(client, failures):
    data = get_json(client, exeerrorcode="65")

    assert {key: row["count"] for key, row in by_error(data).items()} == {"pilot:1305": 1, "exe:65": 1}


def test_a_filter_on_a_job_column_the_error_rows_lack_goes_through_the_jobs(client, failures):
    Job.objects.filter(computingsite="SITE_B").update(cloud="DE")

    data = get_json(client, cloud="DE")

    assert list(by_error(data)) == ["ddm:200"]


def test_the_default_window_is_12_hours_and_6_for_analysis(client):
    fail(at=utcnow() - dt.timedelta(hours=8), piloterrorcode=1)
    fail(at=utcnow() - dt.timedelta(hours=8), label="user", piloterrorcode=2)
    fail(at=utcnow() - dt.timedelta(hours=13), piloterrorcode=3)

    assert set(by_error(get_json(client))) == {"pilot:1", "pilot:2"}
    analysis = get_json(client, jobtype="analysis")
    assert analysis["errsByCount"] == []
    assert analysis["selection"]["hours"] == "6"
    assert set(by_error(get_json(client, hours="24"))) == {"pilot:1", "pilot:2", "pilot:3"}


def test_errors_over_time_and_by_component_are_counted(client, failures):
    data = get_json(client)

    assert sum(row["count"] for row in data["errsOverTime"]) == 4
    assert {row["name"]: row["count"] for row in data["errsByComponent"]} == {"pilot": 2, "exe": 1, "ddm": 1}


def test_long_windows_read_the_hourly_aggregates_when_the_filters_allow(client):
    fail(at=utcnow() - dt.timedelta(days=2), piloterrorcode=1305, piloterrordiag="old")
    error_hourly_update()

    data = get_json(client, days="3")

    assert by_error(data)["pilot:1305"]["count"] == 1
    assert by_error(data)["pilot:1305"]["diag"] == "old"
    assert any("hourly error aggregates" in warning for warning in data["warnings"])
    assert data["errsBySite"][0]["name"] == "SITE_A"
    # A user filter is not in the aggregate: the error rows answer, with the same counts.
    per_user = get_json(client, days="3", produsername="alice")
    assert by_error(per_user)["pilot:1305"]["count"] == 1
    assert per_user["warnings"] == []


def test_an_unknown_key_or_bad_value_is_refused_with_400(client):
    assert client.get("/errors/", {"nosuchkey": "1"}).status_code == 400
    response = client.get("/errors/", {"hours": "many", "json": ""})
    assert response.status_code == 400
    assert "hours" in response.json()["error"]


def test_the_html_page_links_each_error_to_the_failed_jobs_with_the_current_filters(client, failures):
    response = client.get("/errors/", {"computingsite": "SITE_A"})

    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert "computingsite=SITE_A" in html
    link = next(
        href for href in (part.split('"')[0] for part in html.split('href="')[1:]) if "piloterrorcode=1305" in href
    )
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "/jobs/"
    assert query == {"computingsite": ["SITE_A"], "hours": ["12"], "jobstatus": ["failed"], "piloterrorcode": ["1305"]}
    assert "PAYLOADEXECUTIONFAILURE" in html
    assert "<svg" in html


def test_the_links_of_the_html_page_select_the_jobs_they_count(client, failures):
    html = unescape(client.get("/errors/").content.decode())
    link = next(href for href in (p.split('"')[0] for p in html.split('href="')[1:]) if "ddmerrorcode=200" in href)

    jobs = client.get(link + "&json").json()["jobs"]

    assert [job["ddmerrorcode"] for job in jobs] == [200]


def test_site_user_and_task_rows_link_to_their_failed_jobs(client, failures):
    html = unescape(client.get("/errors/").content.decode())

    assert "/jobs/?hours=12&jobstatus=failed&computingsite=SITE_B" in html
    assert "/jobs/?hours=12&jobstatus=failed&produsername=bob" in html
    assert "/jobs/?hours=12&jobstatus=failed&jeditaskid=1" in html
    assert "/user/alice/" in html


def test_the_page_costs_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    for i in range(30):
        fail(site=f"SITE_{i % 5}", user=f"user{i % 7}", task=i % 4 + 1, piloterrorcode=1000 + i % 9, exeerrorcode=i % 3)
    with django_assert_max_num_queries(12):
        client.get("/errors/", {"json": ""})
    with django_assert_max_num_queries(12):
        client.get("/errors/")


def test_recording_a_job_again_does_not_double_count(client, failures):
    for job in Job.objects.filter(jobstatus="failed"):
        job_errors_record(job)

    assert by_error(get_json(client))["pilot:1305"]["count"] == 2


def test_the_error_scatter_matrix_counts_failed_and_ended_jobs_per_task_and_site(client, failures):
    JobFactory(jobstatus="finished", computingsite="SITE_B", jeditaskid=2)

    data = get_json(client, "/errorsscat/")

    assert data["sites"] == ["SITE_A", "SITE_B"]
    tasks = {row["jeditaskid"]: row for row in data["tasks"]}
    assert tasks[1]["sites"] == {"SITE_A": {"failed": 2, "total": 3, "percent": 66.7}}
    assert tasks[1]["taskname"] == "mc23.evgen.task1"
    assert tasks[2]["sites"]["SITE_B"] == {"failed": 1, "total": 2, "percent": 50.0}
    assert data["selection"] == {"hours": "12"}


def test_the_error_scatter_page_links_cells_to_the_jobs(client, failures):
    response = client.get("/errorsscat/")

    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "/jobs/?hours=12&jobstatus=failed&jeditaskid=1&computingsite=SITE_A" in html
    assert "2/3" in html


def test_the_error_scatter_page_refuses_bad_filters(client):
    assert client.get("/errorsscat/", {"jeditaskid": "abc"}).status_code == 400


def test_a_long_window_counts_aggregated_hours_and_the_rows_around_them_exactly_once(client):
    now = utcnow()
    fail(at=now - dt.timedelta(hours=40), piloterrorcode=1305)
    fail(at=now - dt.timedelta(hours=50), piloterrorcode=1305)  # before the window
    error_hourly_update()
    fail(at=now - dt.timedelta(minutes=5), piloterrorcode=1305)  # after the aggregate's last run

    data = get_json(client, days="2")

    assert any("hourly error aggregates" in warning for warning in data["warnings"])
    assert by_error(data)["pilot:1305"]["count"] == 2
    assert sum(row["count"] for row in data["errsOverTime"]) == 2
    assert data["errsBySite"] == [
        {
            "name": "SITE_A",
            "errors": {
                "pilot:1305": {"error": "pilot:1305", "codename": "piloterrorcode", "codeval": 1305, "count": 2}
            },
            "toterrors": 2,
            "toterrjobs": None,
        }
    ]


def test_the_long_window_page_costs_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    for i in range(20):
        fail(at=utcnow() - dt.timedelta(hours=i * 3), site=f"SITE_{i % 4}", piloterrorcode=1000 + i % 5)
    error_hourly_update()

    with django_assert_max_num_queries(18):
        data = get_json(client, days="3")

    assert sum(row["count"] for row in data["errsByCount"]) == 20


def test_a_failure_reported_by_a_pilot_over_http_shows_on_the_error_summary(client):
    job = job_with_files(jobstatus="running", computingsite="SITE_X", produsername="carol")
    update = {
        "jobId": job.pandaid,
        "state": "failed",
        "attemptNr": job.attemptnr,
        "xml": "{}",
        "pilotErrorCode": 1305,
        "pilotErrorDiag": "Failed to execute payload: exit 65",
        "exeErrorCode": 65,
        "transExitCode": 65,
    }
    assert post_json(legacy("updateJob"), update, as_pilot()).status_code == 200
    adder_run()

    data = get_json(client, computingsite="SITE_X")

    assert {row["error"]: row["count"] for row in data["errsByCount"]} == {
        "pilot:1305": 1,
        "exe:65": 1,
        "transform:65": 1,
    }
    assert data["errsByUser"][0]["name"] == "carol"


def test_the_permalink_freezes_the_window_and_shows_the_same_errors_later(client, failures):
    page = client.get("/errors/", {"computingsite": "SITE_A", "hours": "6"})
    permalink = unescape(page.context["permalink"])
    query = parse_qs(urlsplit(permalink).query)

    assert urlsplit(permalink).path == "/errors/"
    assert set(query) == {"computingsite", "date_from", "date_to"} and "hours" not in query
    assert 'data-testid="permalink"' in page.content.decode()
    frozen = client.get(permalink + "&json").json()
    assert frozen["errsByCount"] == get_json(client, computingsite="SITE_A", hours="6")["errsByCount"]
