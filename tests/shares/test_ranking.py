import pytest

from apps.jobs.selectors.shares import share_usage
from apps.jobs.states import JobStatus
from apps.shares.models import GlobalShare
from apps.shares.services.ranking import forget_share_ranking, rank_leaves, share_ranking
from apps.shares.services.tree import ensure_default_shares, share_leaves
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_ranking():
    forget_share_ranking()
    yield
    forget_share_ranking()


def running(gshare: str, n: int = 1, corecount: int = 1, status: str = JobStatus.RUNNING) -> None:
    for _ in range(n):
        JobFactory(jobstatus=status, gshare=gshare, corecount=corecount)


def test_with_nothing_running_test_goes_first_then_tree_order():
    ensure_default_shares()
    assert share_ranking(usage=share_usage) == ["Test", "Express", "MC", "Group Analysis", "User Analysis"]


def test_the_share_most_under_its_target_comes_first():
    ensure_default_shares()
    # MC targets 72 % and gets 10 %; User Analysis targets 16 % and gets 90 %.
    running("MC", 1)
    running("User Analysis", 9)
    ranking = share_ranking(usage=share_usage)
    assert ranking[0] == "Test"
    assert ranking.index("MC") < ranking.index("User Analysis")
    assert ranking[-1] == "User Analysis"


def test_usage_counts_cores_of_starting_and_running_jobs_only():
    running("MC", 2, corecount=8)
    running("MC", 1, status=JobStatus.STARTING)
    running("MC", 5, status=JobStatus.ACTIVATED)
    JobFactory(jobstatus=JobStatus.RUNNING, gshare="MC", corecount=None)
    assert share_usage() == {"MC": 18}


def test_test_stays_first_even_when_it_uses_the_whole_grid():
    ensure_default_shares()
    running("Test", 10)
    assert share_ranking(usage=share_usage)[0] == "Test"


def test_over_target_shares_rank_after_under_target_ones():
    GlobalShare.objects.create(name="A", value=50.0, rank=0)
    GlobalShare.objects.create(name="B", value=50.0, rank=1)
    leaves = share_leaves()
    assert rank_leaves(leaves, {"A": 80, "B": 20}) == ["B", "A"]
    assert rank_leaves(leaves, {"A": 20, "B": 80}) == ["A", "B"]


def test_under_pledge_is_relative_to_the_target():
    GlobalShare.objects.create(name="Big", value=90.0, rank=0)
    GlobalShare.objects.create(name="Small", value=10.0, rank=1)
    # Big: 80 % of 90 % target (11 % under); Small: 0 % of 10 % (100 % under).
    assert rank_leaves(share_leaves(), {"Big": 80, "Other": 20}) == ["Small", "Big"]


def test_zero_target_leaves_come_last():
    GlobalShare.objects.create(name="Zero", value=0.0, rank=0)
    GlobalShare.objects.create(name="Full", value=100.0, rank=1)
    assert rank_leaves(share_leaves(), {"Full": 10}) == ["Full", "Zero"]


def test_without_a_tree_the_ranking_is_empty_and_usage_is_not_read():
    def usage():
        raise AssertionError("usage read without a tree")

    assert share_ranking(usage=usage) == []


def test_the_ranking_is_kept_until_it_expires(settings):
    settings.PANDA_SHARE_RANK_SECONDS = 60
    ensure_default_shares()
    calls = []

    def usage():
        calls.append(1)
        return {}

    first = share_ranking(usage=usage)
    assert share_ranking(usage=usage) == first
    assert len(calls) == 1
    settings.PANDA_SHARE_RANK_SECONDS = 0
    forget_share_ranking()
    share_ranking(usage=usage)
    share_ranking(usage=usage)
    assert len(calls) == 3
