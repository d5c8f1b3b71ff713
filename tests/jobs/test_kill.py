import pytest

from apps.accounts.identity import ANONYMOUS, Identity
from apps.jobs.models import Job, JobFile, JobStatusLog
from apps.jobs.services.kill import (
    KillOptionError,
    jobs_kill,
    jobs_kill_by_system,
    jobs_reassign,
    kill_options_parse,
)
from tests.factories import JobFactory, UserFactory, job_with_files

pytestmark = pytest.mark.django_db

OWNER = Identity(user_id=None, username="jdoe", dn="Jane Doe/CN=nickname:jdoe")
STRANGER = Identity(user_id=None, username="other", dn="Other Person/CN=nickname:other")
PRODUCTION = Identity(user_id=None, username="prod", dn="Prod Manager", fqans=("/atlas/Role=production",))
WG_PRODUCTION = Identity(user_id=None, username="wg", dn="Group Manager", fqans=("/atlas/phys-higgs/Role=production",))

# code -> (status, taskBufferErrorCode, jobSubStatus) for a job that is not running yet.
QUEUED_RESULTS = {
    2: ("closed", 102, "toreassign"),
    3: ("cancelled", 103, None),
    4: ("closed", 104, "toreassign"),
    7: ("cancelled", 106, None),
    8: ("cancelled", 105, None),
    9: ("cancelled", 100, None),
    10: ("closed", 130, None),
    50: ("cancelled", 100, None),
    51: ("closed", 100, "toreassign"),
    52: ("cancelled", 100, None),
    55: ("closed", 100, "taskdone"),
    60: ("closed", 100, None),
    91: ("cancelled", 100, None),
    99: ("cancelled", 100, None),
    None: ("cancelled", 100, None),
}


def fresh(job):
    return Job.objects.get(pk=job.pk)


@pytest.mark.parametrize("code", list(QUEUED_RESULTS))
@pytest.mark.parametrize("status", ["pending", "waiting", "defined", "assigned", "activated", "throttled"])
def test_a_queued_job_is_archived_at_once_with_the_result_of_its_kill_code(code, status):
    job = job_with_files(jobstatus=status, produsername="Jane Doe")

    assert jobs_kill(identity=OWNER, pandaids=[job.pandaid], code=code) == [True]

    expected_status, error_code, sub_status = QUEUED_RESULTS[code]
    job = fresh(job)
    assert (job.jobstatus, job.taskbuffererrorcode, job.jobsubstatus) == (expected_status, error_code, sub_status)
    assert job.endtime is not None
    assert job.taskbuffererrordiag
    log = JobStatusLog.objects.filter(pandaid=job.pandaid).order_by("id").last()
    assert (log.oldstatus, log.jobstatus) == (status, expected_status)
    assert set(JobFile.objects.filter(job=job, type__in=["output", "log"]).values_list("status", flat=True)) == {
        "failed"
    }
    assert set(JobFile.objects.filter(job=job, type="input").values_list("status", flat=True)) == {"ready"}


def test_the_expire_diag_names_the_state_and_since_when_it_is_unchanged():
    job = JobFactory(jobstatus="activated")

    jobs_kill_by_system(pandaids=[job.pandaid], code=2)

    assert fresh(job).taskbuffererrordiag.startswith("expired in activated. status unchanged since ")


def test_the_kill_diag_names_the_killer():
    job = JobFactory(jobstatus="activated")

    jobs_kill(identity=OWNER, pandaids=[job.pandaid], code=3)

    assert fresh(job).taskbuffererrordiag == "aborted by Jane Doe"


@pytest.mark.parametrize("code", [None, 2, 3, 4, 7, 8, 10, 50, 51, 55, 60, 91])
@pytest.mark.parametrize("status", ["sent", "starting", "running"])
def test_a_dispatched_job_only_gets_the_tobekilled_command_with_a_normal_kill(code, status):
    job = job_with_files(jobstatus=status, prodsourcelabel="managed")
    before = fresh(job).modificationtime

    assert jobs_kill_by_system(pandaids=[job.pandaid], code=code) == [True]

    job = fresh(job)
    assert job.jobstatus == status
    assert job.commandtopilot == "tobekilled"
    assert job.taskbuffererrorcode == QUEUED_RESULTS[code][1]
    assert job.taskbuffererrordiag
    assert job.modificationtime == before
    assert not JobStatusLog.objects.filter(pandaid=job.pandaid).exists()
    assert set(JobFile.objects.filter(job=job, type="output").values_list("status", flat=True)) == {"unknown"}


@pytest.mark.parametrize("code", [9, 52, 99])
@pytest.mark.parametrize("status", ["sent", "starting", "running"])
def test_a_force_kill_cancels_a_dispatched_production_job_at_once(code, status):
    job = job_with_files(jobstatus=status, prodsourcelabel="managed")

    assert jobs_kill_by_system(pandaids=[job.pandaid], code=code) == [True]

    job = fresh(job)
    assert (job.jobstatus, job.commandtopilot) == ("cancelled", "tobekilled")
    log = JobStatusLog.objects.get(pandaid=job.pandaid)
    assert (log.oldstatus, log.jobstatus) == (status, "cancelled")
    assert set(JobFile.objects.filter(job=job, type__in=["output", "log"]).values_list("status", flat=True)) == {
        "failed"
    }


