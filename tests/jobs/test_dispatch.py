import pytest
from django.db import connection

from apps.accounts.identity import ANONYMOUS, identity_for_user
from apps.jobs.models import Job, JobStatusLog
from apps.jobs.services.dispatch import (
    OUTCOME_NO_JOBS,
    OUTCOME_OK,
    OUTCOME_ROLE_REFUSED,
    ClaimValues,
    DispatchCriteria,
    claim_statement,
    forget_dispatch_caches,
    jobs_acquire,
    label_filter,
)
from apps.jobs.states import JobStatus
from apps.sites.models import QueueActivity
from apps.workers.models import JobWorker, Worker
from tests.factories import (
    JobFactory,
    PandaQueueFactory,
    UserFactory,
    job_with_files,
    pilot_user,
    production_user,
    queue_document,
)

QUEUE = "QUEUE_A"
ALL_LABELS = ["managed", "test", "prod_test", "install", "user", "panda", "ptest", "rc_test"]


@pytest.fixture(autouse=True)
def _fresh_dispatch_caches(settings):
    settings.PANDA_SLOPPY_DISPATCH_RATIO = 0
    forget_dispatch_caches()
    yield
    forget_dispatch_caches()


@pytest.fixture
def queue(db):
    return PandaQueueFactory(name=QUEUE, site__name="SITE_A")


@pytest.fixture
def production(db):
    return identity_for_user(production_user())


def acquire(identity, **kwargs):
    kwargs.setdefault("site_name", QUEUE)
    return jobs_acquire(identity=identity, **kwargs)


def sent_ids(result) -> list[int]:
    return [job["PandaID"] for job in result.jobs]


def status_of(pandaid: int) -> str:
    return Job.objects.get(pk=pandaid).jobstatus


@pytest.mark.django_db
def test_it_sends_the_highest_priority_job_first_and_breaks_ties_by_pandaid(queue, production):
    low = JobFactory(currentpriority=500)
    first_high = JobFactory(currentpriority=900)
    second_high = JobFactory(currentpriority=900)

    result = acquire(production, n_jobs=3)

    assert result.outcome == OUTCOME_OK
    assert sent_ids(result) == [first_high.pandaid, second_high.pandaid, low.pandaid]


@pytest.mark.django_db
def test_sloppy_dispatch_orders_by_pandaid_only(queue, production, settings):
    settings.PANDA_SLOPPY_DISPATCH_RATIO = 100
    low = JobFactory(currentpriority=1)
    high = JobFactory(currentpriority=5000)

    result = acquire(production, n_jobs=2)

    assert sent_ids(result) == [low.pandaid, high.pandaid]


@pytest.mark.django_db
def test_it_only_takes_activated_jobs_of_the_requested_queue(queue, production):
    JobFactory(computingsite="OTHER_QUEUE")
    for status in (JobStatus.ASSIGNED, JobStatus.THROTTLED, JobStatus.RUNNING, JobStatus.FINISHED):
        JobFactory(jobstatus=status)
    wanted = JobFactory()

    result = acquire(production, n_jobs=10)

    assert sent_ids(result) == [wanted.pandaid]


@pytest.mark.django_db
def test_it_moves_the_job_to_sent_and_records_the_pilot_and_one_status_log_row(queue, production):
    job = JobFactory(jobexecutionid=7, computingelement=None)

    acquire(production, node="wn01.cern.ch", computing_element="CE_1", scheduler_id="harvester-A")

    stored = Job.objects.get(pk=job.pk)
    assert stored.jobstatus == JobStatus.SENT
    assert (stored.modificationhost, stored.computingelement, stored.schedulerid) == (
        "wn01.cern.ch",
        "CE_1",
        "harvester-A",
    )
    assert stored.jobexecutionid == 0
    assert stored.starttime is not None
    assert stored.starttime == stored.modificationtime == stored.statechangetime
    log = JobStatusLog.objects.get(pandaid=job.pandaid)
    assert (log.oldstatus, log.jobstatus, log.computingsite, log.prodsourcelabel) == (
        "activated",
        "sent",
        QUEUE,
        "managed",
    )


@pytest.mark.django_db
def test_it_keeps_the_stored_computing_element_when_the_pilot_sends_none(queue, production):
    job = JobFactory(computingelement="CE_STORED", schedulerid="sched")

    acquire(production)

    assert Job.objects.values_list("computingelement", "schedulerid").get(pk=job.pk) == ("CE_STORED", "sched")


