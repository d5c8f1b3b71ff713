import pytest

from apps.accounts.identity import ANONYMOUS, Identity
from apps.jobs.models import Job
from apps.jobs.services.commands import job_set_command, job_set_debug_mode
from apps.jobs.states import ACTIVE_GROUP, ARCHIVED_GROUP, DEFINED_GROUP
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

PRODUCTION = Identity(user_id=1, username="prod", dn="Prod Robot/CN=nickname:prod", fqans=("/atlas/Role=production",))
OWNER = Identity(user_id=2, username="jdoe", dn="Jane Doe/CN=nickname:jdoe", fqans=())
STRANGER = Identity(user_id=3, username="other", dn="John Smith/CN=nickname:jsmith", fqans=())
WG_PRODUCTION = Identity(
    user_id=4, username="wg", dn="Wg Manager/CN=nickname:wg", fqans=("/atlas/phys-higgs/Role=production",)
)


def special(job) -> str | None:
    return Job.objects.get(pk=job.pk).specialhandling


# --- job/set_command --------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(DEFINED_GROUP | ACTIVE_GROUP))
def test_production_sets_a_command_on_defined_and_active_jobs(status):
    job = JobFactory(jobstatus=status)

    result = job_set_command(identity=PRODUCTION, pandaid=job.pandaid, command="tail -30 payload.stdout")

    assert result == (True, "Succeeded")
    assert Job.objects.get(pk=job.pk).commandtopilot == "tail -30 payload.stdout"


@pytest.mark.parametrize("status", sorted(ARCHIVED_GROUP))
def test_a_command_for_an_archived_job_is_refused(status):
    job = JobFactory(jobstatus=status)

    result = job_set_command(identity=PRODUCTION, pandaid=job.pandaid, command="ls")

    assert result == (False, f"no active job with PandaID={job.pandaid}")
    assert Job.objects.get(pk=job.pk).commandtopilot is None


def test_a_command_for_an_unknown_job_is_refused():
    assert job_set_command(identity=PRODUCTION, pandaid=5555, command="ls") == (
        False,
        "no active job with PandaID=5555",
    )


def test_a_job_being_killed_keeps_its_kill_command():
    job = JobFactory(jobstatus="running", commandtopilot="tobekilled")

    result = job_set_command(identity=PRODUCTION, pandaid=job.pandaid, command="ls")

    assert result == (False, "job is being killed")
    assert Job.objects.get(pk=job.pk).commandtopilot == "tobekilled"


def test_commands_are_limited_to_250_characters():
    job = JobFactory(jobstatus="running")

    assert job_set_command(identity=PRODUCTION, pandaid=job.pandaid, command="x" * 250).success
    result = job_set_command(identity=PRODUCTION, pandaid=job.pandaid, command="y" * 251)

    assert result == (False, "command is longer than 250 characters")
    assert Job.objects.get(pk=job.pk).commandtopilot == "x" * 250


@pytest.mark.parametrize("identity", [OWNER, WG_PRODUCTION, ANONYMOUS])
def test_only_production_sets_commands(identity):
    job = JobFactory(jobstatus="running", workinggroup="phys-higgs")

    result = job_set_command(identity=identity, pandaid=job.pandaid, command="ls")

    assert result.success is False
    assert Job.objects.get(pk=job.pk).commandtopilot is None


def test_an_empty_command_is_refused():
    job = JobFactory(jobstatus="running")

    assert job_set_command(identity=PRODUCTION, pandaid=job.pandaid, command="") == (False, "command must not be empty")


# --- debug mode -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(DEFINED_GROUP | ACTIVE_GROUP))
def test_the_owner_turns_debug_mode_on_and_off(status):
    job = JobFactory(jobstatus=status, produsername="Jane Doe", specialhandling="ddm,sj")

    assert job_set_debug_mode(identity=OWNER, pandaid=job.pandaid, on=True) == (True, "Succeeded")
    assert special(job) == "ddm,sj,dm"
    assert job_set_debug_mode(identity=OWNER, pandaid=job.pandaid, on=False) == (True, "Succeeded")
    assert special(job) == "ddm,sj"


def test_turning_off_the_only_flag_leaves_special_handling_empty():
    job = JobFactory(jobstatus="running", produsername="Jane Doe", specialhandling="dm")

    job_set_debug_mode(identity=OWNER, pandaid=job.pandaid, on=False)

    assert special(job) is None


