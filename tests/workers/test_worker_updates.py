import datetime as dt

import pytest

from apps.core.timeutil import utcnow
from apps.jobs.models import Job, JobOutputReport, JobStatusLog
from apps.jobs.services.adder import adder_run
from apps.workers.models import JobWorker, Worker
from apps.workers.services.worker_updates import WorkerDataError, harvester_time, workers_update
from tests.factories import JobFactory, job_with_files

pytestmark = pytest.mark.django_db

HARVESTER = "harvester-test"


def worker(worker_id=1, **fields) -> dict:
    return {"workerID": worker_id, "status": "running", "computingSite": "QUEUE_A", **fields}


def relate(job, worker_id=1):
    JobWorker.objects.create(harvesterid=HARVESTER, workerid=worker_id, pandaid=job.pandaid)


def fresh(job) -> Job:
    return Job.objects.get(pk=job.pk)


def test_it_creates_a_worker_row_with_every_field_harvester_sends():
    results = workers_update(
        harvester_id=HARVESTER,
        workers=[
            worker(
                7,
                batchID="1234",
                queueName="QUEUE_A",
                nCore=8,
                nodeID="node1",
                submitTime="datetime/2025-01-02 03:04:05.123456",
                startTime="2025-01-02 03:05:00",
                jobType="managed",
                resourceType="MCORE",
                nativeExitCode=0,
                nativeStatus="R",
                diagMessage="ok",
                nJobs=1,
                computingElement="ce1",
                syncLevel=0,
                submissionHost="host1",
                harvesterHost="host2",
                errorCode=0,
                minRamCount=2000,
                stdOut="file:///out",
                stdErr="file:///err",
                batchLog="file:///log",
                jdl="executable = pilot",
                unknownKey="ignored",
            )
        ],
    )
    assert results == [True]
    row = Worker.objects.get(harvesterid=HARVESTER, workerid=7)
    assert (row.status, row.batchid, row.ncore, row.resourcetype, row.minramcount) == (
        "running",
        "1234",
        8,
        "MCORE",
        2000,
    )
    assert row.submittime == dt.datetime(2025, 1, 2, 3, 4, 5, 123456)
    assert row.starttime == dt.datetime(2025, 1, 2, 3, 5)
    assert (row.stdout, row.jdl, row.submissionhost) == ("file:///out", "executable = pilot", "host1")


def test_a_second_update_changes_only_what_it_carries():
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status="submitted", batchID="99")])
    workers_update(harvester_id=HARVESTER, workers=[{"workerID": 1, "status": "running"}])
    row = Worker.objects.get(harvesterid=HARVESTER, workerid=1)
    assert (row.status, row.batchid) == ("running", "99")


def test_a_worker_closed_less_than_three_hours_ago_keeps_its_final_status():
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status="finished")])
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status="running")])
    assert Worker.objects.get(workerid=1).status == "finished"


def test_a_worker_closed_long_ago_takes_the_new_status():
    Worker.objects.create(
        harvesterid=HARVESTER, workerid=1, status="failed", lastupdate=utcnow() - dt.timedelta(hours=4)
    )
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status="running")])
    assert Worker.objects.get(workerid=1).status == "running"


def test_pandaid_list_replaces_the_workers_job_relations():
    relate(JobFactory(), worker_id=1)
    kept = JobFactory()
    relate(kept, worker_id=1)
    new = JobFactory()
    workers_update(harvester_id=HARVESTER, workers=[worker(1, pandaid_list=[kept.pandaid, new.pandaid])])
    related = set(JobWorker.objects.filter(harvesterid=HARVESTER, workerid=1).values_list("pandaid", flat=True))
    assert related == {kept.pandaid, new.pandaid}


def test_an_empty_pandaid_list_keeps_the_relations():
    job = JobFactory()
    relate(job)
    workers_update(harvester_id=HARVESTER, workers=[worker(1, pandaid_list=[])])
    assert JobWorker.objects.filter(pandaid=job.pandaid).exists()


@pytest.mark.parametrize("status", ["finished", "failed", "cancelled", "missed"])
def test_a_running_job_of_a_worker_that_ended_out_of_sync_goes_to_the_adder_as_failed(status):
    job = job_with_files(jobstatus="running", starttime=utcnow())
    relate(job)
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status=status, syncLevel=1, diagMessage="batch exit 1")])
    stored = fresh(job)
    assert stored.jobstatus == "holding"
    assert stored.taskbuffererrorcode == 300
    assert stored.taskbuffererrordiag == f"The worker was {status} while the job was running : batch exit 1"
    assert stored.starttime is not None and stored.endtime is not None
    report = JobOutputReport.objects.get(job=job)
    assert (report.final_status, report.data, report.attemptnr) == ("failed", "", job.attemptnr)
    assert JobStatusLog.objects.filter(pandaid=job.pandaid, oldstatus="running", jobstatus="holding").exists()
    adder_run()
    assert fresh(job).jobstatus == "failed"
    assert fresh(job).taskbuffererrorcode == 300


