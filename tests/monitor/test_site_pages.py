import datetime as dt
from html import unescape

import pytest

from apps.core.timeutil import utcnow
from apps.shares.models import GlobalShare
from tests.factories import JobFactory, PandaQueueFactory, ResourceTypeFactory, SiteFactory, queue_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def cern():
    site = SiteFactory(name="CERN-PROD", cloud="CERN", tier="T0", country="Switzerland")
    PandaQueueFactory(
        name="CERN_Q1", site=site, document=queue_document("CERN_Q1", "CERN-PROD", cloud="CERN", corecount=8)
    )
    PandaQueueFactory(
        name="CERN_Q2", site=site, document=queue_document("CERN_Q2", "CERN-PROD", cloud="CERN", status="offline")
    )
    return site


def test_a_queue_page_shows_its_document_its_job_counts_and_links_to_its_jobs_and_errors(client, cern):
    JobFactory.create_batch(2, computingsite="CERN_Q1", jobstatus="running")
    JobFactory(computingsite="CERN_Q1", jobstatus="failed")

    page = unescape(client.get("/site/CERN_Q1/").content.decode())
    data = client.get("/site/CERN_Q1/", {"json": ""}).json()

    assert data["queue"]["site"] == "CERN-PROD" and data["queue"]["corecount"] == 8
    assert data["document"]["nickname"] == "CERN_Q1"
    assert data["jobs"] == {"running": 2, "failed": 1}
    assert '"corecount": 8' in page
    assert 'href="/jobs/?computingsite=CERN_Q1&hours=12"' in page
    assert 'href="/errors/?computingsite=CERN_Q1&hours=12"' in page
    assert 'href="/wns/CERN_Q1/"' in page


def test_a_site_page_lists_its_queues_with_their_job_counts(client, cern):
    JobFactory(computingsite="CERN_Q2", jobstatus="activated")

    data = client.get("/site/CERN-PROD/", {"json": ""}).json()

    assert data["site"] == {"name": "CERN-PROD", "cloud": "CERN", "tier": "T0", "country": "Switzerland", "role": ""}
    assert [(q["name"], q["status"], q["jobs"]) for q in data["queues"]] == [
        ("CERN_Q1", "online", {}),
        ("CERN_Q2", "offline", {"activated": 1}),
    ]


def test_an_unknown_queue_or_site_is_a_404(client):
    assert client.get("/site/NOWHERE/").status_code == 404
    assert client.get("/wns/NOWHERE/").status_code == 404


def test_a_bad_hours_value_is_a_400(client, cern):
    response = client.get("/site/CERN_Q1/", {"hours": "-3", "json": ""})

    assert response.status_code == 400
    assert "hours must be a whole number" in response.json()["error"]
    assert client.get("/wns/CERN_Q1/", {"days": "3"}).status_code == 400


def test_worker_nodes_count_jobs_per_node_and_flag_a_black_hole(client, cern):
    JobFactory.create_batch(6, computingsite="CERN_Q1", jobstatus="failed", modificationhost="pilot@wn-bad.cern.ch")
    JobFactory.create_batch(8, computingsite="CERN_Q1", jobstatus="finished", modificationhost="wn-good.cern.ch")
    JobFactory(computingsite="CERN_Q2", jobstatus="finished", modificationhost="pilot@wn-good.cern.ch")
    JobFactory(
        computingsite="CERN_Q1",
        jobstatus="failed",
        modificationhost="wn-old.cern.ch",
        modificationtime=utcnow() - dt.timedelta(hours=30),
    )

    data = client.get("/wns/CERN-PROD/", {"json": ""}).json()
    page = client.get("/wns/CERN_Q1/").content.decode()

    nodes = {node["wn"]: node for node in data["workernodes"]}
    assert set(nodes) == {"wn-bad.cern.ch", "wn-good.cern.ch"}
    assert nodes["wn-good.cern.ch"]["states"] == {"finished": 9}
    assert (nodes["wn-bad.cern.ch"]["failed"], nodes["wn-bad.cern.ch"]["black_hole"]) == (6, True)
    assert not nodes["wn-good.cern.ch"]["black_hole"]
    assert "wn-bad.cern.ch fails most of its jobs" in page
    assert "wn-old" in client.get("/wns/CERN_Q1/", {"hours": "48"}).content.decode()


