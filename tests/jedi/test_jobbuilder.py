import pytest

from apps.jedi.models import Task
from apps.jedi.services.jobbuilder import job_corecount
from apps.sites.models import PandaQueue


def cores(task_cores, queue_cores):
    return job_corecount(Task(corecount=task_cores), PandaQueue(corecount=queue_cores))


@pytest.mark.parametrize("queue_cores", [1, 8, 0, -1, None])
def test_a_single_core_task_makes_single_core_jobs_on_any_queue(queue_cores):
    assert cores(1, queue_cores) == 1


@pytest.mark.parametrize(("queue_cores", "expected"), [(8, 8), (1, 1), (0, 1), (None, 1), (-1, 1)])
def test_a_task_allowing_any_core_count_takes_the_chosen_queues_core_count(queue_cores, expected):
    assert cores(0, queue_cores) == expected


def test_a_multi_core_task_takes_the_queue_core_count_or_its_own_on_a_dynamic_queue():
    assert (cores(4, 8), cores(4, -1), cores(4, 0)) == (8, 4, 1)


def test_without_a_queue_a_job_is_single_core():
    assert job_corecount(Task(corecount=0), None) == 1
