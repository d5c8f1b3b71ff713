"""/prmonplots/<pandaid>/: a job's memory and I/O summary as its pilot reported it (monitor.md §1 "Job")."""

import pytest

from apps.jobs.states import JobStatus
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def measured_job():
    return JobFactory(
        jobstatus=JobStatus.RUNNING,
        maxrss=2_048_000,
        avgrss=1_024_000,
        maxpss=1_536_000,
        avgpss=768_000,
        maxvmem=4_096_000,
        avgvmem=3_072_000,
        maxswap=0,
        avgswap=0,
        totrchar=5000,
        raterchar=50,
        memory_leak=12,
        memory_leak_x2=0.5,
    )


def test_prmonplots_shows_the_stored_summary_and_says_no_series_is_kept(client, measured_job):
    data = client.get(f"/prmonplots/{measured_job.pandaid}/?json").json()

    memory = {row["name"]: (row["max_kb"], row["avg_kb"]) for row in data["memory"]}
    assert memory == {
        "RSS": (2_048_000, 1_024_000),
        "PSS": (1_536_000, 768_000),
        "VMEM": (4_096_000, 3_072_000),
        "swap": (0, 0),
    }
    assert {row["field"]: row["value"] for row in data["io"]}["totrchar"] == 5000
    assert data["job"]["memory_leak"] == 12
    assert data["timeseries"] is None
    assert "no time series is recorded" in data["note"]
    assert data["reported"] is True


def test_prmonplots_html_plots_max_and_average_memory(client, measured_job):
    html = client.get(f"/prmonplots/{measured_job.pandaid}/").content.decode()

    assert "max RSS: 2,000" in html
    assert "avg PSS: 750" in html
    assert 'data-testid="no-series"' in html


def test_prmonplots_of_a_job_without_values_warns(client, db):
    job = JobFactory()

    data = client.get(f"/prmonplots/{job.pandaid}/?json").json()

    assert data["reported"] is False
    assert data["warnings"] == ["The pilot has not reported memory values for this job (yet)."]


def test_prmonplots_of_an_unknown_job_is_404(client, db):
    assert client.get("/prmonplots/424242/").status_code == 404
