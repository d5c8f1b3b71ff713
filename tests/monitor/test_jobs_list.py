"""``/jobs/``: rows, keyset pages, drop mode, facets, errors by count and JSON parity, through real HTTP and DB."""

import datetime as dt

import pytest

from apps.core.timeutil import utcnow
from apps.jedi.models import JobRetryHistory
from apps.jobs.models import FileType, JobFile, JobParameters
from apps.jobs.services.job_errors import job_errors_record_many
from apps.jobs.states import JobStatus
from apps.sites.models import PandaQueue
from apps.workers.models import JobWorker, Worker
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db


def get_json(client, url):
    response = client.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def pandaids(data) -> set[int]:
    return {job["pandaid"] for job in data["jobs"]}


def test_the_page_lists_matching_jobs_with_links_to_job_task_site_and_user(client):
    job = JobFactory(jobstatus=JobStatus.FAILED, computingsite="SITE_X", jeditaskid=77, produsername="Jane Doe")
    JobFactory(jobstatus=JobStatus.FINISHED)
    response = client.get("/jobs/?jobstatus=failed")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/job/{job.pandaid}/"' in html
    assert 'href="/task/77/"' in html
    assert 'href="/site/SITE_X/"' in html
    assert 'href="/user/Jane%20Doe/"' in html
    assert "jobstatus=failed, hours=12" in html
    assert "Permalink" in html


def test_jobs_outside_the_window_are_not_listed(client):
    recent = JobFactory(jobstatus=JobStatus.FAILED)
    JobFactory(jobstatus=JobStatus.FAILED, modificationtime=utcnow() - dt.timedelta(hours=30))
    assert pandaids(get_json(client, "/jobs/?jobstatus=failed")) == {recent.pandaid}
    assert len(get_json(client, "/jobs/?jobstatus=failed&days=2")["jobs"]) == 2


def test_active_jobs_are_shown_whatever_their_age_when_their_state_is_asked_for(client):
    old = JobFactory(jobstatus=JobStatus.RUNNING, modificationtime=utcnow() - dt.timedelta(days=3))
    data = get_json(client, "/jobs/?jobstatus=running")
    assert pandaids(data) == {old.pandaid}
    assert any("active states" in warning for warning in data["warnings"])


def test_json_carries_every_model_field_with_iso_dates_and_the_legacy_keys(client):
    job = JobFactory(jobstatus=JobStatus.FAILED, piloterrorcode=1305, piloterrordiag="payload failed")
    data = get_json(client, "/jobs/?json")
    assert set(data) == {"selection", "warnings", "selectionsummary", "jobs", "errsByCount"}
    (row,) = data["jobs"]
    assert row["pandaid"] == job.pandaid and row["piloterrorcode"] == 1305
    assert dt.datetime.fromisoformat(row["modificationtime"]) == job.modificationtime
    assert "gco2_global" in row and "outputfiletype" in row
    assert data["selection"] == {"hours": "12"}


def test_fields_projects_the_json_rows(client):
    JobFactory()
    data = get_json(client, "/jobs/?json&fields=jobstatus,computingsite")
    assert data["jobs"] == [{"jobstatus": "activated", "computingsite": "QUEUE_A"}]


def test_outputs_selects_the_json_sections(client):
    JobFactory()
    assert set(get_json(client, "/jobs/?json&outputs=jobs")) == {"selection", "warnings", "jobs"}


def test_datasets_true_embeds_each_jobs_files(client):
    job = JobFactory()
    JobFile.objects.create(job=job, lfn="in.1", type=FileType.INPUT, dataset="ds.in", fsize=10)
    (row,) = get_json(client, "/jobs/?json&datasets=true")["jobs"]
    assert [(f["lfn"], f["dataset"], f["fsize"], f["pandaid"]) for f in row["datasets"]] == [
        ("in.1", "ds.in", 10, job.pandaid)
    ]