def test_a_queue_that_fails_everywhere_has_no_black_hole(client, cern):
    for node in ("wn1", "wn2"):
        JobFactory.create_batch(5, computingsite="CERN_Q1", jobstatus="failed", modificationhost=node)

    data = client.get("/wns/CERN_Q1/", {"json": ""}).json()

    assert [node["black_hole"] for node in data["workernodes"]] == [False, False]


def test_a_worker_node_page_shows_its_errors_and_jobs(client, cern):
    JobFactory.create_batch(2, computingsite="CERN_Q1", jobstatus="failed", piloterrorcode=1305, modificationhost="wn1")
    JobFactory(computingsite="CERN_Q1", jobstatus="failed", exeerrorcode=65, modificationhost="wn1")
    finished = JobFactory(computingsite="CERN_Q1", jobstatus="finished", modificationhost="pilot@wn1")
    JobFactory(computingsite="CERN_Q1", jobstatus="finished", modificationhost="wn2")

    data = client.get("/wn/CERN_Q1/wn1/", {"json": ""}).json()
    page = client.get("/wn/CERN_Q1/wn1/").content.decode()

    assert data["summary"]["states"] == {"finished": 1, "failed": 3}
    assert data["errors"] == [
        {"field": "piloterrorcode", "code": 1305, "count": 2},
        {"field": "exeerrorcode", "code": 65, "count": 1},
    ]
    assert len(data["jobs"]) == 4
    assert f'href="/job/{finished.pandaid}/"' in page


def test_the_worker_node_pages_take_a_fixed_number_of_queries(client, cern, django_assert_max_num_queries):
    for n in range(20):
        JobFactory(computingsite="CERN_Q1", jobstatus="failed", piloterrorcode=1000 + n, modificationhost=f"wn{n}")

    with django_assert_max_num_queries(3):
        client.get("/wns/CERN_Q1/")
    with django_assert_max_num_queries(3 + 5 + 1):  # queue, nodes, one GROUP BY per error field, jobs
        client.get("/wn/CERN_Q1/wn1/")


def test_global_shares_show_the_tree_with_targets_and_usage(client):
    root = GlobalShare.objects.create(name="Production", value=80)
    GlobalShare.objects.create(name="MC", parent=root, value=50, rank=1)
    GlobalShare.objects.create(name="Reprocessing", parent=root, value=50, rank=2)
    GlobalShare.objects.create(name="Analysis", value=20)
    JobFactory.create_batch(2, gshare="MC", jobstatus="running")
    JobFactory(gshare="MC", jobstatus="activated")

    data = client.get("/globalshares/", {"json": ""}).json()
    page = client.get("/globalshares/").content.decode()

    shares = [(s["name"], s["depth"], s["target"], s["running"], s["activated"]) for s in data["shares"]]
    assert shares == [
        ("Analysis", 0, 20.0, 0, 0),
        ("Production", 0, None, 0, 0),
        ("MC", 1, 40.0, 2, 1),
        ("Reprocessing", 1, 40.0, 0, 0),
    ]
    assert 'href="/jobs/?gshare=MC"' in page


def test_resource_types_list_their_bounds_and_active_jobs(client):
    ResourceTypeFactory(name="SCORE", mincore=1, maxcore=1)
    ResourceTypeFactory(name="MCORE", mincore=2, maxcore=None)
    JobFactory(resource_type="MCORE", jobstatus="running")
    JobFactory(resource_type="MCORE", jobstatus="finished")

    data = client.get("/resourcetypes/", {"json": ""}).json()

    assert [(rt["name"], rt["maxcore"], rt["jobs"]) for rt in data["resourcetypes"]] == [
        ("MCORE", None, {"running": 1}),
        ("SCORE", 1, {}),
    ]
    assert client.get("/resourcetypes/").status_code == 200


