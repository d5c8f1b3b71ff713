"""Golden URLs: real-world job-list URLs (every filter form) answer 200 with the expected selection echo,
as a page (the subtitle) and as JSON (``selection``); bad ones answer 400 with the message."""

import html

import pytest

from apps.jobs.states import JobStatus
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

H12 = {"hours": "12"}
DEEP = {"days": "180", "limit": "200000"}

GOLDEN = [
    ("/jobs/", H12),
    ("/jobs/?jobstatus=failed", {"jobstatus": "failed", **H12}),
    ("/jobs/?jobStatus=failed&computingSite=CERN-PROD", {"computingsite": "CERN-PROD", "jobstatus": "failed", **H12}),
    ("/jobs/?jeditaskid=41830915", {"jeditaskid": "41830915", **DEEP, "mode": "drop"}),
    (
        "/jobs/?jeditaskid=41830915&jobstatus=failed&hours=12",
        {"jeditaskid": "41830915", "jobstatus": "failed", "hours": "12", "limit": "200000", "mode": "drop"},
    ),
    ("/jobs/?jeditaskid=41830915&mode=nodrop", {"jeditaskid": "41830915", **DEEP, "mode": "nodrop"}),
    (
        "/jobs/?jeditaskid=41830915&mode=drop&jobstatus=finished",
        {"jeditaskid": "41830915", "jobstatus": "finished", **DEEP, "mode": "drop"},
    ),
    ("/jobs/?taskid=123", {"taskid": "123", **DEEP, "mode": "drop"}),
    ("/jobs/?pandaid=6123456789", {"pandaid": "6123456789", **DEEP}),
    ("/jobs/?jobname=user.jdoe.123.job.1", {"jobname": "user.jdoe.123.job.1", **DEEP}),
    ("/jobs/?datasetid=55", {"datasetid": "55", **DEEP}),
    ("/jobs/?jobstatus=failed|finished", {"jobstatus": "failed|finished", **H12}),
    ("/jobs/?jobstatus=failed,cancelled,closed", {"jobstatus": "failed|cancelled|closed", **H12}),
    ("/jobs/?jobstatus=!finished", {"jobstatus": "!finished", **H12}),
    ("/jobs/?computingsite=*CERN*", {"computingsite": "*CERN*", **H12}),
    ("/jobs/?computingsite=ANALY_*", {"computingsite": "ANALY_*", **H12}),
    ("/jobs/?computingsite=!*TEST*", {"computingsite": "!*TEST*", **H12}),
    ("/jobs/?produsername=Jane Doe&days=3", {"produsername": "Jane Doe", "days": "3"}),
    ("/jobs/?produsername=*doe*,*jane*", {"produsername": "*doe*,*jane*", **H12}),
    ("/jobs/?user=Jane Doe", {"user": "Jane Doe", **H12}),
    ("/jobs/?username=jdoe|jane*&days=2", {"username": "jdoe|jane*", "days": "2"}),
    ("/jobs/?workinggroup=Not specified", {"workinggroup": "Not specified", **H12}),
    ("/jobs/?workinggroup=!Not specified", {"workinggroup": "!Not specified", **H12}),
    ("/jobs/?specialhandling=*", {"specialhandling": "*", **H12}),
    (
        "/jobs/?prodsourcelabel=managed&processingtype=simul",
        {"processingtype": "simul", "prodsourcelabel": "managed", **H12},
    ),
    ("/jobs/?transformation=*Sim_tf.py", {"transformation": "*Sim_tf.py", **H12}),
    ("/jobs/?cloud=US&gshare=Express", {"cloud": "US", "gshare": "Express", **H12}),
    ("/jobs/?resourcetype=MCORE", {"resourcetype": "MCORE", **H12}),
    ("/jobs/?nucleus=CERN-PROD&reqid=1234", {"nucleus": "CERN-PROD", "reqid": "1234", **H12}),
    ("/jobs/?modificationhost=*aipanda*", {"modificationhost": "*aipanda*", **H12}),
    ("/jobs/?batchid=12345.0", {"batchid": "12345.0", "days": "4"}),
    ("/jobs/?priorityrange=900:1100", {"priorityrange": "900:1100", **H12}),
    ("/jobs/?priorityrange=-1000:-1", {"priorityrange": "-1000:-1", **H12}),
    ("/jobs/?jobsetrange=100:200", {"jobsetrange": "100:200", **H12}),
    ("/jobs/?durationmin=60-120", {"durationmin": "60-120", **H12}),
    ("/jobs/?neventsrange=1000-2000", {"neventsrange": "1000-2000", **H12}),
    ("/jobs/?minramcount=2-4GB", {"minramcount": "2-4GB", **H12}),
    ("/jobs/?reqid_from=100&reqid_to=200", {"reqid_from": "100", "reqid_to": "200", **H12}),
    ("/jobs/?jobtype=analysis", {"jobtype": "analysis", **H12}),
    ("/jobs/?jobtype=production&jobstatus=running", {"jobstatus": "running", "jobtype": "production", **H12}),
    ("/jobs/?jobtype=groupproduction", {"jobtype": "groupproduction", **H12}),
    ("/jobs/?jobtype=eventservice", {"jobtype": "eventservice", "days": "2"}),
    ("/jobs/?jobtype=esmerge", {"jobtype": "esmerge", "days": "2"}),
    ("/jobs/?jobtype=test", {"jobtype": "test", **H12}),
    ("/jobs/?jobstatus=failed&piloterrorcode=1305", {"jobstatus": "failed", "piloterrorcode": "1305", **H12}),
    ("/jobs/?jobstatus=failed&exeerrorcode=65", {"exeerrorcode": "65", "jobstatus": "failed", **H12}),
    ("/jobs/?jobstatus=failed&ddmerrorcode=200", {"ddmerrorcode": "200", "jobstatus": "failed", **H12}),
    (
        "/jobs/?jobstatus=failed&jobdispatchererrorcode=100",
        {"jobdispatchererrorcode": "100", "jobstatus": "failed", **H12},
    ),
    ("/jobs/?jobstatus=failed&taskbuffererrorcode=300", {"jobstatus": "failed", "taskbuffererrorcode": "300", **H12}),
    ("/jobs/?jobstatus=failed&superrorcode=2", {"jobstatus": "failed", "superrorcode": "2", **H12}),
    ("/jobs/?brokerageerrorcode=1", {"brokerageerrorcode": "1", **H12}),
    ("/jobs/?transexitcode=3", {"transexitcode": "3", **H12}),
    ("/jobs/?errorcategory=lostheartbeat|memory", {"errorcategory": "lostheartbeat|memory", **H12}),
    ("/jobs/?harvesterid=all", {"harvesterid": "all", **H12}),
    ("/jobs/?harvesterid=CERN_central_A&workerid=4567", {"harvesterid": "CERN_central_A", "workerid": "4567", **H12}),
    ("/jobs/?harvesterinstance=CERN_central_A", {"harvesterinstance": "CERN_central_A", **H12}),
    ("/jobs/?harvesterid=Not specified", {"harvesterid": "Not specified", **H12}),
    ("/jobs/?harvesterce=*.cern.ch", {"harvesterce": "*.cern.ch", **H12}),
    ("/jobs/?queuecloud=US", {"queuecloud": "US", **H12}),
    ("/jobs/?queuetype=analysis&queuestatus=online", {"queuestatus": "online", "queuetype": "analysis", **H12}),
    ("/jobs/?region=CERN&jobstatus=activated", {"jobstatus": "activated", "region": "CERN", **H12}),
    ("/jobs/?site=CERN-PROD", {"site": "CERN-PROD", **H12}),
    ("/jobs/?jobparam=*maxEvents*", {"jobparam": "*maxEvents*", **H12}),
    ("/jobs/?jobparam=maxEvents", {"jobparam": "*maxEvents*", **H12}),
    ("/jobs/?statenotupdated=4", {"statenotupdated": "4"}),
    ("/jobs/?transferringnotupdated=24", {"transferringnotupdated": "24"}),
    ("/jobs/?jobstatus=failed&days=7", {"jobstatus": "failed", "days": "7"}),
    ("/jobs/?jobstatus=failed&hours=1", {"jobstatus": "failed", "hours": "1"}),
    ("/jobs/?date_from=2025-05-01&date_to=2025-05-02", {"date_from": "2025-05-01", "date_to": "2025-05-02"}),
    (
        "/jobs/?date_from=2025-05-01 10:00&date_to=2025-05-01 12:00",
        {"date_from": "2025-05-01 10:00", "date_to": "2025-05-01 12:00"},
    ),
    ("/jobs/?earlierthan=6", {"earlierthan": "6"}),
    ("/jobs/?earlierthandays=2&days=10", {"days": "10", "earlierthandays": "2"}),
    ("/jobs/?endtimerange=2025-05-01|2025-05-02", {"endtimerange": "2025-05-01|2025-05-02"}),
    (
        "/jobs/?creationtimerange=2025-05-01 00:00|2025-05-01 06:00",
        {"creationtimerange": "2025-05-01 00:00|2025-05-01 06:00"},
    ),
    ("/jobs/?fulllist=true&jeditaskid=5", {"jeditaskid": "5", "fulllist": "true", "limit": "200000", "mode": "drop"}),
    ("/jobs/?jobstatus=failed&limit=100", {"jobstatus": "failed", **H12, "limit": "100"}),
    ("/jobs/?display_limit=50", {**H12, "display_limit": "50"}),
    ("/jobs/?sortby=time-ascending", {**H12, "sortby": "time-ascending"}),
    ("/jobs/?sortby=create-descending", {**H12, "sortby": "create-descending"}),
    ("/jobs/?sortby=statetime-descending", {**H12, "sortby": "statetime-descending"}),
    ("/jobs/?sortby=priority-descending", {**H12, "sortby": "priority-descending"}),
    ("/jobs/?sortby=duration-ascending", {**H12, "sortby": "duration-ascending"}),
    ("/jobs/?sortby=attemptnr-descending", {**H12, "sortby": "attemptnr-descending"}),
    ("/jobs/?sortby=pandaid-ascending", {**H12, "sortby": "pandaid-ascending"}),
    ("/jobs/?sortby=queuetime-descending", {**H12, "sortby": "queuetime-descending"}),
    ("/jobs/?sortby=count", {**H12, "sortby": "count"}),
    ("/jobs/?fields=pandaid,jobstatus", {**H12, "fields": "pandaid,jobstatus"}),
    ("/jobs/?outputs=jobs,errsByCount", {**H12, "outputs": "jobs,errsByCount"}),
    ("/jobs/?datasets=true&jeditaskid=7", {"jeditaskid": "7", **DEEP, "datasets": "true", "mode": "drop"}),
    ("/jobs/?timestamp=1700000000&jobstatus=failed", {"jobstatus": "failed", **H12}),
    ("/jobs/?mode=nodrop&computingsite=X", {"computingsite": "X", **H12, "mode": "nodrop"}),
    ("/jobs/jobstatus/failed/", {"jobstatus": "failed", **H12}),
    ("/jobs/computingsite/CERN-PROD/?jobstatus=running", {"computingsite": "CERN-PROD", "jobstatus": "running", **H12}),
    ("/jobs/jobstatus=failed&hours=3/", {"jobstatus": "failed", "hours": "3"}),
    ("/jobs/nodrop/?jeditaskid=3", {"jeditaskid": "3", **DEEP, "mode": "nodrop"}),
]


