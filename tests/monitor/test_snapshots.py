import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.timeutil import utcnow
from apps.monitor.models import QueueSnapshot, QueueSnapshotRun
from apps.monitor.services.snapshots import queue_snapshot_take
from apps.monitor.tasks import run_queue_snapshot
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def counts_at(taken_at):
    return {
        (row.computingsite, row.nucleus, row.jobtype, row.resourcetype, row.jobstatus): row.count
        for row in QueueSnapshot.objects.filter(taken_at=taken_at)
    }


def test_a_snapshot_counts_jobs_per_queue_nucleus_jobtype_resource_type_and_state():
    JobFactory.create_batch(2, computingsite="Q1", jobstatus="running", prodsourcelabel="managed", nucleus="CERN")
    JobFactory(computingsite="Q1", jobstatus="running", prodsourcelabel="user", resource_type="MCORE")
    JobFactory(computingsite="Q2", jobstatus="activated", prodsourcelabel="panda")

    result = queue_snapshot_take()

    assert result.taken and (result.nrows, result.njobs) == (3, 4)
    assert counts_at(result.taken_at) == {
        ("Q1", "CERN", "production", "SCORE", "running"): 2,
        ("Q1", "", "analysis", "MCORE", "running"): 1,
        ("Q2", "", "analysis", "SCORE", "activated"): 1,
    }


def test_final_jobs_count_only_when_they_ended_within_the_dashboard_window(settings):
    settings.PANDA_MONITOR_DASH_HOURS = 12
    now = utcnow()
    JobFactory(computingsite="Q1", jobstatus="finished", modificationtime=now - dt.timedelta(hours=1))
    JobFactory(computingsite="Q1", jobstatus="failed", modificationtime=now - dt.timedelta(hours=13))
    JobFactory(computingsite="Q1", jobstatus="running", modificationtime=now - dt.timedelta(days=3))

    result = queue_snapshot_take(now=now)

    assert {key[-1]: n for key, n in counts_at(result.taken_at).items()} == {"finished": 1, "running": 1}


def test_taking_the_snapshot_twice_in_one_minute_writes_it_once():
    JobFactory(computingsite="Q1", jobstatus="running")
    moment = utcnow().replace(second=5)

    first = queue_snapshot_take(now=moment)
    JobFactory(computingsite="Q1", jobstatus="running")
    second = queue_snapshot_take(now=moment.replace(second=50))

    assert first.taken and not second.taken
    assert QueueSnapshotRun.objects.count() == 1
    assert counts_at(first.taken_at) == {("Q1", "", "production", "SCORE", "running"): 1}


def test_a_minute_without_jobs_is_recorded_as_an_empty_snapshot():
    result = queue_snapshot_take()

    assert result.taken and result.nrows == 0
    assert QueueSnapshotRun.objects.get().taken_at == result.taken_at


def test_snapshots_older_than_the_kept_minutes_are_pruned():
    JobFactory(computingsite="Q1", jobstatus="running")
    now = utcnow()
    old = queue_snapshot_take(now=now - dt.timedelta(minutes=30))

    result = queue_snapshot_take(now=now, keep_minutes=10)

    assert result.pruned == 1
    assert not QueueSnapshot.objects.filter(taken_at=old.taken_at).exists()
    assert list(QueueSnapshotRun.objects.values_list("taken_at", flat=True)) == [result.taken_at]


def test_a_snapshot_is_one_aggregate_query_and_one_insert(django_assert_max_num_queries):
    for queue in ("Q1", "Q2", "Q3"):
        JobFactory.create_batch(2, computingsite=queue, jobstatus="running")

    with django_assert_max_num_queries(8):  # savepoint, run insert, aggregate, bulk insert, run update, 2 prunes
        result = queue_snapshot_take()

    assert result.nrows == 3


def test_the_beat_task_and_the_command_take_the_snapshot(capsys):
    JobFactory(computingsite="Q1", jobstatus="running")

    summary = run_queue_snapshot.delay().get()
    call_command("take_queue_snapshot")

    assert "1 rows, 1 jobs" in summary
    assert "queue snapshot" in capsys.readouterr().out
    assert QueueSnapshotRun.objects.exists()


def test_the_command_refuses_a_keep_window_under_one_minute():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("take_queue_snapshot", "--keep-minutes", "0")

    assert not QueueSnapshotRun.objects.exists()


def test_the_snapshot_is_in_the_beat_table(settings):
    assert ("apps.monitor.tasks.run_queue_snapshot", 60) in settings.BEAT_TABLE
