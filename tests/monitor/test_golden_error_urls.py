"""Golden URLs of the error summary and user pages: real-world BigPanDA URL forms answer 200 with the
expected selection echo, as HTML (the subtitle) and as JSON (``selection``)."""

import re
from html import unescape

import pytest

from apps.jobs.services.transitions import job_change_status
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory

pytestmark = pytest.mark.django_db

DEEP = {"days": "180", "limit": "200000", "mode": "drop"}

GOLDEN = [
    ("/errors/", {"hours": "12"}),
    ("/errors/?hours=24", {"hours": "24"}),
    ("/errors/?days=3", {"days": "3"}),
    ("/errors/?jobtype=analysis", {"jobtype": "analysis", "hours": "6"}),
    ("/errors/?jobtype=analy", {"jobtype": "analysis", "hours": "6"}),
    ("/errors/?jobtype=production&hours=6", {"jobtype": "production", "hours": "6"}),
    ("/errors/?computingsite=CERN-PROD", {"computingsite": "CERN-PROD", "hours": "12"}),
    ("/errors/?computingsite=CERN*|BNL*", {"computingsite": "CERN*|BNL*", "hours": "12"}),
    ("/errors/?computingsite=!CERN-PROD&hours=24", {"computingsite": "!CERN-PROD", "hours": "24"}),
    ("/errors/?produsername=alice", {"produsername": "alice", "hours": "12"}),
    ("/errors/?produsername=Not%20specified", {"produsername": "Not specified", "hours": "12"}),
    ("/errors/?jeditaskid=123", {"jeditaskid": "123", **DEEP}),
    ("/errors/?jeditaskid=123&hours=12", {"jeditaskid": "123", "hours": "12", "limit": "200000", "mode": "drop"}),
    ("/errors/?jeditaskid=123&mode=nodrop", {"jeditaskid": "123", "days": "180", "limit": "200000", "mode": "nodrop"}),
    ("/errors/?piloterrorcode=1305", {"piloterrorcode": "1305", "hours": "12"}),
    (
        "/errors/?exeerrorcode=65&computingsite=CERN-PROD",
        {"computingsite": "CERN-PROD", "exeerrorcode": "65", "hours": "12"},
    ),
    ("/errors/?transexitcode=1", {"transexitcode": "1", "hours": "12"}),
    ("/errors/?prodsourcelabel=user&hours=3", {"prodsourcelabel": "user", "hours": "3"}),
    ("/errors/?date_from=2026-01-01&date_to=2026-01-02", {"date_from": "2026-01-01", "date_to": "2026-01-02"}),
    ("/errors/?cloud=DE&days=2", {"cloud": "DE", "days": "2"}),
    ("/errors/?jobtype=analysis&timestamp=1700000000", {"jobtype": "analysis", "hours": "6"}),
    (
        "/errors/?taskbuffererrorcode=100|102&display_limit=20",
        {"taskbuffererrorcode": "100|102", "hours": "12", "display_limit": "20"},
    ),
    ("/errors/?errorcategory=lostheartbeat&days=1", {"errorcategory": "lostheartbeat", "days": "1"}),
    ("/errors/?region=CERN", {"region": "CERN", "hours": "12"}),
    ("/errors/?jobstatus=failed&hours=48", {"jobstatus": "failed", "hours": "48"}),
    ("/errorsscat/", {"hours": "12"}),
    ("/errorsscat/?hours=24&jobtype=production", {"jobtype": "production", "hours": "24"}),
    ("/errorsscat/?jeditaskid=123", {"jeditaskid": "123", **DEEP}),
    ("/errorsscat/?computingsite=CERN-PROD&days=7", {"computingsite": "CERN-PROD", "days": "7"}),
    ("/users/", {"days": "7"}),
    ("/users/?days=30", {"days": "30"}),
    ("/users/?hours=6", {"hours": "6"}),
    ("/users/?computingsite=CERN-PROD", {"computingsite": "CERN-PROD", "days": "7"}),
    ("/user/alice/", {"produsername": "alice", "days": "7"}),
    ("/user/alice/?days=3", {"produsername": "alice", "days": "3"}),
    ("/user/alice/?jobstatus=failed", {"produsername": "alice", "jobstatus": "failed", "days": "7"}),
    ("/userProfile/alice/?days=30", {"produsername": "alice", "days": "30"}),
]


@pytest.fixture(autouse=True)
def grid():
    PandaQueueFactory(name="CERN-PROD", site=SiteFactory(name="CERN", cloud="CERN"))
    job = JobFactory(jobstatus="running", produsername="alice", computingsite="CERN-PROD", jeditaskid=123)
    job_change_status(job, new="failed", changes={"piloterrorcode": 1305})


def with_json(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "json"


def echo_text(echo: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in echo.items())


@pytest.mark.parametrize(("url", "echo"), GOLDEN)
def test_a_golden_url_answers_json_with_its_selection(client, url, echo):
    response = client.get(with_json(url))

    assert response.status_code == 200, response.content
    assert response.json()["selection"] == echo


@pytest.mark.parametrize(("url", "echo"), GOLDEN)
def test_a_golden_url_answers_html_with_its_selection_echo(client, url, echo):
    response = client.get(url)

    assert response.status_code == 200, response.content
    shown = re.search(r'data-testid="selection">(.*?)</p>', response.content.decode(), re.S)
    assert shown is not None
    assert unescape(shown.group(1)) == echo_text(echo)


def test_the_golden_list_is_long_enough():
    assert len(GOLDEN) >= 20
    assert {url.split("?")[0] for url, _ in GOLDEN} >= {"/errors/", "/errorsscat/", "/users/", "/user/alice/"}


@pytest.mark.parametrize(
    "url",
    [
        "/errors/?hours=0",
        "/errors/?hours=12&days=1",
        "/errors/?computingsite=",
        "/errors/?computingsite=CERN%25",
        "/errors/?piloterrorcode=abc",
        "/errors/?jobtype=nonsense",
        "/errors/?unknownkey=1",
        "/errorsscat/?date_from=2026-02-01&date_to=2026-01-01",
        "/users/?days=-1",
    ],
)
def test_a_malformed_url_answers_400_with_the_reason(client, url):
    response = client.get(with_json(url))

    assert response.status_code == 400
    assert response.json()["error"]
    assert client.get(url).status_code == 400
