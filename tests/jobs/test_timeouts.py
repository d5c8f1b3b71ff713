import json
from datetime import timedelta

import pytest

from apps.core.timeutil import format_wire_time, utcnow
from apps.jobs.models import FileType, Job, JobFile, JobOutputReport, JobStatusLog
from apps.jobs.services.timeouts import DEFAULTS, watcher_run, watcher_summary
from apps.workers.models import JobWorker, Worker
from pandaweb.settings import SettingError, env_seconds_map
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, job_with_files, queue_document

pytestmark = pytest.mark.django_db

MINUTE = 60
FAILED_100 = {"jobstatus": "failed", "jobdispatchererrorcode": 100}

# (rule, timeout key, status, job fields, reference time, expected fields after the rule acted)
CASES = [
    ("sent", "sent", "sent", {}, "modificationtime", {"jobstatus": "failed", "jobdispatchererrorcode": 102}),
    ("heartbeat", "heartbeat", "running", {"prodsourcelabel": "managed"}, "modificationtime", FAILED_100),
    ("heartbeat", "heartbeat", "starting", {"prodsourcelabel": "test"}, "modificationtime", FAILED_100),
    ("heartbeat", "heartbeat_analysis", "running", {"prodsourcelabel": "user"}, "modificationtime", FAILED_100),
    ("heartbeat", "heartbeat_analysis", "starting", {"prodsourcelabel": "panda"}, "modificationtime", FAILED_100),
    (
        "transferring_heartbeat",
        "heartbeat_analysis",
        "transferring",
        {"prodsourcelabel": "user"},
        "modificationtime",
        FAILED_100,
    ),
    (
        "transferring_heartbeat",
        "heartbeat",
        "transferring",
        {"prodsourcelabel": "managed", "jobsubstatus": "harvester_failed"},
        "modificationtime",
        FAILED_100,
    ),
    (
        "holding",
        "holding_analysis",
        "holding",
        {"prodsourcelabel": "user", "currentpriority": 500},
        "modificationtime",
        {"jobstatus": "failed", "jobdispatchererrorcode": 103, "jobdispatchererrordiag": "timeout in holding"},
    ),
    (
        "holding",
        "holding_high_priority",
        "holding",
        {"prodsourcelabel": "managed", "currentpriority": 900},
        "modificationtime",
        {"jobstatus": "failed", "jobdispatchererrorcode": 103},
    ),
    (
        "holding",
        "holding",
        "holding",
        {"prodsourcelabel": "managed", "currentpriority": 800},
        "modificationtime",
        {"jobstatus": "failed", "jobdispatchererrorcode": 103},
    ),
    (
        "transferring",
        "transferring_high_priority",
        "transferring",
        {"prodsourcelabel": "managed", "currentpriority": 800},
        "modificationtime",
        {"jobstatus": "failed", "taskbuffererrorcode": 101, "taskbuffererrordiag": "transfer timeout"},
    ),
    (
        "transferring",
        "transferring",
        "transferring",
        {"prodsourcelabel": "managed", "currentpriority": 799},
        "modificationtime",
        {"jobstatus": "failed", "taskbuffererrorcode": 101},
    ),
    (
        "defined",
        "defined",
        "defined",
        {"prodsourcelabel": "managed"},
        "modificationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign", "taskbuffererrorcode": 100},
    ),
    (
        "defined",
        "defined",
        "defined",
        {"prodsourcelabel": "test"},
        "modificationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign"},
    ),
    (
        "defined_group_managed",
        "defined_group_managed",
        "assigned",
        {"prodsourcelabel": "managed"},
        "modificationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign", "taskbuffererrorcode": 100},
    ),
    (
        "defined_group",
        "defined_group",
        "assigned",
        {"prodsourcelabel": "user"},
        "modificationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign", "taskbuffererrorcode": 102},
    ),
    (
        "defined_group",
        "defined_group",
        "defined",
        {"prodsourcelabel": "user"},
        "modificationtime",
        {"jobstatus": "closed", "taskbuffererrorcode": 102},
    ),
    (
        "activated_managed",
        "activated_managed",
        "activated",
        {"prodsourcelabel": "managed"},
        "modificationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign", "taskbuffererrorcode": 100},
    ),
    (
        "activated",
        "activated",
        "activated",
        {"prodsourcelabel": "test"},
        "modificationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign", "taskbuffererrorcode": 102},
    ),
    (
        "starting_managed",
        "starting_managed",
        "starting",
        {"prodsourcelabel": "managed"},
        "statechangetime",
        {"jobstatus": "starting", "commandtopilot": "tobekilled", "taskbuffererrorcode": 100},
    ),
    (
        "pending",
        "pending",
        "pending",
        {},
        "modificationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign", "taskbuffererrorcode": 104},
    ),
    (
        "waiting",
        "waiting",
        "waiting",
        {},
        "modificationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign", "taskbuffererrorcode": 104},
    ),
    (
        "throttled",
        "throttled",
        "throttled",
        {"prodsourcelabel": "managed"},
        "creationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign", "taskbuffererrorcode": 102},
    ),
    (
        "running_max",
        "running_max",
        "running",
        {"prodsourcelabel": "managed"},
        "creationtime",
        {"jobstatus": "running", "commandtopilot": "tobekilled", "taskbuffererrorcode": 102},
    ),
    (
        "analysis_untouched",
        "analysis_untouched",
        "activated",
        {"prodsourcelabel": "user"},
        "modificationtime",
        {"jobstatus": "closed", "jobsubstatus": "toreassign", "taskbuffererrorcode": 102},
    ),
]
IDS = [f"{case[0]}-{case[2]}-{case[3].get('prodsourcelabel', 'managed')}" for case in CASES]


