"""The job page, its status log and retry chain pages, and the log file browser."""

import datetime as dt
import io
import re
import tarfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.jedi.models import JobRetryHistory
from apps.jobs.models import FileType, JobFile, JobStatusLog, JobText
from apps.jobs.services.pilot_updates import job_update_from_pilot
from apps.jobs.states import JobStatus
from apps.monitor.selectors import log_files
from tests.factories import JobFactory, StorageEndpointFactory, job_with_files

pytestmark = pytest.mark.django_db


def failed_job(**fields):
    return job_with_files(
        jobstatus=JobStatus.FAILED,
        piloterrorcode=1150,
        piloterrordiag="Looping job killed by pilot",
        taskbuffererrorcode=106,
        taskbuffererrordiag="retried by server",
        **fields,
    )


def test_the_job_page_shows_fields_files_errors_with_descriptions_and_log_links(client):
    job = failed_job(batchid="batch.77")
    response = client.get(f"/job/{job.pandaid}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"EVNT.{job.pandaid}._000000.pool.root.1" in html
    assert "mc23:mc23.EVNT.e1" in html
    assert "LOOPINGJOB: Looping job killed by pilot" in html
    assert "retried by the server" in html
    assert f"/filebrowser/?pandaid={job.pandaid}&amp;filename=pilotlog.txt" in html
    assert f"/filebrowser/?pandaid={job.pandaid}&amp;filename=payload.stderr" in html
    assert "--in=${IN}" in html


def test_the_job_json_carries_the_legacy_keys_with_every_field(client):
    job = failed_job()
    data = client.get(f"/job/{job.pandaid}/?json").json()
    assert {"job", "files", "dsfiles"} <= set(data)
    assert data["job"]["pandaid"] == job.pandaid
    assert data["job"]["piloterrorcode"] == 1150
    assert "modificationtime" in data["job"] and isinstance(data["job"]["modificationtime"], str)
    assert [f["type"] for f in data["files"]] == ["input", "input", "output", "log"]
    assert {"dataset", "scope", "guid", "fsize", "status", "attemptnr"} <= set(data["files"][0])
    assert data["errors"][0] == {
        "component": "pilot",
        "code": 1150,
        "diag": "Looping job killed by pilot",
        "description": "LOOPINGJOB: Looping job killed by pilot",
    }


def test_the_job_page_answers_json_for_an_accept_header(client):
    job = JobFactory()
    response = client.get(f"/job/{job.pandaid}/", HTTP_ACCEPT="application/json")
    assert response.json()["job"]["jobstatus"] == "activated"


def test_job_query_redirects_to_the_job_page_and_serves_json_in_place(client):
    job = JobFactory()
    response = client.get(f"/job?pandaid={job.pandaid}")
    assert response.status_code == 302 and response["Location"] == f"/job/{job.pandaid}/"
    assert client.get(f"/job/?pandaid={job.pandaid}&json").json()["job"]["pandaid"] == job.pandaid


@pytest.mark.parametrize("query", ["", "?pandaid=abc", "?pandaid="])
def test_job_query_without_a_numeric_pandaid_is_a_bad_request(client, query):
    response = client.get(f"/job/{query}")
    assert response.status_code == 400


def test_an_unknown_job_is_a_404_in_html_and_json(client):
    assert client.get("/job/987654321/").status_code == 404
    assert client.get("/job/987654321/?json").json() == {"error": "job 987654321 not found"}


def test_the_batchid_form_shows_the_job_only_when_the_batchid_matches(client):
    job = JobFactory(batchid="condor.123")
    assert client.get(f"/job/{job.pandaid}/condor.123/").status_code == 200
    assert client.get(f"/job/{job.pandaid}/other.9/").status_code == 404


def test_the_status_log_lists_state_changes_in_order_with_time_in_state(client):
    job = JobFactory(jobstatus=JobStatus.DEFINED)  # the factory logs the creation
    first = JobStatusLog.objects.get(pandaid=job.pandaid)
    JobStatusLog.objects.create(
        pandaid=job.pandaid,
        oldstatus="defined",
        jobstatus="activated",
        modificationtime=first.modificationtime + dt.timedelta(minutes=5),
    )
    rows = client.get(f"/jobstatuslog/{job.pandaid}/?json").json()
    assert [row["jobstatus"] for row in rows] == ["defined", "activated"]
    assert rows[-1]["duration"] is None
    assert client.get(f"/jobstatuslog/{job.pandaid}/").status_code == 200
    html = client.get(f"/job/{job.pandaid}/").content.decode()
    assert "Time spent in each state" in html and "<title>defined: 5</title>" in html
    assert client.get("/jobstatuslog/987654321/").status_code == 404


def test_the_retry_chain_is_shown_both_ways(client):
    first, second, third = (JobFactory(jeditaskid=5, jobstatus=s) for s in ("failed", "failed", "running"))
    JobRetryHistory.objects.create(
        jeditaskid=5, oldpandaid=first.pandaid, newpandaid=second.pandaid, originpandaid=first.pandaid
    )
    JobRetryHistory.objects.create(
        jeditaskid=5, oldpandaid=second.pandaid, newpandaid=third.pandaid, originpandaid=first.pandaid
    )
    data = client.get(f"/jobrelationships/{second.pandaid}/?json").json()
    assert [a["pandaid"] for a in data["ancestors"]] == [first.pandaid]
    assert [(d["pandaid"], d["jobstatus"]) for d in data["descendants"]] == [(third.pandaid, "running")]
    from_first = client.get(f"/jobrelationships/{first.pandaid}/?json").json()
    assert [d["pandaid"] for d in from_first["descendants"]] == [second.pandaid, third.pandaid]
    html = client.get(f"/job/{third.pandaid}/").content.decode()
    assert f'href="/job/{first.pandaid}/"' in html and f'href="/job/{second.pandaid}/"' in html


def test_the_job_page_does_a_fixed_number_of_queries_whatever_the_number_of_files(client):
    small = failed_job(n_inputs=1)
    big = failed_job(n_inputs=40)
    counts = []
    for job in (small, big):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/job/{job.pandaid}/?json").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 14


# --- the log file browser ----------------------------------------------------------------------------


def add_member(archive, name, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def stored_log(tmp_path):
    """A job whose log tarball the Adder registered on a local POSIX endpoint."""
    root = tmp_path / "se"
    root.mkdir()
    endpoint = StorageEndpointFactory(
        rprotocols={"1": {"endpoint": "file://localhost", "path": str(root), "flavour": "POSIX", "id": 1}}
    )
    job = job_with_files(n_inputs=1, jobstatus=JobStatus.FINISHED)
    log = JobFile.objects.get(job=job, type=FileType.LOG)
    path = root / "mc23" / log.lfn
    path.parent.mkdir()
    top = f"tarball_PandaJob_{job.pandaid}_QUEUE_A"
    with tarfile.open(path, "w:gz") as archive:
        add_member(archive, f"{top}/pilotlog.txt", b"pilot started\npayload finished\n")
        add_member(archive, f"{top}/payload.stdout", b"hello <world>\n")
        add_member(archive, f"{top}/core.bin", b"\x7fELF\x00\x00binary")
    JobFile.objects.filter(pk=log.pk).update(surl=f"file://localhost{path}", endpoint=endpoint.name)
    return job, top, root, endpoint


def test_the_filebrowser_lists_the_members_of_the_log_tarball(client, stored_log):
    job, top, _, _ = stored_log
    data = client.get(f"/filebrowser/?pandaid={job.pandaid}&json").json()
    assert [m["name"] for m in data["members"]] == [f"{top}/pilotlog.txt", f"{top}/payload.stdout", f"{top}/core.bin"]
    html = client.get(f"/filebrowser/?pandaid={job.pandaid}").content.decode()
    assert "payload.stdout" in html


def test_the_filebrowser_shows_a_member_by_its_well_known_name_escaped(client, stored_log):
    job, top, _, _ = stored_log
    response = client.get(f"/filebrowser/?pandaid={job.pandaid}&filename=payload.stdout")
    assert response.status_code == 200
    assert "hello &lt;world&gt;" in response.content.decode()
    data = client.get(f"/filebrowser/?pandaid={job.pandaid}&filename={top}/pilotlog.txt&json").json()
    assert data["member"]["text"] == "pilot started\npayload finished\n"
    assert data["member"]["truncated"] is False


def test_the_filebrowser_cuts_long_members_at_the_size_limit(client, stored_log, monkeypatch):
    job, top, _, _ = stored_log
    monkeypatch.setattr(log_files, "MAX_TEXT_BYTES", 10)
    data = client.get(f"/filebrowser/?pandaid={job.pandaid}&filename=pilotlog.txt&json").json()
    assert data["member"]["text"] == "pilot star"
    assert data["member"]["truncated"] is True


@pytest.mark.parametrize("filename", ["../../../etc/passwd", "/etc/passwd", "tarball_PandaJob_1_X/../../x"])
def test_the_filebrowser_reads_only_members_of_the_archive(client, stored_log, filename):
    job, *_ = stored_log
    response = client.get("/filebrowser/", {"pandaid": job.pandaid, "json": "", "filename": filename})
    assert response.status_code == 404
    assert response.json()["error"] == f"{filename} is not in the log tarball"


def test_the_filebrowser_refuses_binary_members(client, stored_log):
    job, top, _, _ = stored_log
    response = client.get("/filebrowser/", {"pandaid": job.pandaid, "json": "", "filename": f"{top}/core.bin"})
    assert response.status_code == 404
    assert "binary" in response.json()["error"]


def test_the_filebrowser_never_reads_outside_the_endpoint_root(client, stored_log, tmp_path):
    job, _, root, endpoint = stored_log
    outside = tmp_path / "secret.tgz"
    with tarfile.open(outside, "w:gz") as archive:
        add_member(archive, "secret.txt", b"secret")
    (root / "link.tgz").symlink_to(outside)
    for surl in (str(outside), f"file://localhost{root}/../secret.tgz", f"{root}/link.tgz"):
        JobFile.objects.filter(job=job, type=FileType.LOG).update(surl=surl)
        response = client.get(f"/filebrowser/?pandaid={job.pandaid}&json")
        assert response.status_code == 404, surl
        assert "not on a storage endpoint this monitor can read" in response.json()["error"]


def test_the_filebrowser_says_why_when_the_log_is_not_stored_yet(client):
    job = job_with_files(n_inputs=1)
    response = client.get(f"/filebrowser/?pandaid={job.pandaid}&json")
    assert response.status_code == 404
    assert "has not been registered on any storage yet" in response.json()["error"]
    assert client.get("/filebrowser/?pandaid=x").status_code == 400


def test_anonymous_callers_are_refused_when_anonymous_read_is_off(client, settings):
    settings.PANDA_MONITOR_ANONYMOUS_READ = False
    job = JobFactory()
    for url in (f"/job/{job.pandaid}/", f"/jobstatuslog/{job.pandaid}/", f"/filebrowser/?pandaid={job.pandaid}"):
        assert client.get(url).status_code == 403, url


def test_each_error_links_to_the_failed_jobs_with_that_code(client):
    job = failed_job(transexitcode="8")
    html = client.get(f"/job/{job.pandaid}/").content.decode()
    links = re.findall(r'href="(/jobs/\?jobstatus=failed&amp;[^"]+)"', html)
    assert len(links) == 3
    for link in links:
        data = client.get(link.replace("&amp;", "&") + "&json").json()
        assert [row["pandaid"] for row in data["jobs"]] == [job.pandaid], link


def test_the_job_page_shows_the_stdout_tail_a_debug_job_sent_with_its_heartbeat(client, db):
    job = JobFactory(jobstatus=JobStatus.RUNNING, specialhandling="dm")
    job_update_from_pilot(pandaid=job.pandaid, state="running", stdout="event 41 done\nevent 42 <done>\n")

    data = client.get(f"/job/{job.pandaid}/?json").json()
    html = client.get(f"/job/{job.pandaid}/").content.decode()

    assert data["debug_stdout"] == "event 41 done\nevent 42 <done>\n"
    assert JobText.objects.filter(job=job, kind=JobText.Kind.STDOUT).exists()
    assert "event 42 &lt;done&gt;" in html
    assert f'href="/prmonplots/{job.pandaid}/"' in html


def test_the_job_page_of_a_job_without_stdout_has_no_debug_section(client, db):
    job = JobFactory(jobstatus=JobStatus.RUNNING)

    assert client.get(f"/job/{job.pandaid}/?json").json()["debug_stdout"] == ""
    assert 'data-testid="debug-stdout"' not in client.get(f"/job/{job.pandaid}/").content.decode()