def test_the_selection_summary_counts_values_in_the_database(client):
    JobFactory.create_batch(2, jobstatus=JobStatus.FAILED, computingsite="A", currentpriority=1050, minramcount=2500)
    JobFactory(jobstatus=JobStatus.FINISHED, computingsite="", currentpriority=-150, minramcount=0)
    summary = {item["field"]: item for item in get_json(client, "/jobs/?json")["selectionsummary"]}
    assert summary["jobstatus"]["list"] == [{"kname": "failed", "kvalue": 2}, {"kname": "finished", "kvalue": 1}]
    assert summary["computingsite"]["list"] == [{"kname": "A", "kvalue": 2}, {"kname": "Not specified", "kvalue": 1}]
    assert summary["priorityrange"]["list"] == [
        {"kname": "-200:-101", "kvalue": 1},
        {"kname": "1000:1099", "kvalue": 2},
    ]
    assert summary["minramcount"]["list"] == [{"kname": "0-1GB", "kvalue": 1}, {"kname": "2-3GB", "kvalue": 2}]
    assert summary["jobstatus"]["stats"] == {"sum": 3}


def test_a_facet_link_adds_its_filter_and_the_bucket_filters_match_their_counts(client):
    JobFactory.create_batch(2, currentpriority=1050, minramcount=2500)
    JobFactory(currentpriority=10, minramcount=100)
    html = client.get("/jobs/?computingsite=QUEUE_A").content.decode()
    assert 'href="/jobs/?computingsite=QUEUE_A&amp;jobstatus=activated"' in html
    assert 'href="/jobs/?computingsite=QUEUE_A&amp;priorityrange=1000%3A1099"' in html
    assert len(get_json(client, "/jobs/?priorityrange=1000:1099")["jobs"]) == 2
    assert len(get_json(client, "/jobs/?minramcount=2-3GB")["jobs"]) == 2


def test_errors_by_count_groups_failed_jobs_by_component_and_code(client):
    failed = JobFactory.create_batch(3, jobstatus=JobStatus.FAILED, piloterrorcode=1305, piloterrordiag="boom")
    failed.append(JobFactory(jobstatus=JobStatus.FAILED, jobdispatchererrorcode=100, transexitcode="3"))
    finished = JobFactory(jobstatus=JobStatus.FINISHED, piloterrorcode=1305)
    job_errors_record_many([job.pandaid for job in [*failed, finished]])  # as the move to failed does
    errors = get_json(client, "/jobs/?json")["errsByCount"]
    assert [(e["error"], e["count"]) for e in errors] == [
        ("pilot:1305", 3),
        ("jobdispatcher:100", 1),
        ("transform:3", 1),
    ]
    assert errors[0]["diag"] == "boom" and errors[0]["desc"].startswith("PAYLOADEXECUTIONFAILURE")
    html = client.get("/jobs/").content.decode()
    assert 'href="/jobs/?jobstatus=failed&amp;piloterrorcode=1305"' in html


def failed_job_with_parameters(parameters: str, **fields):
    job = JobFactory(jobstatus=JobStatus.FAILED, **fields)
    JobParameters.objects.create(job=job, jobparameters=parameters)
    return job


def test_errors_by_count_agrees_with_the_error_summary_and_follows_filters_on_any_job_column(client):
    mine = [
        failed_job_with_parameters("--in=EVNT.1", piloterrorcode=1212, exeerrorcode=65),
        failed_job_with_parameters("--in=EVNT.2", piloterrorcode=1212),
    ]
    other = failed_job_with_parameters("--in=HITS.1", piloterrorcode=1305)
    job_errors_record_many(job.pandaid for job in [*mine, other])

    everything = get_json(client, "/jobs/?json")["errsByCount"]
    narrowed = get_json(client, "/jobs/?jobparam=EVNT&json")["errsByCount"]

    summary = get_json(client, "/errors/?json")["errsByCount"]
    assert [{k: v for k, v in e.items() if k != "component"} for e in everything] == summary
    assert [(e["error"], e["count"]) for e in everything] == [("pilot:1212", 2), ("exe:65", 1), ("pilot:1305", 1)]
    assert [(e["component"], e["error"], e["count"]) for e in narrowed] == [
        ("pilot", "pilot:1212", 2),
        ("exe", "exe:65", 1),
    ]
    assert narrowed[0]["example_pandaid"] == max(job.pandaid for job in mine)


