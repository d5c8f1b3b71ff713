import datetime as dt

import pytest

from apps.core.timeutil import utcnow
from apps.workers.models import HarvesterCommand
from apps.workers.services.commands import (
    harvester_command_add,
    harvester_commands_acknowledge,
    harvester_commands_acquire,
)
from apps.workers.services.harvester import HarvesterDataError

pytestmark = pytest.mark.django_db

HARVESTER = "harvester-test"


def test_adding_a_command_replaces_the_previous_one_of_the_same_name():
    assert harvester_command_add(harvester_id=HARVESTER, command="KILL_WORKERS", params={"a": 1})
    assert harvester_command_add(harvester_id=HARVESTER, command="KILL_WORKERS", params={"a": 2})

    assert list(HarvesterCommand.objects.values_list("params", flat=True)) == [{"a": 2}]


def test_a_recent_unretrieved_command_is_kept_under_a_lock_interval():
    harvester_command_add(harvester_id=HARVESTER, command="SET_N_WORKERS_JOBTYPE", params={"n": 1})

    added = harvester_command_add(
        harvester_id=HARVESTER, command="SET_N_WORKERS_JOBTYPE", params={"n": 2}, lock_minutes=10
    )

    assert added is False
    assert HarvesterCommand.objects.get().params == {"n": 1}


def test_an_old_command_is_replaced_even_under_a_lock_interval():
    harvester_command_add(harvester_id=HARVESTER, command="SET_N_WORKERS_JOBTYPE", params={"n": 1})
    HarvesterCommand.objects.update(status_date=utcnow() - dt.timedelta(minutes=30))

    assert harvester_command_add(
        harvester_id=HARVESTER, command="SET_N_WORKERS_JOBTYPE", params={"n": 2}, lock_minutes=10
    )
    assert HarvesterCommand.objects.get().params == {"n": 2}


def test_a_recently_acknowledged_command_is_kept_under_a_command_interval():
    harvester_command_add(harvester_id=HARVESTER, command="REPORT_WORKER_STATS")
    HarvesterCommand.objects.update(status="acknowledged")

    assert not harvester_command_add(harvester_id=HARVESTER, command="REPORT_WORKER_STATS", command_minutes=60)
    assert harvester_command_add(harvester_id=HARVESTER, command="REPORT_WORKER_STATS", lock_minutes=60)


def test_commands_are_handed_out_oldest_first_and_only_once():
    for name in ("A", "B", "C"):
        harvester_command_add(harvester_id=HARVESTER, command=name)
    HarvesterCommand.objects.filter(command="C").update(creation_date=utcnow() - dt.timedelta(hours=1))

    first = harvester_commands_acquire(harvester_id=HARVESTER, n_commands=2)
    second = harvester_commands_acquire(harvester_id=HARVESTER, n_commands=2)
    third = harvester_commands_acquire(harvester_id=HARVESTER, n_commands=2)

    assert [c["command"] for c in first] == ["C", "A"]
    assert [c["command"] for c in second] == ["B"]
    assert third == []


def test_acquiring_zero_commands_takes_none():
    harvester_command_add(harvester_id=HARVESTER, command="A")

    assert harvester_commands_acquire(harvester_id=HARVESTER, n_commands=0) == []
    assert HarvesterCommand.objects.get().status == "new"


def test_acknowledging_unknown_ids_changes_nothing():
    harvester_command_add(harvester_id=HARVESTER, command="A")

    assert harvester_commands_acknowledge(command_ids=[999999]) == 0
    assert HarvesterCommand.objects.get().status == "new"


def test_a_command_needs_a_harvester_id():
    with pytest.raises(HarvesterDataError):
        harvester_command_add(harvester_id="", command="A")