@pytest.mark.django_db
def test_it_returns_no_jobs_and_changes_nothing_when_none_is_activated(queue, production):
    job = JobFactory(jobstatus=JobStatus.DEFINED)

    result = acquire(production)

    assert result.outcome == OUTCOME_NO_JOBS
    assert result.jobs == []
    assert status_of(job.pandaid) == JobStatus.DEFINED
    assert not JobStatusLog.objects.filter(jobstatus="sent").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mem", "wanted"),
    [(0, {"none", "small", "big"}), (2000, {"none", "small"}), (-5, {"none", "small", "big"})],
)
def test_the_memory_filter_keeps_jobs_that_fit_or_ask_for_nothing(queue, production, mem, wanted):
    jobs = {
        "none": JobFactory(minramcount=0),
        "small": JobFactory(minramcount=2000),
        "big": JobFactory(minramcount=4000),
    }

    result = acquire(production, mem=mem, n_jobs=10)

    assert set(sent_ids(result)) == {jobs[name].pandaid for name in wanted}


@pytest.mark.django_db
def test_the_disk_filter_keeps_jobs_that_fit_or_ask_for_nothing(queue, production):
    fits = JobFactory(maxdiskcount=5000)
    unbounded = JobFactory(maxdiskcount=0)
    JobFactory(maxdiskcount=20000)

    result = acquire(production, disk_space=10000, n_jobs=10)

    assert set(sent_ids(result)) == {fits.pandaid, unbounded.pandaid}


@pytest.mark.django_db
def test_the_walltime_filter_keeps_jobs_without_a_walltime(queue, production):
    fits = JobFactory(maxwalltime=3600)
    unbounded = JobFactory(maxwalltime=None)
    JobFactory(maxwalltime=90000)

    result = acquire(production, remaining_time=7200, n_jobs=10)

    assert set(sent_ids(result)) == {fits.pandaid, unbounded.pandaid}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("user", {"user", "panda", "install"}),
        ("managed", {"managed", "test", "prod_test", "install"}),
        (None, {"managed", "test", "prod_test", "install"}),
        ("unified", {"managed", "test", "prod_test", "install", "user", "panda"}),
        ("test", {"test"}),
        ("ptest", {"ptest"}),
        ("rc_test", {"rc_test"}),
    ],
)
def test_a_requested_label_matches_the_job_labels_of_the_spec(queue, production, requested, expected):
    for label in ALL_LABELS:
        JobFactory(prodsourcelabel=label)

    result = acquire(production, prod_source_label=requested, n_jobs=50)

    assert {job["prodSourceLabel"] for job in result.jobs} == expected


@pytest.mark.django_db
def test_label_test_with_a_computing_element_also_takes_gangarobot_jobs(queue, production):
    robot = JobFactory(prodsourcelabel="user", processingtype="gangarobot")
    tests = [JobFactory(prodsourcelabel=label) for label in ("test", "prod_test", "install")]
    JobFactory(prodsourcelabel="user", processingtype="pathena")
    JobFactory(prodsourcelabel="managed")

    result = acquire(production, prod_source_label="test", computing_element="CE_1", n_jobs=50)

    assert set(sent_ids(result)) == {robot.pandaid, *(job.pandaid for job in tests)}


def test_label_filter_without_a_computing_element_is_the_test_label_alone():
    assert label_filter("test", None).labels == ("test",)
    assert label_filter("test", None).processing_types == ()


@pytest.mark.django_db
@pytest.mark.parametrize("requested", ["user", "managed", "unified"])
def test_a_queue_in_test_status_rewrites_the_label_to_test(production, requested):
    PandaQueueFactory(name=QUEUE, document=queue_document(QUEUE, "SITE_A", status="test"))
    test_job = JobFactory(prodsourcelabel="test")
    JobFactory(prodsourcelabel="managed")
    JobFactory(prodsourcelabel="user")

    result = acquire(production, prod_source_label=requested, computing_element="CE_1", n_jobs=10)

    assert sent_ids(result) == [test_job.pandaid]


@pytest.mark.django_db
def test_a_queue_in_test_status_keeps_other_labels(production):
    PandaQueueFactory(name=QUEUE, document=queue_document(QUEUE, "SITE_A", status="test"))
    ptest = JobFactory(prodsourcelabel="ptest")

    result = acquire(production, prod_source_label="ptest")

    assert sent_ids(result) == [ptest.pandaid]