def test_errors_by_count_is_empty_for_a_selection_without_failed_jobs(client):
    job = JobFactory(jobstatus=JobStatus.FAILED, piloterrorcode=1305)
    job_errors_record_many([job.pandaid])
    JobFactory(jobstatus=JobStatus.RUNNING)

    assert get_json(client, "/jobs/?jobstatus=running&json")["errsByCount"] == []


@pytest.mark.parametrize("key", ["user", "username"])
def test_user_and_username_are_the_legacy_names_of_produsername(client, key):
    mine = JobFactory(produsername="jdoe")
    JobFactory(produsername="someone else")

    data = get_json(client, f"/jobs/?{key}=jdoe&json")

    assert pandaids(data) == {mine.pandaid}
    assert data["selection"][key] == "jdoe"


@pytest.mark.parametrize(
    ("query", "errors_query"),
    [
        ("computingsite=QUEUE_A&jobtype=analysis", "computingsite=QUEUE_A&jobtype=analysis&hours=12"),
        ("computingsite=QUEUE_A&days=3", "computingsite=QUEUE_A&days=3"),
        ("jeditaskid=7&cursor=2025-05-01T10:00:00,77", "jeditaskid=7&days=180"),
    ],
)
def test_the_jobs_list_links_the_error_summary_of_the_same_jobs(client, query, errors_query):
    response = client.get(f"/jobs/?{query}")

    assert response.context["errors_href"] == f"/errors/?{errors_query}"
    listed = get_json(client, f"/jobs/?{query}")["selection"]
    summarized = client.get(response.context["errors_href"] + "&json").json()["selection"]
    assert {k: v for k, v in summarized.items() if k != "limit"} == {k: v for k, v in listed.items() if k != "limit"}


def test_component_error_code_filters_select_failed_jobs(client):
    hit = JobFactory(jobstatus=JobStatus.FAILED, piloterrorcode=1212)
    JobFactory(jobstatus=JobStatus.FAILED, piloterrorcode=1305)
    assert pandaids(get_json(client, "/jobs/?jobstatus=failed&piloterrorcode=1212")) == {hit.pandaid}
    assert pandaids(get_json(client, "/jobs/?errorcategory=memory")) == {hit.pandaid}


def test_keyset_pages_walk_every_job_once(client):
    base = utcnow() - dt.timedelta(minutes=30)
    jobs = [JobFactory(modificationtime=base + dt.timedelta(minutes=i % 3)) for i in range(7)]
    seen, url = [], "/jobs/?display_limit=3"
    for _ in range(5):
        response = client.get(url)
        seen += [row["job"].pandaid for row in response.context["rows"]]
        if not response.context["next_href"]:
            break
        url = response.context["next_href"]
    expected = sorted(jobs, key=lambda j: (j.modificationtime, j.pandaid), reverse=True)
    assert seen == [job.pandaid for job in expected]


def test_keyset_pages_also_walk_in_ascending_time(client):
    jobs = [JobFactory() for _ in range(5)]
    first = client.get("/jobs/?display_limit=2&sortby=time-ascending")
    second = client.get(first.context["next_href"])
    walked = [row["job"].pandaid for page in (first, second) for row in page.context["rows"]]
    expected = sorted(jobs, key=lambda j: (j.modificationtime, j.pandaid))[:4]
    assert walked == [job.pandaid for job in expected]


def test_json_warns_when_the_limit_cuts_the_list(client):
    JobFactory.create_batch(3)
    data = get_json(client, "/jobs/?limit=2")
    assert len(data["jobs"]) == 2
    assert "Only the first 2 jobs are listed (limit=2)." in data["warnings"]


