"""The store, on both back-ends (the ``store_database`` fixture: SQLite, and PostgreSQL on PostgreSQL runs)."""

import datetime as dt
import threading

import psycopg
import pytest

from harvester.database import STORE_APPLICATION_NAME, DatabaseError
from harvester.store import JobSpec, Store, StoreOwnerError, WorkSpec
from tests.harvester.conftest import postgres_url


def worker(worker_id: int, **fields) -> WorkSpec:
    return WorkSpec(
        worker_id=worker_id,
        queue=fields.pop("queue", "Q"),
        status=fields.pop("status", "running"),
        mode="PULL",
        plugin="local",
        **fields,
    )


def test_worker_ids_stay_above_every_id_used_here_or_on_the_server(store):
    assert store.worker_ids_allocate(2) == [1, 2]
    assert store.worker_ids_allocate(1, at_least=40) == [40]
    store.worker_insert(worker(77))
    assert store.worker_ids_allocate(2) == [78, 79]


def test_worker_ids_survive_a_restart(store_database):
    first = Store(store_database)
    first.worker_ids_allocate(3)
    first.close()
    second = Store(store_database)
    assert second.worker_ids_allocate(1) == [4]
    second.close()


def test_a_restarted_store_has_every_worker_held_job_command_and_counter(store_database):
    submitted = dt.datetime(2025, 1, 2, 3, 4, 5, 678901)
    first = Store(store_database)
    first.claim("H1")
    first.worker_ids_allocate(2)
    first.worker_insert(worker(1, status="pending", submission_attempts=1))
    first.worker_insert(worker(2, batch_id="4711", submit_time=submitted, plugin_data={"pid": 4711, "start": 9}))
    first.job_insert(JobSpec(pandaid=6_000_000_001, queue="Q", status="fetched", job_data={"PandaID": 6_000_000_001}))
    first.job_insert(JobSpec(pandaid=6_000_000_002, queue="Q", status="fetched", job_data={"PandaID": 6_000_000_002}))
    first.job_update(6_000_000_002, worker_id=2, status="submitted", pending_update={"job_status": "starting"})
    first.command_insert(command_id=3, command="KILL_WORKERS", params={"status": ["running"]}, ack_requested=True)
    first.close()

    second = Store(store_database)
    second.claim("H1")  # the same instance comes back
    pending, running = second.workers(with_jobs=True)
    assert (pending.worker_id, pending.status, pending.submission_attempts) == (1, "pending", 1)
    assert (running.batch_id, running.submit_time, running.plugin_data) == (
        "4711",
        submitted,
        {"pid": 4711, "start": 9},
    )
    assert running.pandaids == [6_000_000_002]
    assert [j.pandaid for j in second.jobs(unbound=True)] == [6_000_000_001]
    assert second.job(6_000_000_002).pending_update == {"job_status": "starting"}
    assert [c["command_id"] for c in second.commands("new")] == [3]
    assert second.worker_ids_allocate(1) == [3]
    second.close()


def test_a_store_belongs_to_one_harvester(store_database):
    first = Store(store_database)
    first.claim("H1")
    first.claim("H1")
    with pytest.raises(StoreOwnerError, match="holds the state of Harvester 'H1', not 'H2'"):
        first.claim("H2")
    first.close()


