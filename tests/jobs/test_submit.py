import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.identity import identity_for_user
from apps.jobs.models import Job, JobFile, JobParameters, JobStatusLog
from apps.jobs.serialization import jobs_from_wire
from apps.jobs.services import submit as submit_module
from apps.jobs.services.submit import SubmitRefused, extract_scope, jobs_submit
from apps.sites.services.resource_types import resource_types_load
from tests.factories import PandaQueueFactory, UserFactory, production_user, queue_document
from tests.jobs.wire_jobs import wire_file, wire_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queues():
    resource_types_load()
    for name, queue_type in (("Q_SUBMIT", "unified"), ("Q_ANALY", "analysis"), ("Q_PROD", "production")):
        PandaQueueFactory(name=name, document=queue_document(name, "SITE_SUBMIT", type=queue_type))


@pytest.fixture
def user():
    return identity_for_user(UserFactory(first_name="Jane", last_name="Doe", username="jdoe"))


@pytest.fixture
def production():
    return identity_for_user(production_user(username="prodsys"))


def submit(identity, *arrays, host=""):
    return jobs_submit(identity=identity, jobs=jobs_from_wire(list(arrays)), host=host)


def database_state():
    return (Job.objects.count(), JobFile.objects.count(), JobParameters.objects.count(), JobStatusLog.objects.count())


def test_a_user_job_is_stored_in_defined_with_parameters_files_and_a_status_log_row(user):
    answer = submit(user, wire_job(), host="10.0.0.7")

    job = Job.objects.get()
    assert answer == [[job.pandaid, job.jobdefinitionid, {"jobsetID": job.jobsetid}]]
    assert job.jobstatus == "defined"
    assert (job.computingsite, job.creationhost, job.relocationflag) == ("Q_SUBMIT", "10.0.0.7", 1)
    assert job.params.jobparameters == f"-o out.{job.pandaid:05d}.root"
    files = list(job.files.order_by("row_id"))
    assert [(f.type, f.lfn) for f in files] == [
        ("input", "in.root"),
        ("output", f"out.{job.pandaid:05d}.root"),
        ("log", f"log.{job.pandaid:05d}.tgz"),
    ]
    log = JobStatusLog.objects.get(pandaid=job.pandaid)
    assert (log.oldstatus, log.jobstatus, log.computingsite) == (None, "defined", "Q_SUBMIT")


def test_the_owner_of_a_job_submitted_without_production_is_the_caller(user):
    submit(user, wire_job(prodUserID="/CN=Someone Else", prodUserName="Someone Else"))

    job = Job.objects.get()
    assert job.produsername == "Jane Doe" == user.compact_name
    assert job.produserid == user.dn


def test_production_may_submit_on_behalf_of_the_prod_user_id_it_names(production):
    submit(production, wire_job(prodSourceLabel="managed", prodUserID="/DC=ch/DC=cern/CN=Task Owner/CN=123456"))

    job = Job.objects.get()
    assert job.produserid == "/DC=ch/DC=cern/CN=Task Owner/CN=123456"
    assert job.produsername == "Task Owner"


def test_analysis_jobs_of_a_production_caller_still_belong_to_the_caller(production):
    submit(production, wire_job(prodSourceLabel="user", prodUserID="/CN=Other"))

    assert Job.objects.get().produserid == production.dn


def test_a_managed_job_answers_its_job_name(production):
    answer = submit(production, wire_job(prodSourceLabel="managed", jobName="prod.job.1", jobDefinitionID=77))

    job = Job.objects.get()
    assert answer == [[job.pandaid, 77, "prod.job.1"]]
    assert job.jobsetid is None


def test_managed_jobs_without_production_are_refused_and_nothing_is_stored(user):
    with pytest.raises(SubmitRefused, match="is missing production for prodSourceLabel=managed"):
        submit(user, wire_job(), wire_job(prodSourceLabel="managed"))

    assert database_state() == (0, 0, 0, 0)


