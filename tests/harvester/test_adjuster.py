import pytest

from harvester.agents.adjuster import new_workers_count
from harvester.config import QueueConfig


def queue(**knobs) -> QueueConfig:
    defaults = {"max_workers": 10, "n_queue_limit_worker": 5, "max_new_workers_per_cycle": 5}
    return QueueConfig(name="Q", **{**defaults, **knobs})


def test_pull_covers_the_activated_jobs_not_yet_covered_by_a_queued_worker():
    assert new_workers_count(queue(), worker_counts={"submitted": 1, "running": 2}, activated_jobs=3) == 2


def test_no_activated_jobs_means_no_new_workers():
    assert new_workers_count(queue(), worker_counts={}, activated_jobs=0) == 0


@pytest.mark.parametrize(
    "knobs, counts, expected",
    [
        ({"max_workers": 4}, {"running": 3}, 1),  # maxWorkers: live workers
        ({"max_workers": 4}, {"running": 2, "pending": 2}, 0),
        ({"n_queue_limit_worker": 2}, {"submitted": 1, "ready": 0}, 1),  # nQueueLimitWorker: queued ones
        ({"max_new_workers_per_cycle": 3}, {}, 3),  # per cycle
        ({"max_workers": 0}, {}, 0),
    ],
)
def test_the_queue_caps_always_hold(knobs, counts, expected):
    assert new_workers_count(queue(**knobs), worker_counts=counts, activated_jobs=100) == expected


def test_finished_workers_do_not_count_against_the_caps():
    counts = {"finished": 50, "failed": 3, "cancelled": 2, "missed": 1}
    assert new_workers_count(queue(), worker_counts=counts, activated_jobs=100) == 5


def test_a_fixed_number_of_new_workers_replaces_the_job_counts():
    assert new_workers_count(queue(n_new_workers=2), worker_counts={}, activated_jobs=0) == 2


def test_a_slave_queue_follows_the_commanded_number():
    slave = queue(run_mode="slave")
    assert new_workers_count(slave, worker_counts={}, activated_jobs=100, commanded=None) == 0
    assert new_workers_count(slave, worker_counts={}, activated_jobs=0, commanded=4) == 4
    assert new_workers_count(slave, worker_counts={}, activated_jobs=0, commanded=40) == 5


def test_push_makes_one_worker_per_held_job_without_one():
    push = queue(mode="PUSH")
    assert new_workers_count(push, worker_counts={}, activated_jobs=100, unbound_jobs=2) == 2
    assert new_workers_count(push, worker_counts={"running": 9}, unbound_jobs=5) == 1
