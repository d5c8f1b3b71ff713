"""Golden URLs of the dashboards, sites, worker-node, Harvester and front pages (monitor.md §1, §8 Tests).

Each real-world URL answers 200 in HTML and in JSON, and both echo the same normalized selection.
"""

import datetime as dt
from html import unescape

import pytest

from apps.core.timeutil import utcnow
from apps.monitor.services.snapshots import queue_snapshot_take
from apps.shares.models import GlobalShare
from apps.workers.models import HarvesterInstance, HarvesterSlots, JobWorker, Worker
from tests.factories import JobFactory, PandaQueueFactory, ResourceTypeFactory, SiteFactory, queue_document
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


def queue(name, site, **document):
    """A queue whose document names its site's cloud, as CRIC documents do."""
    return PandaQueueFactory(
        name=name, site=site, document=queue_document(name, site.name, cloud=site.cloud, **document)
    )


# (URL, the selection echo the HTML page shows; None for pages without a selection line)
GOLDEN = [
    ("/", None),
    ("/dash/", "view=region"),
    ("/dash/region/", "view=region"),
    ("/dash/region/?jobtype=prod", "view=region, jobtype=production"),
    ("/dash/region/?jobtype=analy", "view=region, jobtype=analysis"),
    ("/dash/region/?jobtype=analysis&splitby=resourcetype", "view=region, jobtype=analysis, splitby=resourcetype"),
    ("/dash/region/?splitby=jobtype", "view=region, splitby=jobtype"),
    ("/dash/region/?resourcetype=MCORE", "view=region, resourcetype=MCORE"),
    ("/dash/region/?region=DE", "view=region, region=DE"),
    ("/dash/region/?site=CERN-PROD&jobtype=prod", "view=region, jobtype=production, site=CERN-PROD"),
    ("/dash/region/?region=CERN&timestamp=1700000000", "view=region, region=CERN"),
    ("/dash/world/", "view=world"),
    ("/dash/world/?jobtype=prod&resourcetype=SCORE", "view=world, jobtype=production, resourcetype=SCORE"),
    ("/dash/es/", "view=es"),
    ("/dash/es/?region=DE&splitby=resourcetype", "view=es, splitby=resourcetype, region=DE"),
    ("/dash/analysis/", "view=region, jobtype=analysis"),
    ("/dash/production/", "view=region, jobtype=production"),
    ("/dash/production/?splitby=resourcetype", "view=region, jobtype=production, splitby=resourcetype"),
    ("/status_summary/", "nhours=12"),
    ("/status_summary/?nhours=24", "nhours=24"),
    ("/status_summary/?cloud=CERN,DE&status=-offline", "nhours=12, cloud=CERN,DE, status=-offline"),
    ("/status_summary/?computingsite=-CERN_Q2&jobtype=analy", "nhours=12, computingsite=-CERN_Q2, jobtype=analysis"),
    ("/status_summary/?resourcetype=SCORE&nhours=6", "nhours=6, resourcetype=SCORE"),
    ("/sites/", None),
    ("/sites/?cloud=DE", "cloud=DE"),
    ("/sites/?status=online&tier=T1", "status=online, tier=T1"),
    ("/sites/?name=CERN*", "name=CERN*"),
    ("/site/CERN_Q1/", "queue=CERN_Q1, hours=12"),
    ("/site/CERN_Q1/?hours=48", "queue=CERN_Q1, hours=48"),
    ("/site/CERN-PROD/", "site=CERN-PROD, hours=12"),
    ("/wns/CERN_Q1/", "site=CERN_Q1, hours=12"),
    ("/wns/CERN-PROD/?hours=24", "site=CERN-PROD, hours=24"),
    ("/wn/CERN_Q1/wn1.cern.ch/", "site=CERN_Q1, wn=wn1.cern.ch, hours=12"),
    ("/globalshares/", None),
    ("/resourcetypes/", None),
    ("/harvester/instances/", "hours=12"),
    ("/harvester/instances/?hours=48", "hours=48"),
    ("/harvester/workers/", "hours=12"),
    ("/harvester/workers/?instance=CERN_A", "instance=CERN_A, hours=12"),
    (
        "/harvester/workers/?computingsite=CERN_Q1&status=running&hours=6",
        "computingsite=CERN_Q1, status=running, hours=6",
    ),
    ("/harvester/workers/?harvesterid=CERN_A&days=2", "harvesterid=CERN_A, days=2"),
    ("/harvester/worker/1/?harvesterid=CERN_A", None),
    ("/harvester/slots/", None),
    ("/workersfortask/?jeditaskid=42", "jeditaskid=42"),
    ("/help/", None),
]


@pytest.fixture
def grid():
    cern = SiteFactory(name="CERN-PROD", cloud="CERN", tier="T0", country="Switzerland")
    fzk = SiteFactory(name="FZK", cloud="DE", tier="T1", country="Germany")
    queue("CERN_Q1", cern)
    queue("CERN_Q2", cern, status="offline")
    queue("FZK_Q", fzk)
    ResourceTypeFactory(name="SCORE")
    GlobalShare.objects.create(name="Production", value=100)
    TaskFactory(jeditaskid=42, status="running")
    jobs = JobFactory.create_batch(3, computingsite="CERN_Q1", jobstatus="running", jeditaskid=42, nucleus="CERN-PROD")
    JobFactory(computingsite="CERN_Q1", jobstatus="failed", modificationhost="wn1.cern.ch", piloterrorcode=1305)
    JobFactory(computingsite="FZK_Q", jobstatus="activated", prodsourcelabel="user", resource_type="MCORE")
    HarvesterInstance.objects.create(harvester_id="CERN_A", hostname="a.cern.ch")
    moment = utcnow() - dt.timedelta(hours=1)
    Worker.objects.create(
        harvesterid="CERN_A",
        workerid=1,
        status="running",
        computingsite="CERN_Q1",
        submittime=moment,
        lastupdate=moment,
    )
    JobWorker.objects.create(harvesterid="CERN_A", workerid=1, pandaid=jobs[0].pandaid)
    HarvesterSlots.objects.create(pandaqueuename="CERN_Q1", numslots=10)
    queue_snapshot_take()


def with_json(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "json"


@pytest.mark.parametrize(("url", "echo"), GOLDEN, ids=[url for url, _ in GOLDEN])
def test_a_golden_url_answers_in_html_and_json_with_the_same_selection_echo(client, grid, url, echo):
    html = client.get(url)
    as_json = client.get(with_json(url))
    by_header = client.get(url, HTTP_ACCEPT="application/json")

    assert html.status_code == as_json.status_code == by_header.status_code == 200
    page = unescape(html.content.decode())
    data = as_json.json()
    assert by_header.json() == data
    if echo is None:
        assert 'data-testid="selection"' not in page
    else:
        assert f'data-testid="selection">{echo}</p>' in page
        assert ", ".join(f"{key}={value}" for key, value in data["selection"].items()) == echo


def test_there_are_at_least_25_golden_urls():
    assert len(GOLDEN) >= 25