def test_a_starting_job_of_a_worker_that_ended_out_of_sync_loses_its_start_time():
    job = job_with_files(jobstatus="starting", starttime=utcnow())
    relate(job)
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status="failed", syncLevel=1, diagMessage="")])
    stored = fresh(job)
    assert (stored.jobstatus, stored.starttime) == ("holding", None)
    assert stored.taskbuffererrordiag == "The worker was failed while the job was starting : "


@pytest.mark.parametrize("sync_level", [None, 0, 2])
def test_without_sync_level_1_the_jobs_of_an_ended_worker_are_left_to_the_pilot(sync_level):
    job = job_with_files(jobstatus="running")
    relate(job)
    fields = {} if sync_level is None else {"syncLevel": sync_level}
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status="finished", **fields)])
    assert fresh(job).jobstatus == "running"
    assert not JobOutputReport.objects.exists()


@pytest.mark.parametrize("jobstatus", ["sent", "holding", "transferring", "finished", "activated"])
def test_only_running_and_starting_jobs_are_failed_by_an_out_of_sync_worker(jobstatus):
    job = job_with_files(jobstatus=jobstatus)
    relate(job)
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status="failed", syncLevel=1)])
    assert fresh(job).jobstatus == jobstatus
    assert not JobOutputReport.objects.exists()


def test_a_running_worker_never_touches_its_jobs():
    job = job_with_files(jobstatus="running")
    relate(job)
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status="running", syncLevel=1, errorCode=5)])
    stored = fresh(job)
    assert (stored.jobstatus, stored.superrorcode) == ("running", 0)


def test_an_ended_worker_with_an_error_code_sets_the_supervisor_error_of_its_unfinished_jobs():
    running = job_with_files(jobstatus="running")
    sent = job_with_files(jobstatus="sent")
    holding = job_with_files(jobstatus="holding")
    for job in (running, sent, holding):
        relate(job)
    workers_update(
        harvester_id=HARVESTER, workers=[worker(1, status="failed", errorCode=1234, diagMessage="node died")]
    )
    for job in (running, sent):
        stored = fresh(job)
        assert (stored.superrorcode, stored.superrordiag) == (1234, "Diag from worker : node died")
        assert stored.jobstatus == job.jobstatus
    # holding jobs already have their pilot's final word
    assert fresh(holding).superrorcode == 0


def test_an_out_of_sync_failure_also_records_the_workers_error_code():
    job = job_with_files(jobstatus="running")
    relate(job)
    workers_update(
        harvester_id=HARVESTER, workers=[worker(1, status="failed", syncLevel=1, errorCode=8, diagMessage="x")]
    )
    stored = fresh(job)
    assert (stored.jobstatus, stored.taskbuffererrorcode, stored.superrorcode) == ("holding", 300, 8)


def test_a_job_whose_final_report_is_already_queued_keeps_the_pilots_report():
    job = job_with_files(jobstatus="running")
    relate(job)
    JobOutputReport.objects.create(job=job, attemptnr=job.attemptnr, final_status="finished", data="{}")
    workers_update(harvester_id=HARVESTER, workers=[worker(1, status="finished", syncLevel=1)])
    assert JobOutputReport.objects.get(job=job).final_status == "finished"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"status": "running"}, "workerID is missing"),
        ({"workerID": "abc"}, "workerID must be an integer"),
        ({"workerID": 2, "nCore": "many"}, "nCore must be an integer"),
        ({"workerID": 2, "submitTime": "yesterday"}, "submitTime must be a time"),
        ({"workerID": 2, "pandaid_list": "1,2"}, "pandaid_list must be a list"),
        ({"workerID": 2, "pandaid_list": [1, -2]}, "pandaid_list must be a list of PandaIDs"),
        ({"workerID": 2, "batchID": {"a": 1}}, "batchID must be a string"),
        ("not a dict", "must be an object"),
    ],
)
def test_a_bad_worker_dict_changes_nothing(bad, message):
    job = job_with_files(jobstatus="running")
    relate(job)
    with pytest.raises(WorkerDataError, match=message):
        workers_update(harvester_id=HARVESTER, workers=[worker(1, status="failed", syncLevel=1), bad])
    assert not Worker.objects.exists()
    assert fresh(job).jobstatus == "running"


def test_a_missing_or_too_long_harvester_id_is_refused():
    with pytest.raises(WorkerDataError):
        workers_update(harvester_id="", workers=[worker()])
    with pytest.raises(WorkerDataError):
        workers_update(harvester_id="h" * 51, workers=[worker()])


def test_harvester_times_accept_its_own_prefix_the_wire_format_and_epoch_seconds():
    assert harvester_time("datetime/2025-03-04 05:06:07.000001") == dt.datetime(2025, 3, 4, 5, 6, 7, 1)
    assert harvester_time("2025-03-04 05:06:07") == dt.datetime(2025, 3, 4, 5, 6, 7)
    assert harvester_time(0) == dt.datetime(1970, 1, 1)
    assert harvester_time(None) is None
    with pytest.raises(ValueError):
        harvester_time("soon")