@pytest.mark.parametrize("code", [9, 52])
def test_codes_9_and_52_only_send_tobekilled_to_a_running_analysis_job(code):
    job = JobFactory(jobstatus="running", prodsourcelabel="user")

    assert jobs_kill_by_system(pandaids=[job.pandaid], code=code) == [True]

    job = fresh(job)
    assert (job.jobstatus, job.commandtopilot) == ("running", "tobekilled")


def test_code_9_force_kills_a_running_event_service_analysis_job():
    job = JobFactory(jobstatus="running", prodsourcelabel="user", eventservice=1)

    jobs_kill_by_system(pandaids=[job.pandaid], code=9)

    assert fresh(job).jobstatus == "cancelled"


def test_code_99_force_kills_a_running_analysis_job_for_a_production_caller():
    job = JobFactory(jobstatus="running", prodsourcelabel="user", produsername="Somebody Else")

    assert jobs_kill(identity=PRODUCTION, pandaids=[job.pandaid], code=99) == [True]

    assert fresh(job).jobstatus == "cancelled"


@pytest.mark.parametrize("status", ["holding", "transferring", "merging", "finished", "failed", "cancelled", "closed"])
def test_a_job_that_already_reported_or_is_final_is_not_killed(status):
    job = JobFactory(jobstatus=status)

    assert jobs_kill_by_system(pandaids=[job.pandaid], code=9) == [False]

    job = fresh(job)
    assert (job.jobstatus, job.commandtopilot, job.taskbuffererrorcode) == (status, None, 0)


def test_killing_a_job_being_killed_again_keeps_the_first_diag():
    job = JobFactory(jobstatus="running")
    jobs_kill_by_system(pandaids=[job.pandaid], code=3, killer="first")

    assert jobs_kill_by_system(pandaids=[job.pandaid], code=8, killer="second") == [True]

    assert fresh(job).taskbuffererrordiag == "aborted by first"


def test_an_unknown_pandaid_answers_false_in_its_slot():
    job = JobFactory(jobstatus="activated")

    assert jobs_kill_by_system(pandaids=[987654321, job.pandaid], code=3) == [False, True]


def test_keep_unmerged_leaves_the_outputs_and_fails_only_the_log():
    job = job_with_files(jobstatus="activated")

    jobs_kill_by_system(pandaids=[job.pandaid], code=3, kill_options=["keepUnmerged"])

    statuses = dict(JobFile.objects.filter(job=job).values_list("type", "status"))
    assert statuses == {"input": "ready", "output": "unknown", "log": "failed"}


def test_job_sub_status_option_is_recorded_on_an_archived_job():
    job = JobFactory(jobstatus="activated")

    jobs_kill_by_system(pandaids=[job.pandaid], code=60, kill_options=["jobSubStatus=pilot_noWork"])

    job = fresh(job)
    assert (job.jobstatus, job.jobsubstatus) == ("closed", "pilot_noWork")


def test_job_sub_status_option_is_recorded_on_a_running_job():
    job = JobFactory(jobstatus="running")

    jobs_kill_by_system(pandaids=[job.pandaid], code=3, kill_options="keepUnmerged,jobSubStatus=by_user")

    job = fresh(job)
    assert (job.jobstatus, job.commandtopilot, job.jobsubstatus) == ("running", "tobekilled", "by_user")


def test_kill_options_are_parsed_from_lists_and_comma_strings():
    assert kill_options_parse(["keepUnmerged", "jobSubStatus=x"]) == kill_options_parse("keepUnmerged,jobSubStatus=x")
    assert kill_options_parse(None).keep_unmerged is False
    assert kill_options_parse([]).job_sub_status is None


@pytest.mark.parametrize("bad", [["keepMerged"], [3], "jobStatus=x"])
def test_an_unknown_kill_option_is_refused_and_nothing_is_killed(bad):
    job = JobFactory(jobstatus="activated")

    with pytest.raises(KillOptionError):
        jobs_kill_by_system(pandaids=[job.pandaid], code=3, kill_options=bad)

    assert fresh(job).jobstatus == "activated"


# --- permission matrix (iam.md §11) ------------------------------------------------------------

PRODUCTION_MAY_KILL_USER_JOBS = [2, 4, 7, 8, 9, 10, 50, 51, 52, 91, 99]


@pytest.mark.parametrize("label", ["user", "panda", "managed", "test"])
def test_the_owner_may_kill_its_own_job_with_any_code(label):
    job = JobFactory(jobstatus="activated", prodsourcelabel=label, produsername="Jane Doe")

    assert jobs_kill(identity=OWNER, pandaids=[job.pandaid], code=3) == [True]


@pytest.mark.parametrize("label", ["user", "managed"])
def test_someone_else_may_not_kill_the_job(label):
    job = JobFactory(jobstatus="activated", prodsourcelabel=label, produsername="Jane Doe")

    assert jobs_kill(identity=STRANGER, pandaids=[job.pandaid], code=2) == [False]

    assert fresh(job).jobstatus == "activated"