def ago(seconds: int):
    return utcnow() - timedelta(seconds=seconds)


def aged_job(status, fields, reference, age, **extra):
    times = {"modificationtime": utcnow(), "creationtime": utcnow(), reference: ago(age)}
    return job_with_files(jobstatus=status, **{**fields, **times, **extra})


def fresh(job):
    return Job.objects.get(pk=job.pk)


def assert_fields(job, expected):
    job = fresh(job)
    assert {field: getattr(job, field) for field in expected} == expected


def assert_untouched(job, status):
    job = fresh(job)
    assert (job.jobstatus, job.commandtopilot, job.taskbuffererrorcode, job.jobdispatchererrorcode) == (
        status,
        None,
        0,
        0,
    )


@pytest.mark.parametrize(("rule", "key", "status", "fields", "reference", "expected"), CASES, ids=IDS)
def test_each_rule_acts_once_its_default_timeout_has_passed(rule, key, status, fields, reference, expected):
    late = aged_job(status, fields, reference, DEFAULTS[key] + MINUTE)
    early = aged_job(status, fields, reference, DEFAULTS[key] - MINUTE)

    counts = watcher_run()

    assert_fields(late, expected)
    assert_untouched(early, status)
    assert counts[rule] == 1


@pytest.mark.parametrize(("rule", "key", "status", "fields", "reference", "expected"), CASES, ids=IDS)
def test_each_timeout_can_be_overridden_by_the_settings(settings, rule, key, status, fields, reference, expected):
    settings.PANDA_TIMEOUTS = {key: 10 * MINUTE}
    late = aged_job(status, fields, reference, 11 * MINUTE)
    early = aged_job(status, fields, reference, 9 * MINUTE)

    watcher_run()

    assert_fields(late, expected)
    assert_untouched(early, status)


@pytest.mark.parametrize(("rule", "key", "status", "fields", "reference", "expected"), CASES, ids=IDS)
def test_each_timeout_can_be_overridden_per_queue(settings, rule, key, status, fields, reference, expected):
    settings.PANDA_TIMEOUTS = {key: 20 * MINUTE}
    site = SiteFactory(name="SITE_T")
    PandaQueueFactory(
        name="Q_SHORT", site=site, document=queue_document("Q_SHORT", "SITE_T", panda_timeouts={key: 600})
    )
    PandaQueueFactory(name="Q_LONG", site=site, document=queue_document("Q_LONG", "SITE_T", panda_timeouts={key: 7200}))
    short = aged_job(status, fields, reference, 11 * MINUTE, computingsite="Q_SHORT")
    plain = aged_job(status, fields, reference, 11 * MINUTE, computingsite="Q_PLAIN")
    long_queue = aged_job(status, fields, reference, 30 * MINUTE, computingsite="Q_LONG")

    watcher_run()

    assert_fields(short, expected)
    assert_untouched(plain, status)
    assert_untouched(long_queue, status)


