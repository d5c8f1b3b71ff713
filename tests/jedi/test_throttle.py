import pytest

from apps.jedi.services.throttle import (
    DEFAULT_QUEUE_LIMIT,
    forget_throttle_counts,
    throttle_check,
    throttle_counts,
    throttle_counts_load,
)
from apps.jobs.models import Job
from apps.jobs.states import JobStatus
from apps.shares.models import GlobalShare
from tests.factories import JobFactory
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db

SHARE = "MC"


@pytest.fixture(autouse=True)
def _fresh_counts():
    forget_throttle_counts()
    yield
    forget_throttle_counts()


def make_jobs(n: int, *, status: str = JobStatus.ACTIVATED, gshare: str = SHARE, **fields) -> None:
    fields.setdefault("maxwalltime", 86400)
    fields.setdefault("resource_type", "SCORE")
    Job.objects.bulk_create(
        [JobFactory.build(jobstatus=status, gshare=gshare, **fields) for _ in range(n)], batch_size=500
    )


def production_task(**fields):
    fields.setdefault("gshare", SHARE)
    fields.setdefault("resource_type", "SCORE")
    return TaskFactory(prodsourcelabel="managed", tasktype="prod", **fields)


def test_a_share_with_few_queued_jobs_is_not_throttled():
    make_jobs(10)
    assert not throttle_check(production_task()).throttled


def test_many_queued_jobs_per_running_job_with_enough_walltime_throttle_the_share():
    make_jobs(DEFAULT_QUEUE_LIMIT + 1)
    make_jobs(100, status=JobStatus.RUNNING)
    decision = throttle_check(production_task())
    assert decision.throttled
    assert "nQueued/nRunning" in decision.reason and "share=MC" in decision.reason


def test_a_queue_that_is_at_most_twice_the_running_jobs_is_not_throttled():
    make_jobs(DEFAULT_QUEUE_LIMIT + 1)
    make_jobs(1100, status=JobStatus.RUNNING)
    assert not throttle_check(production_task()).throttled


def test_short_queued_walltime_does_not_throttle():
    make_jobs(DEFAULT_QUEUE_LIMIT + 1, maxwalltime=60)
    make_jobs(100, status=JobStatus.RUNNING)
    assert not throttle_check(production_task()).throttled


def test_unknown_walltime_does_not_hold_throttling_back():
    make_jobs(DEFAULT_QUEUE_LIMIT + 1, maxwalltime=None)
    make_jobs(100, status=JobStatus.RUNNING)
    assert throttle_check(production_task()).throttled


def test_nothing_running_and_a_long_queue_throttles():
    make_jobs(DEFAULT_QUEUE_LIMIT + 1)
    decision = throttle_check(production_task())
    assert decision.throttled
    assert "nothing runs" in decision.reason


def test_partitions_are_per_resource_type():
    make_jobs(DEFAULT_QUEUE_LIMIT + 1, resource_type="MCORE")
    assert not throttle_check(production_task(resource_type="SCORE")).throttled
    assert throttle_check(production_task(resource_type="MCORE")).throttled


def test_a_task_without_resource_type_is_judged_on_its_whole_share():
    make_jobs(DEFAULT_QUEUE_LIMIT // 2 + 1, resource_type="MCORE")
    make_jobs(DEFAULT_QUEUE_LIMIT // 2 + 1, resource_type="SCORE")
    assert throttle_check(production_task(resource_type=None)).throttled


def test_other_shares_do_not_count():
    make_jobs(DEFAULT_QUEUE_LIMIT + 1, gshare="Express")
    assert not throttle_check(production_task()).throttled


def test_a_share_that_is_not_throttled_is_never_throttled():
    GlobalShare.objects.create(name=SHARE, value=100, throttled=False, queue_cap=5)
    make_jobs(DEFAULT_QUEUE_LIMIT + 1)
    assert not throttle_check(production_task()).throttled


def test_the_queue_cap_of_a_share_throttles_above_it():
    GlobalShare.objects.create(name=SHARE, value=100, queue_cap=5)
    make_jobs(5)
    assert not throttle_check(production_task()).throttled
    forget_throttle_counts()
    make_jobs(1)
    decision = throttle_check(production_task())
    assert decision.throttled and "NQUEUECAP=5" in decision.reason


def test_the_running_cap_of_a_share_throttles_above_it():
    GlobalShare.objects.create(name=SHARE, value=100, running_cap=3)
    make_jobs(4, status=JobStatus.RUNNING)
    decision = throttle_check(production_task())
    assert decision.throttled and "NRUNNINGCAP=3" in decision.reason


def test_a_task_without_share_is_matched_to_one(settings):
    GlobalShare.objects.create(name="Prod", value=100, prodsourcelabel="managed", queue_cap=0)
    make_jobs(1, gshare="Prod")
    assert throttle_check(production_task(gshare=None)).throttled


def test_an_analysis_user_above_twice_the_job_cap_is_throttled(settings):
    settings.PANDA_CAP_RUNNING_USER_JOBS = 3
    make_jobs(7, prodsourcelabel="user", produsername="Jane Doe", gshare="User Analysis")
    task = TaskFactory(username="Jane Doe", prodsourcelabel="user", gshare="User Analysis")
    decision = throttle_check(task)
    assert decision.throttled and "CAP_RUNNING_USER_JOBS=3" in decision.reason
    other = TaskFactory(username="John Roe", prodsourcelabel="user", gshare="User Analysis")
    assert not throttle_check(other).throttled


def test_an_analysis_user_at_twice_the_job_cap_is_not_throttled(settings):
    settings.PANDA_CAP_RUNNING_USER_JOBS = 3
    make_jobs(6, prodsourcelabel="user", produsername="Jane Doe", gshare="User Analysis")
    task = TaskFactory(username="Jane Doe", prodsourcelabel="user", gshare="User Analysis")
    assert not throttle_check(task).throttled


def test_an_analysis_user_above_twice_the_core_cap_is_throttled(settings):
    settings.PANDA_CAP_RUNNING_USER_CORES = 8
    make_jobs(3, prodsourcelabel="user", produsername="Jane Doe", corecount=8, gshare="User Analysis")
    task = TaskFactory(username="Jane Doe", prodsourcelabel="user", gshare="User Analysis")
    decision = throttle_check(task)
    assert decision.throttled and "24 queued cores" in decision.reason


def test_running_jobs_do_not_count_against_the_user_queue_cap(settings):
    settings.PANDA_CAP_RUNNING_USER_JOBS = 1
    make_jobs(10, status=JobStatus.RUNNING, prodsourcelabel="user", produsername="Jane Doe")
    task = TaskFactory(username="Jane Doe", prodsourcelabel="user", gshare="User Analysis")
    assert not throttle_check(task).throttled


def test_counts_are_kept_for_a_cycle_and_reloaded_when_forgotten():
    first = throttle_counts()
    make_jobs(1)
    assert throttle_counts() is first
    forget_throttle_counts()
    assert throttle_counts().partition(SHARE, None).n_queued == 1


def test_counts_take_at_most_three_queries(settings, django_assert_max_num_queries):
    settings.PANDA_CAP_RUNNING_USER_JOBS = 1
    make_jobs(3)
    with django_assert_max_num_queries(3):
        counts = throttle_counts_load()
    assert counts.partition(SHARE, "SCORE").n_queued == 3
