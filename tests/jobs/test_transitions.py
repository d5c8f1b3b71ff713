import pytest

from apps.core.transitions import IllegalTransition, StaleStatus
from apps.jobs.models import Job, JobStatusLog
from apps.jobs.services.transitions import job_change_status, jobs_change_status_bulk
from apps.jobs.states import TRANSITIONS, JobStatus
from tests.factories import JobFactory

ALL = [s.value for s in JobStatus]
ALLOWED = [(old, new) for old, targets in TRANSITIONS.items() for new in sorted(targets)]
FORBIDDEN = [(old, new) for old in ALL for new in ALL if new not in TRANSITIONS[old]]


@pytest.mark.django_db
@pytest.mark.parametrize(("old", "new"), ALLOWED)
def test_every_allowed_transition_updates_the_row_and_writes_one_log_row(old, new):
    job = JobFactory(jobstatus=old)
    before = JobStatusLog.objects.filter(pandaid=job.pandaid).count()

    job_change_status(job, new=new, reason="test")

    assert Job.objects.get(pk=job.pk).jobstatus == new
    rows = JobStatusLog.objects.filter(pandaid=job.pandaid).order_by("id")
    assert rows.count() == before + 1
    assert (rows.last().oldstatus, rows.last().jobstatus) == (old, new)


@pytest.mark.django_db
@pytest.mark.parametrize(("old", "new"), FORBIDDEN)
def test_every_forbidden_transition_raises_and_changes_nothing(old, new):
    job = JobFactory(jobstatus=old)
    before = JobStatusLog.objects.filter(pandaid=job.pandaid).count()

    with pytest.raises(IllegalTransition):
        job_change_status(job, new=new)

    assert Job.objects.get(pk=job.pk).jobstatus == old
    assert JobStatusLog.objects.filter(pandaid=job.pandaid).count() == before


@pytest.mark.django_db
def test_a_transition_from_a_state_the_job_has_left_is_refused_as_stale():
    job = JobFactory(jobstatus=JobStatus.ACTIVATED)
    stale_copy = Job.objects.get(pk=job.pk)
    job_change_status(job, new=JobStatus.SENT)

    with pytest.raises(StaleStatus):
        job_change_status(stale_copy, new=JobStatus.SENT)

    assert JobStatusLog.objects.filter(pandaid=job.pandaid, jobstatus="sent").count() == 1


@pytest.mark.django_db
def test_final_states_accept_no_transition():
    for final in ("finished", "failed", "cancelled", "closed"):
        assert TRANSITIONS[final] == frozenset()


@pytest.mark.django_db
def test_a_guarded_transition_loses_to_a_heartbeat_that_arrived_after_the_read():
    job = JobFactory(jobstatus=JobStatus.RUNNING)
    seen_by_watcher = Job.objects.get(pk=job.pk)
    Job.objects.filter(pk=job.pk).update(modificationtime=seen_by_watcher.modificationtime.replace(year=2099))

    with pytest.raises(StaleStatus):
        job_change_status(seen_by_watcher, new=JobStatus.FAILED, unchanged_since=True)

    assert Job.objects.get(pk=job.pk).jobstatus == JobStatus.RUNNING


@pytest.mark.django_db
def test_a_bulk_transition_moves_the_jobs_still_in_the_old_state_and_logs_each():
    pending = [JobFactory(jobstatus=JobStatus.PENDING, computingsite="QUEUE_B") for _ in range(3)]
    elsewhere = JobFactory(jobstatus=JobStatus.ACTIVATED)

    moved = jobs_change_status_bulk(
        [job.pandaid for job in pending] + [elsewhere.pandaid], old="pending", new="defined", reason="jedi"
    )

    assert sorted(moved) == sorted(job.pandaid for job in pending)
    assert set(Job.objects.filter(pk__in=moved).values_list("jobstatus", flat=True)) == {"defined"}
    assert Job.objects.get(pk=elsewhere.pk).jobstatus == "activated"
    logs = JobStatusLog.objects.filter(pandaid__in=moved, oldstatus="pending", jobstatus="defined")
    assert logs.count() == 3
    assert {log.computingsite for log in logs} == {"QUEUE_B"} and {log.reason for log in logs} == {"jedi"}
    assert not JobStatusLog.objects.filter(pandaid=elsewhere.pandaid, jobstatus="defined").exists()


@pytest.mark.django_db
def test_a_bulk_transition_the_table_forbids_raises_and_changes_nothing():
    job = JobFactory(jobstatus=JobStatus.PENDING)

    with pytest.raises(IllegalTransition):
        jobs_change_status_bulk([job.pandaid], old="pending", new="running")

    assert Job.objects.get(pk=job.pk).jobstatus == "pending"


@pytest.mark.django_db
def test_a_bulk_transition_run_twice_moves_nothing_the_second_time():
    job = JobFactory(jobstatus=JobStatus.PENDING)
    assert jobs_change_status_bulk([job.pandaid], old="pending", new="defined") == [job.pandaid]
    assert jobs_change_status_bulk([job.pandaid], old="pending", new="defined") == []
    assert JobStatusLog.objects.filter(pandaid=job.pandaid, jobstatus="defined").count() == 1