def test_an_anonymous_caller_may_not_kill_anything():
    job = JobFactory(jobstatus="activated", produsername="")

    assert jobs_kill(identity=ANONYMOUS, pandaids=[job.pandaid], code=2) == [False]


@pytest.mark.parametrize("code", [None, 3, 9, 55, 60, 91])
@pytest.mark.parametrize("label", ["managed", "test"])
def test_production_may_kill_production_jobs_with_any_code(code, label):
    job = JobFactory(jobstatus="activated", prodsourcelabel=label, produsername="Someone")

    assert jobs_kill(identity=PRODUCTION, pandaids=[job.pandaid], code=code) == [True]


@pytest.mark.parametrize("code", PRODUCTION_MAY_KILL_USER_JOBS)
@pytest.mark.parametrize("label", ["user", "panda"])
def test_production_may_kill_analysis_jobs_with_the_listed_codes(code, label):
    job = JobFactory(jobstatus="activated", prodsourcelabel=label, produsername="Someone")

    assert jobs_kill(identity=PRODUCTION, pandaids=[job.pandaid], code=code) == [True]


@pytest.mark.parametrize("code", [None, 3, 55, 60])
def test_production_may_not_kill_analysis_jobs_with_other_codes(code):
    job = JobFactory(jobstatus="activated", prodsourcelabel="user", produsername="Someone")

    assert jobs_kill(identity=PRODUCTION, pandaids=[job.pandaid], code=code) == [False]

    assert fresh(job).jobstatus == "activated"


@pytest.mark.parametrize("label", ["managed", "test"])
def test_working_group_production_may_kill_jobs_of_its_group(label):
    job = JobFactory(jobstatus="activated", prodsourcelabel=label, workinggroup="phys-higgs", produsername="X")

    assert jobs_kill(identity=WG_PRODUCTION, pandaids=[job.pandaid], code=3) == [True]


@pytest.mark.parametrize(
    ("label", "group"), [("managed", "phys-top"), ("managed", None), ("user", "phys-higgs"), ("panda", "phys-higgs")]
)
def test_working_group_production_may_not_kill_other_jobs(label, group):
    job = JobFactory(jobstatus="activated", prodsourcelabel=label, workinggroup=group, produsername="X")

    assert jobs_kill(identity=WG_PRODUCTION, pandaids=[job.pandaid], code=3) == [False]


def test_use_email_as_id_lets_the_caller_kill_jobs_owned_by_its_email_address():
    user = UserFactory(email="jane.doe@example.org")
    identity = Identity(user_id=user.pk, username=user.username, dn=user.dn)
    job = JobFactory(jobstatus="activated", prodsourcelabel="user", produsername="jane.doe@example.org")

    assert jobs_kill(identity=identity, pandaids=[job.pandaid], code=3) == [False]
    assert jobs_kill(identity=identity, pandaids=[job.pandaid], code=3, use_email_as_id=True) == [True]


def test_each_job_of_a_request_gets_its_own_permission_decision():
    mine = JobFactory(jobstatus="activated", produsername="Jane Doe")
    theirs = JobFactory(jobstatus="activated", produsername="Other Owner")

    assert jobs_kill(identity=OWNER, pandaids=[mine.pandaid, theirs.pandaid], code=3) == [True, False]


# --- reassign ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "defined", "assigned", "activated", "throttled"])
def test_reassign_closes_a_queued_job_with_toreassign(status):
    job = JobFactory(jobstatus=status, produsername="Jane Doe")

    assert jobs_reassign(identity=OWNER, pandaids=[job.pandaid]) == [True]

    job = fresh(job)
    assert (job.jobstatus, job.jobsubstatus, job.taskbuffererrorcode) == ("closed", "toreassign", 100)
    assert job.taskbuffererrordiag == "reassigned by Jane Doe"


@pytest.mark.parametrize("status", ["sent", "running", "holding", "finished"])
def test_reassign_leaves_dispatched_and_final_jobs_alone(status):
    job = JobFactory(jobstatus=status, produsername="Jane Doe")

    assert jobs_reassign(identity=OWNER, pandaids=[job.pandaid]) == [False]

    job = fresh(job)
    assert (job.jobstatus, job.commandtopilot) == (status, None)


def test_reassign_needs_the_kill_permission():
    job = JobFactory(jobstatus="activated", produsername="Jane Doe")

    assert jobs_reassign(identity=STRANGER, pandaids=[job.pandaid]) == [False]

    assert fresh(job).jobstatus == "activated"


def test_a_job_dispatched_while_being_killed_gets_tobekilled_instead_of_being_archived():
    from apps.jobs.services.kill import job_kill

    job = JobFactory(jobstatus="activated")
    seen_by_killer = fresh(job)
    Job.objects.filter(pk=job.pk).update(jobstatus="sent")

    assert job_kill(seen_by_killer, code=3, killer="me") is True

    job = fresh(job)
    assert (job.jobstatus, job.commandtopilot) == ("sent", "tobekilled")