@pytest.mark.parametrize(
    "document",
    [{"status": "paused"}, {"catchall": "disableReassign"}, {"catchall": "curlgetjob,disableReassign"}],
)
@pytest.mark.parametrize(
    ("rule", "key", "status", "fields", "reference", "expected"), CASES[:3] + CASES[12:13], ids=IDS[:3] + IDS[12:13]
)
def test_jobs_at_paused_or_disable_reassign_queues_are_skipped(
    document, rule, key, status, fields, reference, expected
):
    PandaQueueFactory(
        name="Q_SKIP", site=SiteFactory(name="SITE_S"), document=queue_document("Q_SKIP", "SITE_S", **document)
    )
    job = aged_job(status, fields, reference, DEFAULTS[key] + MINUTE, computingsite="Q_SKIP")

    watcher_run()

    assert_untouched(job, status)


def test_the_sent_diag_is_exact():
    job = aged_job("sent", {}, "modificationtime", 31 * MINUTE)

    watcher_run()

    assert fresh(job).jobdispatchererrordiag == "Sent job didn't receive reply from pilot within 30 min"


def test_the_sent_diag_names_an_overridden_timeout(settings):
    settings.PANDA_TIMEOUTS = {"sent": 45 * MINUTE}
    job = aged_job("sent", {}, "modificationtime", 46 * MINUTE)

    watcher_run()

    assert fresh(job).jobdispatchererrordiag == "Sent job didn't receive reply from pilot within 45 min"


def test_the_lost_heartbeat_diag_names_the_last_heartbeat():
    job = aged_job("running", {}, "modificationtime", 3 * 3600)
    last = fresh(job).modificationtime

    watcher_run()

    assert fresh(job).jobdispatchererrordiag == f"lost heartbeat : {format_wire_time(last)}"


def test_a_watcher_failure_fails_the_outputs_and_log_and_sets_end_time_to_the_last_heartbeat():
    job = aged_job("running", {}, "modificationtime", 3 * 3600)
    last = fresh(job).modificationtime

    watcher_run()

    job = fresh(job)
    assert job.endtime == last
    assert {f.status for f in JobFile.objects.filter(job=job, type__in=[FileType.OUTPUT, FileType.LOG])} == {"failed"}
    assert {f.status for f in JobFile.objects.filter(job=job, type=FileType.INPUT)} == {"ready"}
    log = JobStatusLog.objects.filter(pandaid=job.pandaid).last()
    assert (log.oldstatus, log.jobstatus) == ("running", "failed")


def test_a_watcher_failure_keeps_an_end_time_already_set():
    end = ago(4 * 3600).replace(microsecond=0)
    job = aged_job("holding", {"prodsourcelabel": "user"}, "modificationtime", 4 * 3600, endtime=end)

    watcher_run()

    assert (fresh(job).jobstatus, fresh(job).endtime) == ("failed", end)


@pytest.mark.parametrize("worker_status", ["finished", "failed", "cancelled", "missed"])
def test_a_lost_heartbeat_with_a_finished_harvester_worker_sets_sup_error_code_2(worker_status):
    job = aged_job("running", {}, "modificationtime", 3 * 3600)
    Worker.objects.create(harvesterid="h1", workerid=7, status=worker_status)
    JobWorker.objects.create(harvesterid="h1", workerid=7, pandaid=job.pandaid)

    watcher_run()

    job = fresh(job)
    assert (job.jobstatus, job.jobdispatchererrorcode, job.superrorcode) == ("failed", 100, 2)
    assert job.superrordiag == f"worker already {worker_status}"


def test_a_lost_heartbeat_with_a_live_worker_leaves_the_sup_error_code_alone():
    job = aged_job("running", {}, "modificationtime", 3 * 3600)
    Worker.objects.create(harvesterid="h1", workerid=8, status="running")
    Worker.objects.create(harvesterid="h2", workerid=7, status="finished")
    JobWorker.objects.create(harvesterid="h1", workerid=8, pandaid=job.pandaid)

    watcher_run()

    assert (fresh(job).jobstatus, fresh(job).superrorcode) == ("failed", 0)


def test_the_heartbeat_timeout_follows_the_queue_workflow(settings):
    settings.PANDA_TIMEOUTS = {"heartbeat_push": 10 * MINUTE}
    site = SiteFactory(name="SITE_W")
    PandaQueueFactory(name="Q_PUSH", site=site, document=queue_document("Q_PUSH", "SITE_W", workflow="push"))
    PandaQueueFactory(name="Q_PULL", site=site, document=queue_document("Q_PULL", "SITE_W", workflow="pull"))
    push = aged_job("running", {}, "modificationtime", 11 * MINUTE, computingsite="Q_PUSH")
    pull = aged_job("running", {}, "modificationtime", 11 * MINUTE, computingsite="Q_PULL")
    analysis = aged_job("running", {"prodsourcelabel": "user"}, "modificationtime", 11 * MINUTE, computingsite="Q_PUSH")

    watcher_run()

    assert fresh(push).jobstatus == "failed"
    assert fresh(pull).jobstatus == "running"
    assert fresh(analysis).jobstatus == "running"