@pytest.mark.parametrize("job_label", ["analysis", "prod", "USER"])
def test_an_unknown_job_label_is_refused(user, job_label):
    with pytest.raises(SubmitRefused, match=f"job_label={job_label} is not valid"):
        submit(user, wire_job(job_label=job_label))

    assert database_state() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("queue", "label", "expected"),
    [
        ("Q_ANALY", "managed", "user"),
        ("Q_PROD", "user", "managed"),
        ("Q_SUBMIT", "user", "user"),
        ("Q_SUBMIT", "panda", "user"),
        ("Q_SUBMIT", "managed", "managed"),
        ("Q_SUBMIT", "test", "managed"),
    ],
)
def test_an_empty_job_label_is_derived_from_the_queue_type_and_the_label(production, queue, label, expected):
    submit(production, wire_job(computingSite=queue, prodSourceLabel=label, job_label=""))

    assert Job.objects.get().job_label == expected


def test_a_valid_job_label_is_kept(user):
    submit(user, wire_job(job_label="managed", computingSite="Q_ANALY"))

    assert Job.objects.get().job_label == "managed"


@pytest.mark.parametrize(
    ("site", "message"),
    [("NULL", "computingSite is required"), ("NO_SUCH_QUEUE", "computingSite=NO_SUCH_QUEUE is not a PanDA queue")],
)
def test_a_job_must_name_an_existing_queue(user, site, message):
    with pytest.raises(SubmitRefused, match=message):
        submit(user, wire_job(), wire_job(computingSite=site))

    assert database_state() == (0, 0, 0, 0)


def test_a_file_of_unknown_type_is_refused(user):
    with pytest.raises(SubmitRefused, match="job 0 file 0: type must be one of"):
        submit(user, wire_job(files=[wire_file(lfn="x", type="lib")]))

    assert database_state() == (0, 0, 0, 0)


def test_an_empty_submission_is_refused(user):
    with pytest.raises(SubmitRefused, match="No jobs were submitted"):
        jobs_submit(identity=user, jobs=[])


def test_jobs_beyond_the_limit_are_dropped(user, monkeypatch):
    monkeypatch.setattr(submit_module, "MAX_JOBS", 3)

    answer = submit(user, *[wire_job(jobName=f"j{i}") for i in range(5)])

    assert len(answer) == 3
    assert sorted(Job.objects.values_list("jobname", flat=True)) == ["j0", "j1", "j2"]