@pytest.mark.django_db
@pytest.mark.parametrize(("job_type", "wanted"), [("user", "user"), ("managed", "managed"), (None, None)])
def test_job_type_picks_test_jobs_of_one_kind_on_a_grandly_unified_queue(production, job_type, wanted):
    PandaQueueFactory(name=QUEUE, document=queue_document(QUEUE, "SITE_A", catchall="grandly_unified"))
    jobs = {label: JobFactory(prodsourcelabel="test", job_label=label) for label in ("user", "managed")}

    result = acquire(production, prod_source_label="test", job_type=job_type, n_jobs=10)

    expected = {jobs[wanted].pandaid} if wanted else {job.pandaid for job in jobs.values()}
    assert set(sent_ids(result)) == expected


@pytest.mark.django_db
def test_a_caller_without_production_role_is_refused_any_label_but_user(queue):
    caller = identity_for_user(UserFactory())
    job = JobFactory(produsername=caller.compact_name)

    for label in ("managed", None, "unified", "test"):
        assert acquire(caller, prod_source_label=label).outcome == OUTCOME_ROLE_REFUSED

    assert status_of(job.pandaid) == JobStatus.ACTIVATED
    assert not QueueActivity.objects.exists()


@pytest.mark.django_db
def test_a_caller_without_production_role_only_receives_its_own_user_jobs(queue):
    caller = identity_for_user(UserFactory())
    JobFactory(prodsourcelabel="user", produsername="Somebody Else")
    own = JobFactory(prodsourcelabel="user", produsername=caller.compact_name)

    result = acquire(caller, prod_source_label="user", prod_user_id="Somebody Else", n_jobs=10)

    assert sent_ids(result) == [own.pandaid]


@pytest.mark.django_db
def test_the_pilot_role_dispatches_any_job_on_the_legacy_api_only(queue):
    caller = identity_for_user(pilot_user())
    job = JobFactory(produsername="Somebody Else")

    assert acquire(caller, prod_source_label="managed").outcome == OUTCOME_ROLE_REFUSED
    result = acquire(caller, prod_source_label="managed", legacy=True)

    assert sent_ids(result) == [job.pandaid]


@pytest.mark.django_db
def test_an_anonymous_caller_gets_no_job(queue):
    job = JobFactory(prodsourcelabel="user")

    assert acquire(ANONYMOUS, prod_source_label="user").outcome == OUTCOME_ROLE_REFUSED
    assert status_of(job.pandaid) == JobStatus.ACTIVATED


@pytest.mark.django_db
def test_a_production_caller_may_pick_the_owner_by_dn(queue, production):
    JobFactory(produsername="Jane Doe")
    johns = JobFactory(produsername="John Smith")

    result = acquire(production, prod_user_id="/DC=ch/DC=cern/OU=Users/CN=John Smith/CN=nickname:jsmith", n_jobs=5)

    assert sent_ids(result) == [johns.pandaid]


@pytest.mark.django_db
def test_task_background_and_resource_type_filters(queue, production):
    JobFactory(jeditaskid=1)
    task_job = JobFactory(jeditaskid=2)
    JobFactory(jobexecutionid=0)
    background_job = JobFactory(jobexecutionid=1)
    JobFactory(resource_type="SCORE")
    mcore_job = JobFactory(resource_type="MCORE")

    assert sent_ids(acquire(production, task_id=2, n_jobs=10)) == [task_job.pandaid]
    assert sent_ids(acquire(production, background=True, n_jobs=10)) == [background_job.pandaid]
    assert sent_ids(acquire(production, resource_type="MCORE", n_jobs=10)) == [mcore_job.pandaid]


@pytest.mark.django_db
def test_it_takes_at_most_n_jobs_and_more_than_one_pass_when_needed(queue, production, settings):
    settings.PANDA_N_JOBS_IN_GETJOB = 2
    jobs = [JobFactory() for _ in range(6)]

    result = acquire(production, n_jobs=5)

    assert sent_ids(result) == [job.pandaid for job in jobs[:5]]
    assert status_of(jobs[5].pandaid) == JobStatus.ACTIVATED
    assert JobStatusLog.objects.filter(oldstatus="activated", jobstatus="sent").count() == 5


@pytest.mark.django_db
def test_a_job_is_never_sent_twice(queue, production):
    job = JobFactory()

    first = acquire(production)
    second = acquire(production)

    assert sent_ids(first) == [job.pandaid]
    assert second.outcome == OUTCOME_NO_JOBS
    assert JobStatusLog.objects.filter(pandaid=job.pandaid, jobstatus="sent").count() == 1


