""" "Why is it not running?": each cause in order, for tasks and jobs, with its evidence link."""

import datetime as dt

import pytest

from apps.brokerage.models import BrokerageDecision
from apps.core.timeutil import utcnow
from apps.ddm.models import Dataset, Rule
from apps.jedi.models import JobRetryHistory
from apps.jedi.states import TaskStatus
from apps.jobs.states import JobStatus
from apps.monitor.selectors.why_not_running import why_job_not_running, why_not_running, why_task_not_running
from apps.sites.models import QueueActivity
from apps.workers.models import Worker
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, queue_document
from tests.jedi_factories import DatasetContentFactory, TaskDatasetFactory, TaskFactory

pytestmark = pytest.mark.django_db


def queue(name: str, status: str = "online"):
    site = SiteFactory(name=f"SITE_OF_{name}")
    return PandaQueueFactory(name=name, site=site, document=queue_document(name, site.name, status=status))


def pilot_seen(name: str, ago: dt.timedelta = dt.timedelta(minutes=5)):
    QueueActivity.objects.create(queue=name, prodsourcelabel="user", last_getjob=utcnow() - ago)


def ready_task(**fields):
    task = TaskFactory(status=fields.pop("status", TaskStatus.RUNNING), **fields)
    TaskDatasetFactory(task=task, status="ready", nfiles=2, nfilestobeused=2)
    return task


def check(result, cause):
    return next(c for c in result["checks"] if c["cause"] == cause)


def test_a_task_still_being_defined_waits_for_its_input():
    task = TaskFactory(status=TaskStatus.DEFINED)
    result = why_task_not_running(task)
    assert result["verdict"] == "input"
    assert check(result, "input")["evidence"] == f"/task/{task.jeditaskid}/#datasets"
    assert [c["cause"] for c in result["checks"]] == ["input", "brokerage", "queue", "pilots", "retries"]


def test_a_task_whose_input_dataset_is_not_ready_waits_for_its_input():
    task = TaskFactory(status=TaskStatus.RUNNING)
    TaskDatasetFactory(task=task, datasetname="mc23:mc23.EVNT.staged", status="defined")
    result = why_task_not_running(task)
    assert result["verdict"] == "input"
    assert "mc23:mc23.EVNT.staged (defined)" in result["summary"]


def test_jobs_waiting_for_a_stuck_staging_rule_name_the_rule_and_its_error():
    task = ready_task()
    job = JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.ASSIGNED, computingsite="Q_TAPE")
    job.dispatchdblock = f"panda.{job.pandaid}.dis"
    job.save()
    dataset = Dataset.objects.create(scope="panda", name=job.dispatchdblock)
    Rule.objects.create(dataset=dataset, endpoint="SITE_DATADISK", activity="stage", state="stuck", error="tape down")
    result = why_task_not_running(task)
    assert result["verdict"] == "input"
    assert "stuck (tape down)" in check(result, "input")["detail"]
    job_result = why_job_not_running(job)
    assert job_result["verdict"] == "input" and "tape down" in job_result["summary"]


def test_brokerage_that_rejected_every_queue_says_why():
    task = ready_task(status=TaskStatus.READY)
    BrokerageDecision.objects.create(
        jeditaskid=task.jeditaskid,
        chosen=[],
        rejected={"Q1": "maxrss: 2000 < 4000", "Q2": "maxrss: 1000 < 4000", "Q3": "status: offline"},
        summary="0 of 3 queues kept",
    )
    result = why_task_not_running(task)
    assert result["verdict"] == "brokerage"
    detail = check(result, "brokerage")["detail"]
    assert detail.startswith("all 3 queues rejected by maxrss (2), status (1)")
    assert check(result, "brokerage")["evidence"] == f"/task/{task.jeditaskid}/#brokerage"


def test_a_brokerage_that_kept_queues_does_not_hold():
    task = ready_task()
    BrokerageDecision.objects.create(jeditaskid=task.jeditaskid, chosen=[{"queue": "Q1", "weight": 1.0}])
    assert check(why_task_not_running(task), "brokerage")["holds"] is False


def test_queued_jobs_on_an_offline_queue_blame_the_queue():
    task = ready_task()
    queue("Q_OFF", status="offline")
    pilot_seen("Q_OFF")
    JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.ACTIVATED, computingsite="Q_OFF")
    result = why_task_not_running(task)
    assert result["verdict"] == "queue"
    assert check(result, "queue")["detail"] == "Q_OFF is offline"
    assert check(result, "queue")["evidence"] == "/site/Q_OFF/"


def test_a_throttled_task_blames_the_throttle():
    task = ready_task(status=TaskStatus.THROTTLED, errordialog="share cap reached")
    result = why_task_not_running(task)
    assert result["verdict"] == "queue"
    assert "throttled" in result["summary"] and "share cap reached" in result["summary"]


def test_a_queue_without_pilots_blames_the_missing_pilots():
    task = ready_task()
    queue("Q_SILENT")
    pilot_seen("Q_SILENT", ago=dt.timedelta(hours=5))
    JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.ACTIVATED, computingsite="Q_SILENT")
    result = why_task_not_running(task)
    assert result["verdict"] == "pilots"
    assert "Q_SILENT: last getJob" in check(result, "pilots")["detail"]
    assert check(result, "pilots")["evidence"].startswith("/harvester/workers/?computingsite=Q_SILENT")


