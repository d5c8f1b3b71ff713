"""getJob's global-share order (jedi.md §10.5): Test first, then shares most under target, then unranked."""

import pytest
from django.db import connection

from apps.accounts.identity import identity_for_user
from apps.jobs.models import Job
from apps.jobs.services.dispatch import (
    PRIORITY_ORDER,
    ClaimValues,
    DispatchCriteria,
    claim_statement,
    forget_dispatch_caches,
    jobs_acquire,
    label_filter,
    shares_present,
)
from apps.jobs.states import JobStatus
from apps.shares.models import GlobalShare
from apps.shares.services.ranking import forget_share_ranking
from tests.factories import JobFactory, PandaQueueFactory, production_user

QUEUE = "QUEUE_A"


@pytest.fixture(autouse=True)
def _fresh_caches(settings):
    settings.PANDA_SLOPPY_DISPATCH_RATIO = 0
    forget_dispatch_caches()
    forget_share_ranking()
    yield
    forget_dispatch_caches()
    forget_share_ranking()


@pytest.fixture
def production(db):
    PandaQueueFactory(name=QUEUE, site__name="SITE_A")
    return identity_for_user(production_user())


@pytest.fixture
def two_shares(db):
    """Test (0 %), then A and B at 50 % each; B already runs 10 cores, so A is under its target."""
    GlobalShare.objects.create(name="Test", value=0.0, rank=0)
    GlobalShare.objects.create(name="A", value=50.0, rank=1)
    GlobalShare.objects.create(name="B", value=50.0, rank=2)
    for _ in range(10):
        JobFactory(jobstatus=JobStatus.RUNNING, gshare="B", computingsite="ELSEWHERE")


def sent_ids(result) -> list[int]:
    return [job["PandaID"] for job in result.jobs]


def acquire(identity, **kwargs):
    return jobs_acquire(identity=identity, site_name=QUEUE, **kwargs)


@pytest.mark.django_db
def test_an_under_target_share_goes_before_a_higher_priority_job_of_an_over_target_share(production, two_shares):
    over = JobFactory(gshare="B", currentpriority=900)
    under = JobFactory(gshare="A", currentpriority=100)

    assert sent_ids(acquire(production)) == [under.pandaid]
    assert sent_ids(acquire(production)) == [over.pandaid]


@pytest.mark.django_db
def test_the_test_share_goes_first(production, two_shares):
    under = JobFactory(gshare="A", currentpriority=900)
    test = JobFactory(gshare="Test", currentpriority=1)

    assert sent_ids(acquire(production, n_jobs=2)) == [test.pandaid, under.pandaid]


@pytest.mark.django_db
def test_jobs_without_a_ranked_share_go_after_every_ranked_share(production, two_shares):
    no_share = JobFactory(gshare=None, currentpriority=5000)
    undefined = JobFactory(gshare="Undefined", currentpriority=4000)
    over = JobFactory(gshare="B", currentpriority=1)

    assert sent_ids(acquire(production, n_jobs=3)) == [over.pandaid, no_share.pandaid, undefined.pandaid]


@pytest.mark.django_db
def test_within_a_share_priority_then_pandaid_decide(production, two_shares):
    low = JobFactory(gshare="A", currentpriority=100)
    first = JobFactory(gshare="A", currentpriority=500)
    second = JobFactory(gshare="A", currentpriority=500)
    other = JobFactory(gshare="B", currentpriority=999)

    assert sent_ids(acquire(production, n_jobs=4)) == [first.pandaid, second.pandaid, low.pandaid, other.pandaid]


@pytest.mark.django_db
def test_a_share_whose_jobs_do_not_fit_the_pilot_is_passed_over(production, two_shares):
    JobFactory(gshare="A", currentpriority=900, minramcount=64000)
    fits = JobFactory(gshare="B", currentpriority=1, minramcount=1000)

    assert sent_ids(acquire(production, mem=2000)) == [fits.pandaid]


@pytest.mark.django_db
def test_the_sloppy_fraction_ignores_shares(production, two_shares, settings):
    settings.PANDA_SLOPPY_DISPATCH_RATIO = 100
    oldest = JobFactory(gshare="B", currentpriority=1)
    JobFactory(gshare="Test", currentpriority=900)
    JobFactory(gshare="A", currentpriority=900)

    assert sent_ids(acquire(production)) == [oldest.pandaid]


@pytest.mark.django_db
def test_the_ranking_follows_the_grid_once_it_expires(production, two_shares, settings):
    settings.PANDA_SHARE_RANK_SECONDS = 0
    a_job = JobFactory(gshare="A", currentpriority=1)
    b_job = JobFactory(gshare="B", currentpriority=1)
    for _ in range(30):
        JobFactory(jobstatus=JobStatus.RUNNING, gshare="A", computingsite="ELSEWHERE")

    # A now runs 30 cores against B's 10: B is the one under its target.
    assert sent_ids(acquire(production)) == [b_job.pandaid]
    assert sent_ids(acquire(production)) == [a_job.pandaid]


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_postgresql_share_claim_walks_the_share_index_without_sorting(production):
    shares = [f"S{i}" for i in range(8)]
    jobs = [
        Job(
            computingsite=f"QUEUE_{i % 10}",
            jobstatus="finished" if i % 4 else "activated",
            prodsourcelabel="managed",
            gshare=shares[i % 7] if i % 9 else None,
            currentpriority=i % 200,
        )
        for i in range(20000)
    ]
    Job.objects.bulk_create(jobs, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs")
        criteria = DispatchCriteria(site_name="QUEUE_0", labels=label_filter("managed", None), mem=2000)
        values = ClaimValues(now=None, node=None, computing_element=None, scheduler_id=None)
        sql, params = claim_statement(criteria, order=PRIORITY_ORDER, limit=1, values=values, share="S3")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    candidate_scan = plan.split("CTE candidates")[1].split("CTE claimed")[0]
    assert "Index Scan using jobs_dispatch_share_idx on jobs" in candidate_scan, plan
    assert "LockRows" in candidate_scan and "Sort" not in candidate_scan, plan


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_present_share_set_is_one_probe_per_share_and_cached(production, django_assert_num_queries):
    JobFactory(gshare="A")
    JobFactory(gshare="B", jobstatus=JobStatus.RUNNING)
    JobFactory(gshare="C", computingsite="ELSEWHERE")
    with django_assert_num_queries(1):
        assert shares_present(QUEUE, ["C", "B", "A"]) == ["A"]
        assert shares_present(QUEUE, ["A", "B"]) == ["A"]
    with django_assert_num_queries(1):
        shares_present(QUEUE, ["A", "D"])  # a share the cached set never probed: read again


@pytest.mark.django_db
def test_a_share_that_reaches_the_queue_after_the_cache_was_read_is_still_dispatched(production, two_shares):
    first = JobFactory(gshare="A", currentpriority=1)
    assert sent_ids(acquire(production)) == [first.pandaid]
    late = JobFactory(gshare="B", currentpriority=1)

    assert sent_ids(acquire(production)) == [late.pandaid]


@pytest.mark.django_db
def test_multi_job_requests_take_shares_in_rank_order_then_the_rest(production, two_shares):
    rest = JobFactory(gshare=None, currentpriority=999)
    over = JobFactory(gshare="B", currentpriority=1)
    under = [JobFactory(gshare="A", currentpriority=5) for _ in range(2)]

    ids = sent_ids(acquire(production, n_jobs=10))

    assert ids == [under[0].pandaid, under[1].pandaid, over.pandaid, rest.pandaid]