def test_the_agents_threads_share_the_store_without_losing_a_write(store):
    allocated: list[int] = []

    def agent():
        for _ in range(20):
            [worker_id] = store.worker_ids_allocate(1)
            store.worker_insert(worker(worker_id))
            allocated.append(worker_id)
            store.workers(statuses=["running"])

    threads = [threading.Thread(target=agent) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(allocated) == list(range(1, 81))
    assert [w.worker_id for w in store.workers()] == list(range(1, 81))


def test_a_worker_round_trips_with_every_field(store):
    submitted = dt.datetime(2025, 1, 2, 3, 4, 5, 6)
    store.worker_insert(worker(1, batch_id="99", submit_time=submitted, plugin_data={"pid": 5}, kill_requested=True))
    store.worker_update(1, status="finished", native_exit_code=0)

    found = store.worker(1)
    assert (found.status, found.batch_id, found.submit_time, found.plugin_data) == (
        "finished",
        "99",
        submitted,
        {"pid": 5},
    )
    assert found.kill_requested is True and found.native_exit_code == 0


def test_workers_are_selected_by_queue_status_and_flags(store):
    store.worker_insert(worker(1, status="running"))
    store.worker_insert(worker(2, status="finished", to_propagate=False))
    store.worker_insert(worker(3, status="running", queue="R"))

    assert [w.worker_id for w in store.workers(queue="Q")] == [1, 2]
    assert [w.worker_id for w in store.workers(statuses=["running"])] == [1, 3]
    assert [w.worker_id for w in store.workers(to_propagate=False)] == [2]
    assert store.worker_counts("Q") == {"running": 1, "finished": 1}


def test_worker_statistics_are_grouped_as_the_server_wants_them(store):
    store.worker_insert(worker(1, job_type="managed", resource_type="SCORE"))
    store.worker_insert(worker(2, job_type="managed", resource_type="SCORE", status="submitted"))
    store.worker_insert(worker(3, job_type="managed", resource_type="SCORE"))
    store.worker_insert(worker(4, job_type="managed", resource_type="SCORE", status="finished"))

    assert store.worker_stats("Q", ["running", "submitted"]) == {"managed": {"SCORE": {"running": 2, "submitted": 1}}}


def test_jobs_are_held_once_and_bound_to_their_worker(store):
    job = JobSpec(pandaid=10, queue="Q", status="fetched", job_data={"PandaID": 10})
    assert store.job_insert(job) is True
    assert store.job_insert(job) is False  # fetched twice: held once
    store.worker_insert(worker(1))
    store.job_update(10, worker_id=1, status="submitted", pending_update={"job_id": 10, "job_status": "starting"})

    assert store.worker(1).pandaids == [10]
    assert [j.pandaid for j in store.jobs(with_pending_update=True)] == [10]
    assert store.jobs(unbound=True) == []
    assert store.job(10).job_data == {"PandaID": 10}


def test_a_failed_transaction_writes_nothing_and_nested_ones_join_the_outer_one(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.worker_insert(worker(1))
        with store.transaction():
            store.worker_insert(worker(2))
        raise RuntimeError("boom")
    assert store.workers() == []

    with store.transaction():
        store.worker_insert(worker(3))
    assert [w.worker_id for w in store.workers()] == [3]


def test_commands_are_kept_until_deleted(store):
    store.command_insert(command_id=5, command="KILL_WORKERS", params={"status": ["running"]}, ack_requested=True)
    store.command_insert(command_id=5, command="KILL_WORKERS", params={}, ack_requested=True)

    assert [(c["command_id"], c["params"]) for c in store.commands("new")] == [(5, {"status": ["running"]})]
    store.command_set_status([5], "processed")
    store.commands_delete("processed")
    assert store.commands("new") == store.commands("processed") == []


def test_state_values_are_kept_by_key_and_prefix(store):
    store.state_set("a_1", "not a:1")
    store.state_set("b%", "literal")
    store.state_set("bb", "other")
    store.state_set("a:1", "x")
    store.state_set("a:1", "y")
    store.state_set("b", "z")
    assert store.state_get("a:1") == "y"
    assert store.state_items("a:") == {"a:1": "y"}
    assert store.state_items("a_") == {"a_1": "not a:1"}
    assert store.state_items("b%") == {"b%": "literal"}
    store.state_delete("a:1")
    assert store.state_get("a:1", "gone") == "gone"


@pytest.mark.postgres
def test_a_postgresql_store_reconnects_after_losing_its_server_connection(postgres_store_url):
    store = Store(postgres_store_url)
    store.worker_insert(worker(1))
    with psycopg.connect(postgres_store_url, autocommit=True) as admin:
        [terminated] = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [STORE_APPLICATION_NAME],
        ).fetchall()
    assert terminated == (True,)

    with pytest.raises(psycopg.OperationalError):
        store.worker_insert(worker(2))  # the statement that finds the connection lost fails ...
    store.worker_insert(worker(2))  # ... and the next one runs on a new connection
    assert [w.worker_id for w in store.workers()] == [1, 2]
    store.close()


@pytest.mark.postgres
def test_a_postgresql_schema_that_is_not_there_is_refused_with_the_reason(postgres_scratch_database):
    url = postgres_url(postgres_scratch_database, options="-csearch_path=no_such_schema")
    with pytest.raises(DatabaseError, match="cannot set up the store in postgresql://.*no schema has been selected"):
        Store(url)
