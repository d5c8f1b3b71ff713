import pytest

from apps.workers.models import Worker
from apps.workers.services.pilot_status import InvalidWorkerState, worker_update_pilot_status

pytestmark = pytest.mark.django_db


def make_worker(**fields) -> Worker:
    return Worker.objects.create(harvesterid="h1", workerid=10, status="submitted", **fields)


def test_a_started_pilot_records_its_status_node_and_start_time():
    row = make_worker()

    created = worker_update_pilot_status(harvester_id="h1", worker_id=10, status="started", node_id="wn1")

    row.refresh_from_db()
    assert created is False
    assert (row.pilotstatus, row.nodeid, row.pilotendtime, row.status) == ("started", "wn1", None, "submitted")
    assert row.pilotstarttime is not None


def test_a_finished_pilot_records_its_end_time_and_keeps_the_start_time():
    row = make_worker()
    worker_update_pilot_status(harvester_id="h1", worker_id=10, status="started", node_id="wn1")
    row.refresh_from_db()
    started_at = row.pilotstarttime

    worker_update_pilot_status(harvester_id="h1", worker_id=10, status="finished", node_id="wn1")

    row.refresh_from_db()
    assert (row.pilotstatus, row.pilotstarttime) == ("finished", started_at)
    assert row.pilotendtime is not None


def test_a_report_for_a_worker_harvester_has_not_registered_yet_creates_it():
    created = worker_update_pilot_status(
        harvester_id="h2", worker_id=3, status="started", node_id="n" * 100, site="QUEUE_A"
    )

    row = Worker.objects.get(harvesterid="h2", workerid=3)
    assert created is True
    assert (row.pilotstatus, row.nodeid, row.computingsite, row.status) == ("started", "n" * 80, "QUEUE_A", "")
    assert row.pilotstarttime is not None


def test_only_the_matching_worker_is_touched():
    make_worker()
    other = Worker.objects.create(harvesterid="h1", workerid=11, status="running")

    worker_update_pilot_status(harvester_id="h1", worker_id=10, status="started")

    other.refresh_from_db()
    assert other.pilotstatus is None


@pytest.mark.parametrize("status", ["running", "", "STARTED", "failed"])
def test_other_states_are_refused_with_the_wire_message(status):
    row = make_worker()

    with pytest.raises(InvalidWorkerState) as refused:
        worker_update_pilot_status(harvester_id="h1", worker_id=10, status=status)

    assert str(refused.value) == "Invalid worker state. The worker state has to be in ('started', 'finished')"
    row.refresh_from_db()
    assert row.pilotstatus is None


def test_an_overlong_harvester_id_is_refused():
    with pytest.raises(ValueError):
        worker_update_pilot_status(harvester_id="h" * 51, worker_id=1, status="started")

    assert not Worker.objects.exists()
