import datetime as dt
import re
from html import unescape

import pytest

from apps.core.timeutil import utcnow
from apps.monitor.services.snapshots import queue_snapshot_take
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, queue_document

pytestmark = pytest.mark.django_db


def queue(name, site, **document):
    """A queue whose document names its site's cloud, as CRIC documents do."""
    return PandaQueueFactory(
        name=name, site=site, document=queue_document(name, site.name, cloud=site.cloud, **document)
    )


@pytest.fixture
def grid():
    """Two regions: CERN (site CERN-PROD, queues CERN_Q1, CERN_Q2) and DE (site FZK, queue FZK_Q)."""
    cern, fzk = SiteFactory(name="CERN-PROD", cloud="CERN"), SiteFactory(name="FZK", cloud="DE")
    queue("CERN_Q1", cern)
    queue("CERN_Q2", cern)
    queue("FZK_Q", fzk)
    JobFactory.create_batch(3, computingsite="CERN_Q1", jobstatus="running", nucleus="CERN-PROD")
    JobFactory(computingsite="CERN_Q1", jobstatus="activated", prodsourcelabel="user", resource_type="MCORE")
    JobFactory(computingsite="CERN_Q2", jobstatus="failed", nucleus="CERN-PROD")
    JobFactory.create_batch(2, computingsite="FZK_Q", jobstatus="running", nucleus="FZK", prodsourcelabel="user")


def dash(client, url, **params):
    response = client.get(url, {**params, "json": ""})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_region_dashboard_nests_counts_per_region_site_and_queue(client, grid):
    queue_snapshot_take()

    data = dash(client, "/dash/region/")

    assert data["source"] == "snapshot"
    assert data["totals"] == {"activated": 1, "running": 5, "failed": 1}
    assert list(data["regions"]) == ["CERN", "DE"]
    cern = data["regions"]["CERN"]
    assert cern["states"] == {"running": 3, "activated": 1, "failed": 1}
    assert cern["sites"]["CERN-PROD"]["queues"]["CERN_Q1"]["states"] == {"running": 3, "activated": 1}
    assert data["regions"]["DE"]["sites"]["FZK"]["queues"]["FZK_Q"]["states"] == {"running": 2}
    assert data["states"] == ["activated", "running", "failed"]


def test_without_a_snapshot_the_dashboard_counts_live_and_says_so(client, grid):
    data = dash(client, "/dash/region/")
    page = client.get("/dash/region/").content.decode()

    assert data["source"] == "live" and data["taken_at"] is None
    assert data["regions"]["CERN"]["states"] == {"running": 3, "activated": 1, "failed": 1}
    assert "No recent queue snapshot" in page


def test_a_stale_snapshot_is_not_shown_as_the_current_state(client, grid):
    queue_snapshot_take(now=utcnow() - dt.timedelta(hours=1))

    assert dash(client, "/dash/region/")["source"] == "live"


def test_snapshot_and_live_counts_agree_for_every_filter(client, grid):
    selections = [
        {},
        {"jobtype": "analy"},
        {"jobtype": "prod"},
        {"resourcetype": "MCORE"},
        {"region": "DE"},
        {"site": "CERN-PROD"},
        {"site": "CERN_Q2"},
        {"splitby": "jobtype"},
        {"splitby": "resourcetype"},
    ]
    live = [dash(client, "/dash/region/", **params) for params in selections]
    queue_snapshot_take()
    snapshot = [dash(client, "/dash/region/", **params) for params in selections]

    for before, after in zip(live, snapshot, strict=True):
        assert (before["source"], after["source"]) == ("live", "snapshot")
        assert before["regions"] == after["regions"]


def test_jobtype_selects_analysis_or_production_jobs(client, grid):
    queue_snapshot_take()

    analysis = dash(client, "/dash/region/", jobtype="analy")
    production = dash(client, "/dash/", jobtype="production")

    assert analysis["totals"] == {"activated": 1, "running": 2}
    assert production["totals"] == {"running": 3, "failed": 1}
    assert dash(client, "/dash/analysis/") == analysis | {"selection": {"view": "region", "jobtype": "analysis"}}
    assert dash(client, "/dash/production/")["totals"] == production["totals"]


