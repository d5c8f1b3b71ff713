import datetime as dt

import pytest

from harvester.store import JobSpec, Store, WorkSpec


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


def test_worker_ids_survive_a_restart(tmp_path):
    path = str(tmp_path / "h.sqlite3")
    first = Store(path)
    first.worker_ids_allocate(3)
    first.close()
    second = Store(path)
    assert second.worker_ids_allocate(1) == [4]
    second.close()


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
    store.state_set("a:1", "x")
    store.state_set("a:1", "y")
    store.state_set("b", "z")
    assert store.state_get("a:1") == "y"
    assert store.state_items("a:") == {"a:1": "y"}
    store.state_delete("a:1")
    assert store.state_get("a:1", "gone") == "gone"