def test_sorting_by_duration_orders_the_rows(client):
    now = utcnow()
    short = JobFactory(starttime=now - dt.timedelta(minutes=5), endtime=now)
    long = JobFactory(starttime=now - dt.timedelta(minutes=50), endtime=now)
    response = client.get("/jobs/?sortby=duration-descending")
    assert [row["job"].pandaid for row in response.context["rows"]] == [long.pandaid, short.pandaid]
    assert pandaids(get_json(client, "/jobs/?durationmin=30-60")) == {long.pandaid}


def test_drop_mode_hides_a_job_retried_on_the_same_input_file(client):
    first = JobFactory(jeditaskid=500, jobstatus=JobStatus.FAILED, attemptnr=1)
    retry = JobFactory(jeditaskid=500, jobstatus=JobStatus.FINISHED, attemptnr=2)
    for job, attempt in ((first, 1), (retry, 2)):
        JobFile.objects.create(job=job, lfn="in.1", type=FileType.INPUT, jeditaskid=500, fileid=9, attemptnr=attempt)
    other = JobFactory(jeditaskid=500, jobstatus=JobStatus.FAILED)
    data = get_json(client, "/jobs/?jeditaskid=500")
    assert data["selection"]["mode"] == "drop"
    assert pandaids(data) == {retry.pandaid, other.pandaid}
    assert pandaids(get_json(client, "/jobs/?jeditaskid=500&mode=nodrop")) == {
        first.pandaid,
        retry.pandaid,
        other.pandaid,
    }
    html = client.get("/jobs/?jeditaskid=500").content.decode()
    assert "1 job superseded by a later attempt hidden" in html


def test_drop_mode_hides_a_job_named_in_the_retry_history(client):
    old = JobFactory(jeditaskid=501, jobstatus=JobStatus.FAILED)
    new = JobFactory(jeditaskid=501)
    JobRetryHistory.objects.create(
        jeditaskid=501, oldpandaid=old.pandaid, newpandaid=new.pandaid, originpandaid=old.pandaid
    )
    assert pandaids(get_json(client, "/jobs/?jeditaskid=501")) == {new.pandaid}


def test_an_event_service_task_is_listed_without_drop_mode(client):
    task = TaskFactory(eventservice=1)
    old = JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.FAILED)
    new = JobFactory(jeditaskid=task.jeditaskid)
    JobRetryHistory.objects.create(
        jeditaskid=task.jeditaskid, oldpandaid=old.pandaid, newpandaid=new.pandaid, originpandaid=old.pandaid
    )
    data = get_json(client, f"/jobs/?jeditaskid={task.jeditaskid}")
    assert data["selection"]["mode"] == "nodrop" and pandaids(data) == {old.pandaid, new.pandaid}


def test_queue_attributes_region_and_site_select_jobs_by_their_queue(client):
    site = SiteFactory(name="CERN-PROD", cloud="CERN")
    PandaQueueFactory(name="CERN_Q", site=site, document={"cloud": "CERN", "type": "production"})
    PandaQueueFactory(name="BNL_Q", document={"cloud": "US", "type": "analysis"})
    cern = JobFactory(computingsite="CERN_Q")
    bnl = JobFactory(computingsite="BNL_Q")
    assert PandaQueue.objects.get(name="CERN_Q").cloud == "CERN"
    assert pandaids(get_json(client, "/jobs/?queuecloud=CERN")) == {cern.pandaid}
    assert pandaids(get_json(client, "/jobs/?region=US")) == {bnl.pandaid}
    assert pandaids(get_json(client, "/jobs/?site=CERN-PROD")) == {cern.pandaid}
    assert pandaids(get_json(client, "/jobs/?queuetype=analysis|production&region=!US")) == {cern.pandaid}