def test_the_sites_page_lists_queues_with_site_facets(client, cern):
    fzk = SiteFactory(name="FZK", cloud="DE", tier="T1", country="Germany")
    PandaQueueFactory(name="FZK_Q", site=fzk, document=queue_document("FZK_Q", "FZK", cloud="DE", harvester="h1"))

    data = client.get("/sites/", {"json": ""}).json()
    page = client.get("/sites/").content.decode()

    assert [row["name"] for row in data["sites"]] == ["CERN_Q1", "CERN_Q2", "FZK_Q"]
    assert data["sites"][2]["site"] == "FZK" and data["sites"][2]["tier"] == "T1"
    summary = {facet["field"]: {v["kname"]: v["kvalue"] for v in facet["list"]} for facet in data["selectionsummary"]}
    assert summary["status"] == {"online": 2, "offline": 1}
    assert summary["country"] == {"Switzerland": 2, "Germany": 1}
    assert summary["harvester"] == {"h1": 1, "Not specified": 2}
    assert 'href="?status=offline"' in page
    assert 'href="/site/FZK_Q/"' in page


def test_site_filters_narrow_the_queue_list(client, cern):
    PandaQueueFactory(name="FZK_Q", site=SiteFactory(name="FZK", cloud="DE", tier="T1"))

    def names(**params):
        return [row["name"] for row in client.get("/sites/", {**params, "json": ""}).json()["sites"]]

    assert names(status="offline") == ["CERN_Q2"]
    assert names(tier="T1") == ["FZK_Q"]
    assert names(name="CERN*") == ["CERN_Q1", "CERN_Q2"]
    assert client.get("/sites/", {"hours": "3"}).status_code == 400


def test_the_copytool_facet_counts_the_stage_in_copytool_and_its_filter_narrows_the_list(client, cern):
    site = SiteFactory(name="BNL")
    for name, copytools in (("BNL_A", ["rucio"]), ("BNL_B", ["xrdcp", "rucio"]), ("BNL_C", ["rucio"])):
        document = queue_document(name, "BNL", acopytools={"pr": copytools, "pw": ["rucio"]})
        PandaQueueFactory(name=name, site=site, document=document)

    def names(**params):
        return [row["name"] for row in client.get("/sites/", {**params, "json": ""}).json()["sites"]]

    data = client.get("/sites/", {"json": "", "site": "BNL"}).json()
    summary = {facet["field"]: {v["kname"]: v["kvalue"] for v in facet["list"]} for facet in data["selectionsummary"]}
    assert summary["copytool"] == {"rucio": 2, "xrdcp": 1}
    assert 'href="?copytool=xrdcp"' in client.get("/sites/").content.decode()
    assert names(copytool="xrdcp") == ["BNL_B"]
    assert names(copytool="rucio|xrdcp", site="BNL") == ["BNL_A", "BNL_B", "BNL_C"]
    assert names(copytool="RUC*") == ["BNL_A", "BNL_C"]
    assert names(copytool="mv") == ["CERN_Q1", "CERN_Q2"]  # the factory's document


def test_the_sites_page_takes_a_fixed_number_of_queries(client, cern, django_assert_max_num_queries):
    for n in range(10):
        PandaQueueFactory(name=f"X_{n}", site=SiteFactory(name=f"XS_{n}"))

    with django_assert_max_num_queries(1 + 9):  # the rows, one GROUP BY per facet
        client.get("/sites/")


def test_every_link_of_a_queue_page_opens(client, cern):
    JobFactory(computingsite="CERN_Q1", jobstatus="failed", piloterrorcode=1305)

    links = client.get("/site/CERN_Q1/", {"json": ""}).json()["links"]

    assert set(links) == {"jobs", "failed jobs", "errors", "worker nodes", "Harvester workers", "dashboard"}
    for label, href in links.items():
        assert client.get(href).status_code == 200, label
