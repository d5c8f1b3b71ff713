import datetime as dt
import threading

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from apps.core.timeutil import utcnow
from apps.jobs.models import Job, JobError
from apps.jobs.services.job_errors import job_errors_backfill
from apps.jobs.services.transitions import job_change_status
from apps.monitor.models import ErrorHourly
from apps.monitor.services.error_hourly import error_hourly_update, hour_of
from apps.monitor.tasks import run_error_hourly
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def fail(*, at=None, site="SITE_A", label="managed", **codes) -> Job:
    job = JobFactory(jobstatus="running", computingsite=site, prodsourcelabel=label)
    return job_change_status(job, new="failed", changes={"modificationtime": at or utcnow(), **codes})


def table() -> set[tuple]:
    return set(
        ErrorHourly.objects.values_list("hour", "component", "code", "computingsite", "prodsourcelabel", "count")
    )


def test_errors_are_counted_per_hour_component_code_queue_and_label():
    now = utcnow()
    hour = hour_of(now)
    fail(at=now, piloterrorcode=1305, exeerrorcode=65)
    fail(at=now, piloterrorcode=1305)
    fail(at=now, site="SITE_B", label="user", piloterrorcode=1305)

    result = error_hourly_update()

    assert (result.hours, result.rows) == (1, 3)
    assert table() == {
        (hour, "pilot", 1305, "SITE_A", "managed", 2),
        (hour, "exe", 65, "SITE_A", "managed", 1),
        (hour, "pilot", 1305, "SITE_B", "user", 1),
    }


def test_runs_without_new_errors_rebuild_nothing_once_past_the_late_margin_and_keep_the_table():
    now = utcnow()
    fail(at=now, piloterrorcode=1305)
    error_hourly_update(now=now)
    before = table()

    # The next run still looks LATE_MARGIN back (rebuilding the same counts); the one after does not.
    assert error_hourly_update(now=now + dt.timedelta(minutes=20)).hours == 1
    assert error_hourly_update(now=now + dt.timedelta(hours=1)).hours == 0

    assert table() == before


def test_a_run_folds_in_only_the_hours_of_errors_recorded_since_the_last_run():
    now = utcnow()
    fail(at=now - dt.timedelta(hours=5), piloterrorcode=1)
    error_hourly_update(now=now)
    # An aggregate row the next run must leave alone: its hour received nothing new.
    ErrorHourly.objects.filter(code=1).update(count=99)
    JobError.objects.update(recorded_at=now - dt.timedelta(hours=1))
    fail(at=now, piloterrorcode=2)

    result = error_hourly_update(now=now + dt.timedelta(minutes=5))

    assert result.hours == 1
    assert dict(ErrorHourly.objects.values_list("code", "count")) == {1: 99, 2: 1}


def test_rebuilding_an_hour_replaces_its_counts_instead_of_adding_to_them():
    now = utcnow()
    fail(at=now, piloterrorcode=1305)
    error_hourly_update(now=now)
    fail(at=now, piloterrorcode=1305)

    error_hourly_update(now=now + dt.timedelta(minutes=1))

    assert list(ErrorHourly.objects.values_list("code", "count")) == [(1305, 2)]


def test_a_backfill_of_old_failures_rebuilds_their_old_hours():
    now = utcnow()
    error_hourly_update(now=now)
    old = now - dt.timedelta(days=3)
    JobFactory(jobstatus="failed", piloterrorcode=1099, modificationtime=old, computingsite=None)

    job_errors_backfill()
    error_hourly_update(now=now + dt.timedelta(minutes=1))

    assert table() == {(hour_of(old), "pilot", 1099, "", "managed", 1)}


def test_errors_of_different_hours_land_in_their_own_hours():
    now = utcnow()
    fail(at=now - dt.timedelta(hours=2), piloterrorcode=7)
    fail(at=now, piloterrorcode=7)

    error_hourly_update()

    assert set(ErrorHourly.objects.values_list("hour", "count")) == {
        (hour_of(now - dt.timedelta(hours=2)), 1),
        (hour_of(now), 1),
    }


def test_the_beat_task_and_the_command_run_the_aggregation(capsys):
    fail(piloterrorcode=1305)

    assert run_error_hourly.delay().get() == "error aggregates: 1 hours rebuilt, 1 rows"
    call_command("aggregate_errors_hourly")

    assert "error aggregates: 1 hours rebuilt" in capsys.readouterr().out
    assert ("apps.monitor.tasks.run_error_hourly", 300) in settings.BEAT_TABLE


def test_the_backfill_command_reports_what_it_wrote(capsys):
    JobFactory(jobstatus="failed", piloterrorcode=1305, exeerrorcode=1)

    call_command("backfill_job_errors", "--batch-size", "10", "--days", "1")

    assert "1 failed jobs, 2 error rows" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--days", "-1"]])
def test_the_backfill_command_refuses_bad_options(args):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("backfill_job_errors", *args)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_take_turns_and_leave_the_same_table():
    now = utcnow()
    for i in range(30):
        fail(at=now - dt.timedelta(hours=i), site=f"SITE_{i % 3}", piloterrorcode=1000 + i % 4)
    workers = 4
    barrier = threading.Barrier(workers)
    failures = []

    def work():
        try:
            barrier.wait()
            error_hourly_update()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sum(ErrorHourly.objects.values_list("count", flat=True)) == 30
    assert ErrorHourly.objects.count() == 30
