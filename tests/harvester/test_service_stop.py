"""Stopping the service: workers keep running, unless the instance is told to kill them on stop."""

import pytest

from apps.workers.models import Worker
from harvester.plugins.local import process_identity
from harvester.service import Service
from harvester.states import LIVE
from tests.factories import production_user, token_for
from tests.harvester.conftest import harvester_config

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HID = "unit-harvester"


@pytest.fixture
def make_service(live_server, tmp_path, service_store_database):
    token = tmp_path / "token"
    token.write_text(token_for(production_user()))
    made = []

    def make(**harvester):
        config = harvester_config(
            tmp_path,
            pilot_env={"STAND_IN_SLEEP": "600"},
            harvester={
                "server_url": live_server.url,
                "token_file": str(token),
                "database": service_store_database,
                **harvester,
            },
            nNewWorkers=2,
            maxWorkers=2,
            nQueueLimitWorker=2,
            maxNewWorkersPerCycle=2,
        )
        service = Service(config)
        made.append(service)
        return service

    yield make
    for service in made:
        for worker in service.harvester.store.workers():
            service.harvester.plugin(worker).kill_worker(worker)
        service.close()


def running_workers(service: Service):
    service.run(max_cycles=1)  # submits two workers, sees them run, tells the server
    workers = service.harvester.store.workers()
    assert len(workers) == 2 and all(worker.status in LIVE for worker in workers)
    return workers


def test_a_harvester_told_to_kill_its_workers_on_stop_ends_them_and_tells_the_server(make_service):
    service = make_service(kill_workers_on_stop=True)
    workers = running_workers(service)

    service.stop.set()
    service.run()

    for worker in workers:
        assert process_identity(worker.plugin_data["pid"]) is None
        stored = service.harvester.store.worker(worker.worker_id)
        assert (stored.status, stored.to_propagate) == ("cancelled", False)
        assert stored.diag == "killed by Harvester: the service stopped"
        row = Worker.objects.get(harvesterid=HID, workerid=worker.worker_id)
        assert (row.status, row.synclevel) == ("cancelled", 1)


def test_a_harvester_stopped_without_it_leaves_its_workers_running_for_the_next_start(make_service):
    service = make_service()
    workers = running_workers(service)

    service.stop.set()
    service.run()

    for worker in workers:
        assert process_identity(worker.plugin_data["pid"]) is not None
        assert service.harvester.store.worker(worker.worker_id).status == "running"