@pytest.mark.django_db
def test_the_job_dict_carries_parameters_files_and_nsent(queue, production):
    job = job_with_files(parameters="--in=${IN} --out=x")

    (data,) = acquire(production).jobs

    assert data["PandaID"] == job.pandaid
    assert data["jobPars"] == "--in=${IN} --out=x"
    assert len(data["inFiles"].split(",")) == 2
    assert data["outFiles"].split(",")[-1] == f"log.{job.pandaid}.job.log.tgz.1"
    assert data["nSent"] == 1
    assert "credname" not in data


@pytest.mark.django_db
def test_get_proxy_key_adds_the_credential_keys_for_production_callers_only(queue, production):
    JobFactory()
    user = identity_for_user(UserFactory())
    JobFactory(prodsourcelabel="user", produsername=user.compact_name)

    (data,) = acquire(production, get_proxy_key=True).jobs
    (user_data,) = acquire(user, prod_source_label="user", get_proxy_key=True).jobs

    assert (data["credname"], data["myproxy"]) == ("", "")
    assert "credname" not in user_data
    assert user_data["nSent"] == 0


@pytest.mark.django_db
def test_it_relates_the_dispatched_jobs_to_the_harvester_worker(queue, production):
    jobs = [JobFactory() for _ in range(3)]

    acquire(production, harvester_id="CERN_central_A", worker_id=42, n_jobs=2)
    acquire(production, harvester_id="CERN_central_A", worker_id=42, n_jobs=2)

    worker = Worker.objects.get()
    assert (worker.harvesterid, worker.workerid, worker.computingsite) == ("CERN_central_A", 42, QUEUE)
    related = set(JobWorker.objects.values_list("harvesterid", "workerid", "pandaid"))
    assert related == {("CERN_central_A", 42, job.pandaid) for job in jobs}


@pytest.mark.django_db
def test_no_worker_rows_are_written_without_a_dispatched_job_or_a_worker_id(queue, production):
    acquire(production, harvester_id="CERN_central_A", worker_id=42)
    JobFactory()
    acquire(production, harvester_id="CERN_central_A")

    assert not Worker.objects.exists()
    assert not JobWorker.objects.exists()


@pytest.mark.django_db
def test_pilot_seen_is_recorded_per_label_and_written_at_most_once_a_minute(queue, production):
    acquire(production, prod_source_label="managed")
    first = QueueActivity.objects.get(queue=QUEUE, prodsourcelabel="managed").last_getjob
    acquire(production, prod_source_label="managed")
    acquire(production, prod_source_label="user")

    assert QueueActivity.objects.get(queue=QUEUE, prodsourcelabel="managed").last_getjob == first
    assert set(QueueActivity.objects.values_list("prodsourcelabel", flat=True)) == {"managed", "user"}


@pytest.mark.django_db
def test_pilot_seen_is_not_recorded_for_an_unknown_queue(production):
    result = acquire(production, site_name="NO_SUCH_QUEUE")

    assert result.outcome == OUTCOME_NO_JOBS
    assert not QueueActivity.objects.exists()


@pytest.mark.django_db
def test_a_job_at_an_unknown_queue_is_still_dispatched_with_empty_endpoints(production):
    job = job_with_files(computingsite="UNKNOWN_QUEUE")

    (data,) = acquire(production, site_name="UNKNOWN_QUEUE").jobs

    assert data["PandaID"] == job.pandaid
    assert set(data["ddmEndPointIn"].split(",")) == {""}


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("order", "index"),
    [(("-currentpriority", "pandaid"), "jobs_dispatch_idx"), (("pandaid",), "jobs_dispatch_sloppy_idx")],
)
def test_the_postgresql_claim_walks_a_dispatch_index_in_order(production, order, index):
    # Mostly archived jobs, as in a real jobs table, with the activated ones spread over queues.
    jobs = [
        Job(computingsite=f"QUEUE_{i % 50}", jobstatus="finished" if i % 20 else "activated", prodsourcelabel="managed")
        for i in range(20000)
    ]
    Job.objects.bulk_create(jobs, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs")
        criteria = DispatchCriteria(site_name="QUEUE_0", labels=label_filter("managed", None), mem=2000)
        values = ClaimValues(now=None, node=None, computing_element=None, scheduler_id=None)
        sql, params = claim_statement(criteria, order=order, limit=1, values=values)
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    candidate_scan = plan.split("CTE candidates")[1].split("CTE claimed")[0]
    assert f"Index Scan using {index} on jobs" in candidate_scan, plan
    assert "LockRows" in candidate_scan, plan
    # The index already yields the dispatch order: the queue's jobs are never sorted.
    assert "Sort" not in candidate_scan, plan