def test_splitby_breaks_each_queue_down_by_jobtype_or_resource_type(client, grid):
    queue_snapshot_take()

    by_type = dash(client, "/dash/region/", splitby="jobtype")
    by_resource = dash(client, "/dash/region/", splitby="resourcetype")

    queue = by_type["regions"]["CERN"]["sites"]["CERN-PROD"]["queues"]["CERN_Q1"]
    assert queue["split"] == {"analysis": {"activated": 1}, "production": {"running": 3}}
    queue = by_resource["regions"]["CERN"]["sites"]["CERN-PROD"]["queues"]["CERN_Q1"]
    assert queue["split"] == {"MCORE": {"activated": 1}, "SCORE": {"running": 3}}


def test_region_and_site_narrow_the_dashboard(client, grid):
    queue_snapshot_take()

    assert list(dash(client, "/dash/region/", region="DE")["regions"]) == ["DE"]
    site = dash(client, "/dash/region/", site="CERN-PROD")["regions"]["CERN"]["sites"]
    assert list(site["CERN-PROD"]["queues"]) == ["CERN_Q1", "CERN_Q2"]
    queue = dash(client, "/dash/region/", site="CERN_Q2")["regions"]["CERN"]["sites"]["CERN-PROD"]["queues"]
    assert list(queue) == ["CERN_Q2"]


def test_the_world_dashboard_groups_by_nucleus(client, grid):
    queue_snapshot_take()

    data = dash(client, "/dash/world/")

    assert list(data["nuclei"]) == ["CERN-PROD", "FZK", "Not specified"]
    assert data["nuclei"]["CERN-PROD"]["states"] == {"running": 3, "failed": 1}
    assert data["nuclei"]["Not specified"]["sites"]["CERN-PROD"]["queues"]["CERN_Q1"]["states"] == {"activated": 1}


def test_jobs_of_an_unconfigured_queue_show_under_an_unspecified_region(client, grid):
    JobFactory(computingsite="GHOST_Q", jobstatus="running")

    data = dash(client, "/dash/region/")

    assert data["regions"]["Not specified"]["sites"]["GHOST_Q"]["queues"]["GHOST_Q"]["states"] == {"running": 1}


def test_the_html_dashboard_links_each_count_to_its_jobs_and_plots_the_queue_load(client, grid):
    queue_snapshot_take()

    page = client.get("/dash/region/", {"jobtype": "prod"}).content.decode()

    assert "view=region, jobtype=production" in page
    link = "/jobs/?computingsite=CERN_Q1&amp;prodsourcelabel=%21user%7C%21panda&amp;hours=12&amp;jobstatus=running"
    assert f'href="{link}">3</a>' in page
    assert 'href="/site/CERN_Q1/"' in page
    assert "<svg" in page and "Queue load" in page


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"jobtype": "batch"}, "jobtype must be analy"),
        ({"splitby": "cloud"}, "splitby must be one of"),
        ({"hours": "12"}, "unknown parameter hours"),
        ({"region": ""}, "empty value for 'region'"),
    ],
)
def test_a_bad_dashboard_parameter_is_a_400_naming_it(client, params, message):
    html = client.get("/dash/region/", params)
    data = client.get("/dash/region/", {**params, "json": ""})

    assert html.status_code == data.status_code == 400
    assert message in unescape(html.content.decode())
    assert message in data.json()["error"]


def test_the_dashboard_takes_a_fixed_number_of_queries_whatever_the_number_of_queues(
    client, grid, django_assert_max_num_queries
):
    queue_snapshot_take()
    for n in range(10):
        queue(f"EXTRA_{n}", SiteFactory(name=f"EXTRA_SITE_{n}", cloud="FR"))
        JobFactory(computingsite=f"EXTRA_{n}", jobstatus="running")
    queue_snapshot_take(now=utcnow() + dt.timedelta(minutes=1))

    with django_assert_max_num_queries(4):
        client.get("/dash/region/", {"json": ""})
    with django_assert_max_num_queries(4):
        client.get("/dash/region/")