def test_a_recent_getjob_or_a_new_harvester_worker_means_pilots_arrive():
    task = ready_task()
    queue("Q_BUSY")
    queue("Q_HARVESTED")
    pilot_seen("Q_BUSY")
    Worker.objects.create(harvesterid="h1", workerid=1, computingsite="Q_HARVESTED", submittime=utcnow())
    for name in ("Q_BUSY", "Q_HARVESTED"):
        JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.ACTIVATED, computingsite=name)
    result = why_task_not_running(task)
    assert check(result, "pilots")["holds"] is False
    assert result["verdict"] is None


def test_an_exhausted_task_has_exhausted_its_retries():
    task = ready_task(status=TaskStatus.EXHAUSTED, errordialog="too many failures")
    result = why_task_not_running(task)
    assert result["verdict"] == "retries"
    assert check(result, "retries")["evidence"] == f"/jobs/?jeditaskid={task.jeditaskid}&jobstatus=failed"


def test_inputs_failed_on_their_last_attempt_exhaust_the_task_retries():
    task = ready_task(status=TaskStatus.FAILED)
    dataset = TaskDatasetFactory(task=task)
    DatasetContentFactory(dataset=dataset, task=task, status="failed", attemptnr=3, maxattempt=3)
    result = why_task_not_running(task)
    assert result["verdict"] == "retries"
    assert "1 input files failed on their last attempt" in result["summary"]


def test_an_earlier_cause_wins_over_a_later_one():
    task = TaskFactory(status=TaskStatus.DEFINED)
    queue("Q_OFF2", status="offline")
    JobFactory(jeditaskid=task.jeditaskid, jobstatus=JobStatus.ACTIVATED, computingsite="Q_OFF2")
    result = why_task_not_running(task)
    assert check(result, "queue")["holds"] is True
    assert result["verdict"] == "input"


def test_a_done_task_just_says_so():
    result = why_task_not_running(TaskFactory(status=TaskStatus.DONE))
    assert result["summary"] == "The task is done." and result["verdict"] is None


def test_a_running_job_just_says_so():
    result = why_job_not_running(JobFactory(jobstatus=JobStatus.RUNNING))
    assert result == {
        "subject": "job",
        "id": result["id"],
        "status": "running",
        "verdict": None,
        "summary": "The job is running.",
        "checks": [],
    }


def test_an_activated_job_on_a_paused_queue_blames_the_queue():
    queue("Q_PAUSED", status="brokeroff")
    pilot_seen("Q_PAUSED")
    result = why_job_not_running(JobFactory(jobstatus=JobStatus.ACTIVATED, computingsite="Q_PAUSED"))
    assert result["verdict"] == "queue" and "Q_PAUSED is brokeroff" in result["summary"]


def test_an_activated_job_without_pilots_blames_the_pilots():
    queue("Q_NOPILOT")
    result = why_job_not_running(JobFactory(jobstatus=JobStatus.ACTIVATED, computingsite="Q_NOPILOT"))
    assert result["verdict"] == "pilots"
    assert "no getJob ever recorded" in result["summary"]


def test_a_failed_job_on_its_last_attempt_has_exhausted_its_retries():
    job = JobFactory(jobstatus=JobStatus.FAILED, attemptnr=3, maxattempt=3)
    result = why_job_not_running(job)
    assert result["verdict"] == "retries"
    assert check(result, "retries")["evidence"] == f"/jobrelationships/{job.pandaid}/"


def test_a_failed_job_that_was_retried_points_at_its_retry():
    old = JobFactory(jobstatus=JobStatus.FAILED, attemptnr=1, maxattempt=1, jeditaskid=7)
    new = JobFactory(jobstatus=JobStatus.RUNNING, jeditaskid=7)
    JobRetryHistory.objects.create(
        jeditaskid=7, oldpandaid=old.pandaid, newpandaid=new.pandaid, originpandaid=old.pandaid
    )
    result = why_job_not_running(old)
    assert result["verdict"] is None
    assert check(result, "retries")["evidence"] == f"/job/{new.pandaid}/"


def test_why_not_running_by_id_returns_none_for_unknown_objects():
    assert why_not_running(jeditaskid=999999) is None
    assert why_not_running(pandaid=999999) is None
    task = TaskFactory(status=TaskStatus.DEFINED)
    assert why_not_running(jeditaskid=task.jeditaskid)["verdict"] == "input"


def test_the_panel_is_on_the_task_and_job_pages_and_in_their_json(client):
    task = TaskFactory(status=TaskStatus.DEFINED)
    assert client.get(f"/task/{task.jeditaskid}/?json").json()["why_not_running"]["verdict"] == "input"
    html = client.get(f"/task/{task.jeditaskid}/").content.decode()
    assert 'data-testid="why-not-running"' in html and 'data-cause="input"' in html
    job = JobFactory(jobstatus=JobStatus.FAILED, attemptnr=2, maxattempt=2)
    assert client.get(f"/job/{job.pandaid}/?json").json()["why_not_running"]["verdict"] == "retries"
    assert f'href="/jobrelationships/{job.pandaid}/">evidence' in client.get(f"/job/{job.pandaid}/").content.decode()


def test_job_generation_held_back_by_the_user_cap_blames_the_throttle(settings):
    settings.PANDA_CAP_RUNNING_USER_JOBS = 1
    task = ready_task(status=TaskStatus.READY, username="Jane Doe")
    queue("Q_CAPPED")
    pilot_seen("Q_CAPPED")
    for _ in range(3):
        JobFactory(
            jeditaskid=task.jeditaskid,
            jobstatus=JobStatus.ACTIVATED,
            computingsite="Q_CAPPED",
            prodsourcelabel="user",
            produsername="Jane Doe",
        )
    result = why_task_not_running(task)
    assert result["verdict"] == "queue"
    assert "job generation is throttled: user Jane Doe: 3 queued jobs" in result["summary"]