def test_a_queue_heartbeat_value_applies_to_every_workflow_of_that_queue(settings):
    settings.PANDA_TIMEOUTS = {"heartbeat_push": 3 * 3600}
    PandaQueueFactory(
        name="Q_PUSH",
        site=SiteFactory(name="SITE_W"),
        document=queue_document("Q_PUSH", "SITE_W", workflow="push", panda_timeouts={"heartbeat": 600}),
    )
    job = aged_job("running", {}, "modificationtime", 11 * MINUTE, computingsite="Q_PUSH")

    watcher_run()

    assert fresh(job).jobstatus == "failed"


def test_an_analysis_job_in_holding_with_a_pending_output_report_waits_for_the_long_timeout():
    job = aged_job("holding", {"prodsourcelabel": "user", "currentpriority": 500}, "modificationtime", 4 * 3600)
    JobOutputReport.objects.create(job=job, attemptnr=job.attemptnr, final_status="finished", data=json.dumps({}))

    watcher_run()

    assert fresh(job).jobstatus == "holding"


def test_a_co_jumbo_job_waiting_is_not_killed():
    job = aged_job("waiting", {"eventservice": 5}, "modificationtime", 2 * 3600)

    watcher_run()

    assert_untouched(job, "waiting")


def test_a_job_already_being_killed_is_not_killed_again_for_running_too_long():
    job = aged_job("running", {"commandtopilot": "tobekilled", "taskbuffererrorcode": 103}, "creationtime", 22 * 86400)

    counts = watcher_run()

    assert fresh(job).taskbuffererrorcode == 103
    assert counts["running_max"] == 0


def test_invalid_per_queue_values_are_ignored():
    PandaQueueFactory(
        name="Q_BAD",
        site=SiteFactory(name="SITE_B"),
        document=queue_document("Q_BAD", "SITE_B", panda_timeouts={"sent": "10", "bogus": 5, "pending": -1}),
    )
    job = aged_job("sent", {}, "modificationtime", 20 * MINUTE, computingsite="Q_BAD")

    watcher_run()

    assert_untouched(job, "sent")


def test_jobs_are_handled_in_batches_until_none_is_left():
    jobs = [aged_job("sent", {}, "modificationtime", 31 * MINUTE) for _ in range(5)]

    counts = watcher_run(batch_size=2)

    assert counts["sent"] == 5
    assert {fresh(job).jobstatus for job in jobs} == {"failed"}


def test_a_second_run_finds_nothing_more_to_do():
    aged_job("sent", {}, "modificationtime", 31 * MINUTE)
    watcher_run()

    counts = watcher_run()

    assert sum(counts.values()) == 0
    assert watcher_summary(counts) == "watcher: 0 jobs; nothing to do"


def test_the_summary_names_the_rules_that_acted():
    aged_job("sent", {}, "modificationtime", 31 * MINUTE)
    aged_job("pending", {}, "modificationtime", 2 * 3600)

    assert watcher_summary(watcher_run()) == "watcher: 2 jobs; sent=1 pending=1"


def test_final_jobs_are_never_touched():
    job = JobFactory(jobstatus="finished", modificationtime=ago(30 * 86400), creationtime=ago(30 * 86400))

    assert sum(watcher_run().values()) == 0
    assert fresh(job).jobstatus == "finished"


def test_timeouts_are_read_from_panda_timeout_environment_variables(monkeypatch):
    monkeypatch.setenv("PANDA_TIMEOUT_SENT", "1200")
    monkeypatch.setenv("PANDA_TIMEOUT_HEARTBEAT_PUSH", "7200")

    assert env_seconds_map("PANDA_TIMEOUT_") == {"sent": 1200, "heartbeat_push": 7200}


@pytest.mark.parametrize("bad", ["soon", "0", "-5"])
def test_a_bad_timeout_environment_variable_is_rejected(monkeypatch, bad):
    monkeypatch.setenv("PANDA_TIMEOUT_SENT", bad)

    with pytest.raises(SettingError):
        env_seconds_map("PANDA_TIMEOUT_")