def test_the_status_summary_counts_jobs_per_queue(client, grid):
    response = client.get("/status_summary/api/")

    assert response.status_code == 200
    rows = {row["pandaqueue"]: row for row in response.json()["queues"]}
    assert rows["CERN_Q1"] == {
        "pandaqueue": "CERN_Q1",
        "site": "CERN-PROD",
        "cloud": "CERN",
        "status": "online",
        "type": "unified",
        "jobs": {"activated": 1, "running": 3},
        "total": 4,
    }
    assert set(rows) == {"CERN_Q1", "CERN_Q2", "FZK_Q"}


def test_the_status_summary_accepts_lists_and_negations(client, grid):
    def queues(**params):
        return [row["pandaqueue"] for row in client.get("/status_summary/api/", params).json()["queues"]]

    assert queues(cloud="-CERN") == ["FZK_Q"]
    assert queues(cloud="CERN,DE", computingsite="-CERN_Q2") == ["CERN_Q1", "FZK_Q"]
    assert queues(jobtype="analysis") == ["CERN_Q1", "FZK_Q"]
    assert queues(jobtype="-prod") == ["CERN_Q1", "FZK_Q"]
    assert queues(resourcetype="-SCORE") == ["CERN_Q1"]


def test_the_status_summary_counts_final_jobs_of_the_last_nhours(client, grid):
    JobFactory(computingsite="FZK_Q", jobstatus="finished", modificationtime=utcnow() - dt.timedelta(hours=20))

    short = client.get("/status_summary/api/", {"nhours": "12"}).json()
    long = client.get("/status_summary/api/", {"nhours": "24"}).json()

    fzk = {row["pandaqueue"]: row["jobs"] for row in long["queues"]}["FZK_Q"]
    assert fzk == {"running": 2, "finished": 1}
    assert {row["pandaqueue"]: row["jobs"] for row in short["queues"]}["FZK_Q"] == {"running": 2}


def test_the_status_summary_page_renders_the_table_and_its_json_twin(client, grid):
    page = client.get("/status_summary/", {"cloud": "DE"})
    data = client.get("/status_summary/", {"cloud": "DE", "json": ""}).json()

    assert page.status_code == 200
    assert "nhours=12, cloud=DE" in page.content.decode()
    assert [row["pandaqueue"] for row in data["queues"]] == ["FZK_Q"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nhours": "twelve"}, "nhours must be a whole number"),
        ({"nhours": "0"}, "nhours must be a whole number"),
        ({"cloud": ""}, "empty value in cloud"),
        ({"cloud": "CERN,"}, "empty value in cloud"),
        ({"days": "2"}, "unknown parameter days"),
        ({"jobtype": "-batch"}, "jobtype must be"),
    ],
)
def test_a_bad_status_summary_parameter_is_a_400(client, params, message):
    response = client.get("/status_summary/api/", params)

    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize("params", [{}, {"jobtype": "analysis"}, {"splitby": "jobtype"}])
def test_every_dashboard_count_links_to_exactly_its_jobs(client, grid, params):
    JobFactory(computingsite="CERN_Q2", jobstatus="running", prodsourcelabel=None)
    queue_snapshot_take()
    page = client.get("/dash/region/", params).content.decode()

    cells = re.findall(r'<td><a href="(/jobs/\?[^"]+)">(\d+)</a></td>', page)

    assert cells
    for href, count in cells:
        jobs = client.get(unescape(href) + "&json").json()["jobs"]
        assert len(jobs) == int(count), href


def test_the_event_service_dashboard_counts_event_service_and_merge_jobs_live(client, grid):
    JobFactory(computingsite="FZK_Q", jobstatus="running", eventservice=1)
    JobFactory(computingsite="FZK_Q", jobstatus="finished", eventservice=2)
    queue_snapshot_take()

    data = dash(client, "/dash/es/")
    page = client.get("/dash/es/").content.decode()

    assert (data["source"], data["view"]) == ("live", "es")
    assert data["regions"] == {
        "DE": {
            "states": {"running": 1, "finished": 1},
            "sites": {
                "FZK": {
                    "states": {"running": 1, "finished": 1},
                    "queues": {"FZK_Q": {"states": {"running": 1, "finished": 1}, "status": "online"}},
                }
            },
        }
    }
    assert "always counted live" in page
    cells = re.findall(r'<td><a href="(/jobs/\?[^"]+)">(\d+)</a></td>', page)
    for href, count in cells:
        assert len(client.get(unescape(href) + "&json").json()["jobs"]) == int(count), href