@pytest.fixture
def some_jobs():
    JobFactory(jobstatus=JobStatus.FAILED, piloterrorcode=1305, computingsite="CERN-PROD")
    JobFactory(jobstatus=JobStatus.RUNNING, computingsite="CERN-PROD")


def with_json(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "json"


@pytest.mark.parametrize(("url", "echo"), GOLDEN, ids=[case[0] for case in GOLDEN])
def test_a_golden_url_answers_with_its_selection_in_json(client, some_jobs, url, echo):
    response = client.get(with_json(url))
    assert response.status_code == 200, response.content
    assert response.json()["selection"] == echo


@pytest.mark.parametrize(("url", "echo"), GOLDEN, ids=[case[0] for case in GOLDEN])
def test_a_golden_url_answers_with_its_selection_in_the_page(client, some_jobs, url, echo):
    response = client.get(url)
    assert response.status_code == 200, response.content
    text = ", ".join(f"{key}={value}" for key, value in echo.items())
    assert f'data-testid="selection">{html.escape(text)}</p>' in response.content.decode()


BAD = [
    ("/jobs/?jobstatus=", "empty value for 'jobstatus'"),
    ("/jobs/?computingsite=CERN%25", "'%' is not allowed"),
    ("/jobs/?jeditaskid=abc", "jeditaskid: 'abc' is not an integer"),
    ("/jobs/?pandaid=1*", "wildcards are not allowed for int values"),
    ("/jobs/?nosuchfilter=1", "unknown filter key(s) nosuchfilter; allowed keys:"),
    ("/jobs/?hours=x", "hours must be an integer"),
    ("/jobs/?priorityrange=5", "priorityrange must be <low>:<high>"),
    ("/jobs/?jobtype=fun", "unknown job type 'fun'"),
    ("/jobs/?sortby=random", "sortby must be one of"),
    ("/jobs/?mode=all", "mode must be drop or nodrop"),
    ("/jobs/?fields=nosuchcolumn", "fields: unknown field(s) nosuchcolumn"),
    ("/jobs/?date_from=soon", "is not a date"),
    ("/jobs/?creationtime=2025-01-01", "creationtime is a date"),
    ("/jobs/a/", "a single path part is drop, nodrop or key=value pairs"),
]


@pytest.mark.parametrize(("url", "message"), BAD, ids=[case[0] for case in BAD])
def test_a_bad_url_is_a_400_with_the_message(client, url, message):
    response = client.get(with_json(url))
    assert response.status_code == 400
    assert message in response.json()["error"]
    page = client.get(url)
    assert page.status_code == 400 and html.escape(message) in page.content.decode()