def test_setting_the_mode_it_already_has_changes_nothing():
    job = JobFactory(jobstatus="running", produsername="Jane Doe", specialhandling="dm")

    assert job_set_debug_mode(identity=OWNER, pandaid=job.pandaid, on=True) == (True, "Already set accordingly")
    assert special(job) == "dm"


@pytest.mark.parametrize("status", sorted(ARCHIVED_GROUP))
def test_debug_mode_is_refused_for_archived_jobs(status):
    job = JobFactory(jobstatus=status, produsername="Jane Doe")

    result = job_set_debug_mode(identity=PRODUCTION, pandaid=job.pandaid, on=True)

    assert result.success is False
    assert f"job status is {status}" in result.message
    assert special(job) is None


def test_debug_mode_for_an_unknown_job_is_refused():
    assert job_set_debug_mode(identity=PRODUCTION, pandaid=4444, on=True) == (
        False,
        "PandaID=4444 not found in active DB",
    )


@pytest.mark.parametrize("identity", [STRANGER, ANONYMOUS])
def test_debug_mode_is_refused_to_others(identity):
    job = JobFactory(jobstatus="running", produsername="Jane Doe", workinggroup="phys-higgs")

    result = job_set_debug_mode(identity=identity, pandaid=job.pandaid, on=True)

    assert result == (False, "Permission denied. Not the owner or production manager")
    assert special(job) is None


def test_the_owner_may_have_three_debug_jobs_and_is_told_which():
    debugging = [JobFactory(jobstatus="running", produsername="Jane Doe", specialhandling="dm") for _ in range(3)]
    JobFactory(jobstatus="finished", produsername="Jane Doe", specialhandling="dm")  # archived ones do not count
    JobFactory(jobstatus="running", produsername="John Smith", specialhandling="dm")  # nor other people's
    job = JobFactory(jobstatus="running", produsername="Jane Doe")

    result = job_set_debug_mode(identity=OWNER, pandaid=job.pandaid, on=True)

    ids = ",".join(str(j.pandaid) for j in sorted(debugging, key=lambda j: j.pandaid))
    assert result == (
        False,
        "You already hit the limit on the maximum number of debug subjobs (3 jobs). "
        f"Please set the debug mode off for one of the following PandaIDs : {ids}",
    )
    assert special(job) is None
    assert job_set_debug_mode(identity=OWNER, pandaid=debugging[0].pandaid, on=False).success
    assert job_set_debug_mode(identity=OWNER, pandaid=job.pandaid, on=True) == (True, "Succeeded")


def test_a_working_group_production_role_may_have_ten_debug_jobs_of_its_group():
    for _ in range(10):
        JobFactory(jobstatus="running", produsername="Someone", workinggroup="phys-higgs", specialhandling="dm")
    job = JobFactory(jobstatus="running", produsername="Someone Else", workinggroup="phys-higgs")
    other_group = JobFactory(jobstatus="running", produsername="Someone", workinggroup="phys-top")

    result = job_set_debug_mode(identity=WG_PRODUCTION, pandaid=job.pandaid, on=True)

    assert result.success is False
    assert "(10 jobs)" in result.message
    assert special(job) is None
    assert job_set_debug_mode(identity=WG_PRODUCTION, pandaid=other_group.pandaid, on=True).success is False


def test_a_working_group_below_its_limit_succeeds():
    for _ in range(9):
        JobFactory(jobstatus="running", workinggroup="phys-higgs", specialhandling="dm")
    job = JobFactory(jobstatus="sent", workinggroup="phys-higgs")

    assert job_set_debug_mode(identity=WG_PRODUCTION, pandaid=job.pandaid, on=True) == (True, "Succeeded")
    assert special(job) == "dm"


def test_production_has_no_debug_limit():
    for _ in range(12):
        JobFactory(jobstatus="running", produsername="Prod Robot", specialhandling="dm")
    job = JobFactory(jobstatus="running", produsername="Prod Robot")

    assert job_set_debug_mode(identity=PRODUCTION, pandaid=job.pandaid, on=True) == (True, "Succeeded")


def test_turning_debug_off_is_never_limited():
    for _ in range(3):
        JobFactory(jobstatus="running", produsername="Jane Doe", specialhandling="dm")
    job = JobFactory(jobstatus="running", produsername="Jane Doe", specialhandling="dm")

    assert job_set_debug_mode(identity=OWNER, pandaid=job.pandaid, on=False) == (True, "Succeeded")