def test_a_database_failure_half_way_leaves_nothing_behind(user, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(submit_module, "job_log_creation", broken)

    with pytest.raises(DatabaseError):
        submit(user, wire_job(), wire_job())

    assert database_state() == (0, 0, 0, 0)


def test_unset_counts_priorities_and_error_codes_are_stored_as_zero(production):
    submit(production, wire_job(prodSourceLabel="managed", files=[]))

    job = Job.objects.get()
    for field in ("assignedpriority", "currentpriority", "attemptnr", "maxattempt", "maxcpucount", "maxdiskcount",
                  "minramcount", "cpuconsumptiontime", "piloterrorcode", "exeerrorcode", "superrorcode",
                  "ddmerrorcode", "brokerageerrorcode", "jobdispatchererrorcode", "taskbuffererrorcode", "nevents",
                  "jobexecutionid", "noutputdatafiles", "outputfilebytes"):  # fmt: skip
        assert getattr(job, field) == 0, field


def test_the_panda_id_sent_by_the_client_is_ignored(user):
    answer = submit(user, wire_job(PandaID=42))

    assert answer[0][0] == Job.objects.get().pandaid


def test_user_jobs_of_one_submission_share_a_jobset_and_definition_numbered_by_the_first_panda_id(user):
    answer = submit(user, wire_job(prodSourceLabel="panda"), wire_job(), wire_job())

    jobs = list(Job.objects.order_by("pandaid"))
    first = jobs[0].pandaid
    assert [job.jobsetid for job in jobs] == [first] * 3
    assert [job.jobdefinitionid for job in jobs] == [first] * 3
    assert [row[2] for row in answer] == [{"jobsetID": first}] * 3
    # one build job and two run jobs: 1 + (2 << 1)
    assert {job.taskid for job in jobs} == {5}


def test_given_jobset_and_definition_ids_are_kept(user):
    submit(user, wire_job(jobsetID=900, jobDefinitionID=901))

    job = Job.objects.get()
    assert (job.jobsetid, job.jobdefinitionid) == (900, 901)


@pytest.mark.parametrize(("attempt", "max_attempt", "expected"), [(0, 0, 2), (3, 3, 5), (1, 10, 10), (4, -1, 4)])
def test_analysis_jobs_leave_room_for_retries_unless_disabled(user, attempt, max_attempt, expected):
    submit(user, wire_job(attemptNr=attempt, maxAttempt=max_attempt))

    assert Job.objects.get().maxattempt == expected


def test_the_assigned_priority_becomes_the_current_priority(production):
    submit(production, wire_job(prodSourceLabel="managed", assignedPriority=950, currentPriority=10))

    job = Job.objects.get()
    assert (job.assignedpriority, job.currentpriority) == (950, 950)


def test_install_jobs_get_the_install_priority(production):
    submit(production, wire_job(prodSourceLabel="install"))

    assert Job.objects.get().currentpriority == 4100


@pytest.mark.parametrize(
    ("core_count", "ram", "expected"), [(1, 2000, "SCORE"), (1, 6000, "SCORE_HIMEM"), (8, 16000, "MCORE")]
)
def test_the_resource_type_is_derived_from_cores_and_memory_when_not_given(user, core_count, ram, expected):
    submit(user, wire_job(coreCount=core_count, minRamCount=ram))

    assert Job.objects.get().resource_type == expected


def test_a_given_resource_type_is_kept(user):
    submit(user, wire_job(resource_type="MCORE_HIMEM"))

    assert Job.objects.get().resource_type == "MCORE_HIMEM"


def test_output_scopes_are_taken_from_the_dataset_name(user):
    submit(user, wire_job())

    scopes = dict(JobFile.objects.values_list("type", "scope"))
    assert scopes == {"input": "user.jdoe", "output": "user.jdoe", "log": "user.jdoe"}


@pytest.mark.parametrize(
    ("dataset", "scope"),
    [
        ("mc23:mc23.HITS.x", "mc23"),
        ("user.jdoe.out/", "user.jdoe"),
        ("group.phys.x", "group.phys"),
        ("data18.x", "data18"),
        (None, None),
    ],
)
def test_extract_scope_follows_upstream(dataset, scope):
    assert extract_scope(dataset) == scope


def test_the_vo_comes_from_the_callers_fqan(production):
    submit(production, wire_job(VO="somethingelse"))

    assert Job.objects.get().vo == "atlas"


def test_a_user_cannot_claim_a_working_group_without_its_production_role(user):
    submit(user, wire_job(workingGroup="AP_TOP"))

    assert Job.objects.get().workinggroup is None


def test_a_working_group_production_role_keeps_the_working_group():
    identity = identity_for_user(UserFactory(fqans=["/atlas/AP_TOP/Role=production"]))

    submit(identity, wire_job(workingGroup="AP_TOP"))

    assert Job.objects.get().workinggroup == "AP_TOP"


def test_a_submission_costs_bulk_queries_not_queries_per_job(user):
    def queries_for(n_jobs: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            submit(user, *[wire_job() for _ in range(n_jobs)])
        return len(queries)

    few, many = queries_for(2), queries_for(60)

    if connection.vendor == "postgresql":
        assert many == few
    else:
        # SQLite splits bulk inserts into batches of 999 parameters (about 7 jobs per INSERT).
        assert many < 30


def test_submitted_jobs_are_set_up_once_the_submission_commits(production, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = submit(production, wire_job(computingSite="Q_SUBMIT", prodSourceLabel="managed", files=[]))

    job = Job.objects.get(pk=answer[0][0])
    assert job.jobstatus == "activated"
    assert JobStatusLog.objects.filter(pandaid=job.pandaid, oldstatus="defined", jobstatus="activated").exists()