def test_harvester_keys_select_jobs_through_the_worker_mapping(client):
    ran, other, alone = JobFactory(), JobFactory(), JobFactory()
    Worker.objects.create(harvesterid="h1", workerid=1, computingelement="ce1.cern.ch")
    Worker.objects.create(harvesterid="h2", workerid=1, computingelement="ce2.bnl.gov")
    JobWorker.objects.create(harvesterid="h1", workerid=1, pandaid=ran.pandaid)
    JobWorker.objects.create(harvesterid="h2", workerid=1, pandaid=other.pandaid)
    assert pandaids(get_json(client, "/jobs/?harvesterid=h1&workerid=1")) == {ran.pandaid}
    assert pandaids(get_json(client, "/jobs/?harvesterinstance=h2")) == {other.pandaid}
    assert pandaids(get_json(client, "/jobs/?harvesterid=all")) == {ran.pandaid, other.pandaid}
    assert pandaids(get_json(client, "/jobs/?harvesterid=Not specified")) == {alone.pandaid}
    assert pandaids(get_json(client, "/jobs/?harvesterce=*.cern.ch")) == {ran.pandaid}


def test_jobparam_searches_the_job_parameters(client):
    hit, miss = JobFactory(), JobFactory()
    JobParameters.objects.create(job=hit, jobparameters="--maxEvents=10 --in=EVNT.1")
    JobParameters.objects.create(job=miss, jobparameters="--in=EVNT.2")
    assert pandaids(get_json(client, "/jobs/?jobparam=maxevents")) == {hit.pandaid}
    assert pandaids(get_json(client, "/jobs/?jobparam=*EVNT.2")) == {miss.pandaid}


def test_stuck_jobs_are_found_whatever_the_window(client):
    stuck = JobFactory(
        jobstatus=JobStatus.TRANSFERRING,
        statechangetime=utcnow() - dt.timedelta(hours=30),
        modificationtime=utcnow() - dt.timedelta(hours=30),
    )
    JobFactory(jobstatus=JobStatus.TRANSFERRING, statechangetime=utcnow())
    assert pandaids(get_json(client, "/jobs/?transferringnotupdated=24")) == {stuck.pandaid}
    assert pandaids(get_json(client, "/jobs/?statenotupdated=24")) == {stuck.pandaid}


def test_path_forms_are_key_value_pairs(client):
    failed = JobFactory(jobstatus=JobStatus.FAILED)
    JobFactory()
    assert pandaids(get_json(client, "/jobs/jobstatus/failed/")) == {failed.pandaid}
    assert pandaids(get_json(client, "/jobs/jobstatus=failed/")) == {failed.pandaid}
    assert get_json(client, "/jobs/nodrop/")["selection"]["mode"] == "nodrop"
    response = client.get("/jobs/whatever/", HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "single path part" in response.json()["error"]


def test_a_bad_filter_is_a_400_naming_the_problem_in_html_and_json(client):
    response = client.get("/jobs/?jeditaskid=abc")
    assert response.status_code == 400 and "jeditaskid: &#x27;abc&#x27; is not an integer" in response.content.decode()
    response = client.get("/jobs/?colour=red&json")
    assert response.status_code == 400 and "unknown filter key(s) colour" in response.json()["error"]
    response = client.get("/jobs/?json&outputs=plots")
    assert response.status_code == 400 and "outputs: unknown plots" in response.json()["error"]


def test_a_page_of_200_jobs_costs_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    for i in range(200):
        JobFactory(
            jobstatus=JobStatus.FAILED if i % 2 else JobStatus.RUNNING,
            piloterrorcode=1300 + i % 5,
            jeditaskid=600 + i % 4,
            computingsite=f"Q{i % 7}",
        )
    with django_assert_max_num_queries(36):
        response = client.get("/jobs/?display_limit=200")
    assert len(response.context["rows"]) == 200
    with django_assert_max_num_queries(36):
        data = get_json(client, "/jobs/?datasets=true")
    assert len(data["jobs"]) == 200


def test_anonymous_callers_are_refused_when_anonymous_read_is_off(client, settings):
    settings.PANDA_MONITOR_ANONYMOUS_READ = False
    response = client.get("/jobs/?json")
    assert response.status_code == 403 and "log in" in response.json()["error"]
