import pytest

from apps.jedi.models import (
    DatasetContent,
    DatasetType,
    JobRetryHistory,
    OutputTemplate,
    Task,
    TaskDataset,
    TaskStatusLog,
)
from apps.jedi.services.contents_feeder import contents_feeder_run
from apps.jedi.services.generator import job_generator_run
from apps.jedi.services.refiner import refiner_run
from apps.jedi.states import TaskStatus
from apps.jobs.models import Job, JobFile, JobStatusLog
from apps.sites.models import PandaQueue
from tests.factories import JobFactory, PandaQueueFactory, ResourceTypeFactory
from tests.jedi.generation import BROKER_CALLS, NO_CANDIDATE, generating_task, use_broker
from tests.jedi_factories import DatasetContentFactory, TaskDatasetFactory, TaskFactory, task_params

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _broker(settings):
    use_broker(settings)
    BROKER_CALLS.clear()


def task_jobs(task):
    return list(Job.objects.filter(jeditaskid=task.jeditaskid).order_by("pandaid"))


def test_it_makes_ten_jobs_of_two_files_from_twenty_files_on_the_brokered_queue():
    task = generating_task(20, splitrule="NF=2")

    summary = job_generator_run()

    jobs = task_jobs(task)
    assert summary.jobs == 10 and summary.files == 20
    assert len(jobs) == 10
    assert {job.computingsite for job in jobs} == {"QUEUE_A"}
    for job in jobs:
        inputs = job.files.filter(type="input")
        assert inputs.count() == 2
        assert set(inputs.values_list("status", flat=True)) == {"unknown"}
        assert job.files.filter(type="output").count() == 1 and job.files.filter(type="log").count() == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.RUNNING
    assert not DatasetContent.objects.filter(task=task, type="input", status="ready").exists()
    assert [{"task": task.jeditaskid, "files": 20, "scout": False}] == BROKER_CALLS


def test_a_job_carries_the_fields_jedi_sets(django_capture_on_commit_callbacks):
    task = generating_task(2, splitrule="NF=2", reqid=77, processingtype="panda-client")

    with django_capture_on_commit_callbacks(execute=True):
        job_generator_run()

    job = task_jobs(task)[0]
    assert job.jobname == f"{task.taskname}.{job.pandaid}"
    assert (job.jeditaskid, job.taskid, job.reqid) == (task.jeditaskid, task.jeditaskid, 77)
    assert job.jobsetid == job.pandaid  # analysis: a new jobset id from the PandaID sequence
    assert (job.attemptnr, job.maxattempt) == (1, 1)
    assert (job.assignedpriority, job.currentpriority) == (1000, 1000)
    assert job.lockedby == "jedi" and job.job_label == "user" and job.prodsourcelabel == "user"
    assert job.transformation == task.transpath and job.cmtconfig == task.architecture
    assert job.processingtype == "panda-client" and job.gshare == task.gshare
    assert (job.corecount, job.minramcount, job.minramunit) == (1, 1000, "MB")
    assert job.resource_type == "SCORE"
    assert job.specialhandling is None
    assert job.proddblock == "mc23:mc23.EVNT.e1"
    assert job.destinationdblock == "user.jdoe:user.jdoe.out/"
    assert job.ninputfiles == 2 and job.inputfilebytes == 2_000_000
    inputs = list(job.files.filter(type="input").order_by("lfn"))
    contents = list(DatasetContent.objects.filter(task=task, type="input").order_by("lfn"))
    assert [f.fileid for f in inputs] == [c.fileid for c in contents]
    assert {(c.status, c.pandaid) for c in contents} == {("picked", job.pandaid)}
    assert all(f.jeditaskid == task.jeditaskid and f.datasetid == contents[0].dataset_id for f in inputs)
    assert [f.guid for f in inputs] == [c.guid for c in contents]
    output = job.files.get(type="output")
    assert output.lfn == f"user.jdoe.{task.jeditaskid}._000001.out.root"
    assert job.files.get(type="log").lfn == f"user.jdoe.{task.jeditaskid}.000001.log.tgz"
    lfns = sorted(c.lfn for c in contents)
    assert job.params.jobparameters == (f"--events 10 -i \"['{lfns[0]}', '{lfns[1]}']\" -o {output.lfn} --seed 1")
    produced = DatasetContent.objects.filter(task=task, outpandaid=job.pandaid)
    assert sorted(produced.values_list("type", flat=True)) == ["log", "output"]
    assert output.fileid in set(produced.values_list("fileid", flat=True))
    states = list(JobStatusLog.objects.filter(pandaid=job.pandaid).order_by("id").values_list("oldstatus", "jobstatus"))
    assert states[:2] == [(None, "pending"), ("pending", "defined")]
    job.refresh_from_db()
    assert job.jobstatus == "assigned"  # the Setupper ran: inputs are not known to be at the queue yet


def test_serial_numbers_are_reserved_per_bunch_and_never_reused():
    task = generating_task(1100, splitrule="NF=1")

    assert job_generator_run().jobs == 1100

    lfns = list(JobFile.objects.filter(jeditaskid=task.jeditaskid, type="output").values_list("lfn", flat=True))
    assert len(set(lfns)) == 1100
    assert OutputTemplate.objects.get(task=task, streamname="OUTPUT0").serialnr == 1101
    output = TaskDataset.objects.get(task=task, type=DatasetType.OUTPUT)
    assert output.nfiles == 1100
    assert TaskDataset.objects.get(task=task, type=DatasetType.INPUT).nfilesused == 1100


def test_a_second_cycle_does_not_generate_the_same_files_again():
    task = generating_task(6, splitrule="NF=2")
    job_generator_run()

    assert job_generator_run().jobs == 0
    assert len(task_jobs(task)) == 3


def test_the_first_ten_chunks_become_scouts_and_the_task_waits_in_scouting():
    task = generating_task(30, splitrule="NF=2,US=1", taskpriority=1000, currentpriority=1000)

    summary = job_generator_run()

    jobs = task_jobs(task)
    assert summary.jobs == 10 and summary.scouting == 1
    assert {job.specialhandling for job in jobs} == {"sj"}
    assert {job.currentpriority for job in jobs} == {1001}
    assert BROKER_CALLS[0]["scout"] is True
    task.refresh_from_db()
    assert task.status == TaskStatus.SCOUTING
    assert DatasetContent.objects.filter(task=task, type="input", status="ready").count() == 10

    assert job_generator_run().jobs == 0


def test_a_task_back_in_ready_after_its_avalanche_generates_no_scouts_again():
    task = generating_task(4, splitrule="NF=2,US=1")
    for old, new in (("ready", "scouting"), ("scouting", "running"), ("running", "prepared"), ("prepared", "done")):
        TaskStatusLog.objects.create(jeditaskid=task.jeditaskid, oldstatus=old, status=new)

    summary = job_generator_run()

    assert summary.jobs == 2 and summary.running == 1 and summary.scouting == 0
    assert {job.specialhandling for job in task_jobs(task)} == {None}
    assert BROKER_CALLS[0]["scout"] is False
    task.refresh_from_db()
    assert task.status == TaskStatus.RUNNING


def test_scouts_without_a_per_job_rule_get_one_file_each_and_priority_901():
    task = generating_task(12, splitrule="US=1", taskpriority=300, currentpriority=300)

    job_generator_run()

    jobs = task_jobs(task)
    assert len(jobs) == 10
    assert {job.ninputfiles for job in jobs} == {1}
    assert {job.assignedpriority for job in jobs} == {901}


def test_a_retried_file_makes_a_job_linked_to_its_retry_chain():
    task = generating_task(0, splitrule="NF=1")
    dataset = TaskDataset.objects.get(task=task, type=DatasetType.INPUT)
    origin = JobFactory(jeditaskid=task.jeditaskid, jobstatus="failed")
    previous = JobFactory(jeditaskid=task.jeditaskid, jobstatus="failed")
    JobRetryHistory.objects.create(
        jeditaskid=task.jeditaskid, oldpandaid=origin.pandaid, newpandaid=previous.pandaid, originpandaid=origin.pandaid
    )
    DatasetContentFactory(dataset=dataset, task=task, attemptnr=2, pandaid=previous.pandaid, status="ready")

    job_generator_run()

    job = Job.objects.get(jeditaskid=task.jeditaskid, jobstatus__in=["defined", "assigned", "activated"])
    assert (job.attemptnr, job.maxattempt) == (3, 3)
    assert job.jobname == f"{task.taskname}.{origin.pandaid}"
    link = JobRetryHistory.objects.get(oldpandaid=previous.pandaid)
    assert (link.newpandaid, link.originpandaid, link.relationtype) == (job.pandaid, origin.pandaid, "retry")
    assert job.files.get(type="input").attemptnr == 2


def test_a_first_retry_links_to_the_failed_job_as_origin():
    task = generating_task(0, splitrule="NF=1")
    dataset = TaskDataset.objects.get(task=task, type=DatasetType.INPUT)
    failed = JobFactory(jeditaskid=task.jeditaskid, jobstatus="failed")
    DatasetContentFactory(dataset=dataset, task=task, attemptnr=1, pandaid=failed.pandaid, status="ready")

    job_generator_run()

    job = Job.objects.exclude(pk=failed.pk).get(jeditaskid=task.jeditaskid)
    assert job.jobname == f"{task.taskname}.{failed.pandaid}"
    assert JobRetryHistory.objects.get(newpandaid=job.pandaid).originpandaid == failed.pandaid


def test_without_a_brokerage_candidate_the_task_goes_pending_with_the_summary(settings):
    use_broker(settings, NO_CANDIDATE)
    task = generating_task(4, splitrule="NF=2")

    summary = job_generator_run()

    task.refresh_from_db()
    assert summary.pending == 1 and summary.jobs == 0
    assert (task.status, task.oldstatus) == (TaskStatus.PENDING, TaskStatus.READY)
    assert "no brokerage candidate" in task.errordialog
    assert "QUEUE_A: maxwdir too small" in task.errordialog
    assert not Job.objects.filter(jeditaskid=task.jeditaskid).exists()
    assert DatasetContent.objects.filter(task=task, status="ready").count() == 4


def test_events_per_job_cut_files_into_rows_of_their_own():
    task = generating_task(
        2, splitrule="NE=30", template="-i ${IN} --maxEvents ${MAXEVENTS} --skipEvents ${SKIPEVENTS} -o ${OUTPUT0}"
    )

    assert job_generator_run().jobs == 7  # 200 events, 30 per job

    rows = list(DatasetContent.objects.filter(task=task, type="input").order_by("lfn", "startevent"))
    assert [(r.startevent, r.endevent) for r in rows] == [
        (0, 29),
        (30, 59),
        (60, 89),
        (90, 99),
        (0, 19),
        (20, 49),
        (50, 79),
        (80, 99),
    ]
    assert {r.status for r in rows} == {"picked"}
    assert TaskDataset.objects.get(task=task, type=DatasetType.INPUT).nfiles == 2 + 6
    jobs = task_jobs(task)
    params = [job.params.jobparameters for job in jobs]
    assert "--maxEvents 30 --skipEvents 0" in params[0] and "--maxEvents 30 --skipEvents 30" in params[1]
    assert "--maxEvents 30 --skipEvents 90" in params[3]  # 10 from the first file, 20 from the second
    assert jobs[3].files.filter(type="input").count() == 2
    fileids = list(JobFile.objects.filter(jeditaskid=task.jeditaskid, type="input").values_list("fileid", "job_id"))
    assert len(fileids) == 8
    by_id = {r.fileid: r.pandaid for r in rows}
    assert all(by_id[fileid] == pandaid for fileid, pandaid in fileids)


def test_generation_stopping_mid_file_leaves_the_rest_of_the_file_ready():
    task = generating_task(1, splitrule="NE=30", template="-i ${IN} --skip ${SKIPEVENTS} -o ${OUTPUT0}")

    assert job_generator_run(max_jobs_per_task=2).jobs == 2

    rest = DatasetContent.objects.get(task=task, type="input", status="ready")
    assert (rest.startevent, rest.endevent) == (60, 99)
    assert job_generator_run().jobs == 2
    assert not DatasetContent.objects.filter(task=task, type="input", status="ready").exists()


def test_a_repeated_secondary_stream_goes_with_every_job_and_stays_ready():
    task = generating_task(4, splitrule="NF=2", template="-i ${IN} --db ${DBR} -o ${OUTPUT0}")
    master = TaskDataset.objects.get(task=task, type=DatasetType.INPUT)
    secondary = TaskDatasetFactory(
        task=task, datasetname="ddo:ddo.DBRelease", streamname="DBR", masterid=master.datasetid, attributes="repeat"
    )
    DatasetContentFactory(dataset=secondary, task=task, lfn="DBRelease-1.tar.gz")

    job_generator_run()

    for job in task_jobs(task):
        assert job.files.filter(type="input", lfn="DBRelease-1.tar.gz").exists()
        assert "--db DBRelease-1.tar.gz" in job.params.jobparameters
    assert DatasetContent.objects.get(dataset=secondary).status == "ready"


def test_a_throttled_task_makes_no_jobs(monkeypatch):
    from apps.jedi.services import generator
    from apps.jedi.services.throttle import ThrottleDecision

    monkeypatch.setattr(generator, "throttle_check", lambda task: ThrottleDecision(True, "too many queued"))
    task = generating_task(4, splitrule="NF=2", status=TaskStatus.RUNNING)

    summary = job_generator_run()

    task.refresh_from_db()
    assert summary.throttled == 1 and summary.jobs == 0
    assert task.status == TaskStatus.THROTTLED and task.numthrottled == 1


def test_the_lease_is_given_back_after_the_cycle():
    task = generating_task(2, splitrule="NF=2")
    job_generator_run()
    assert Task.objects.get(pk=task.pk).lockedby is None


def test_the_management_command_runs_one_cycle():
    from io import StringIO

    from django.core.management import call_command

    task = generating_task(4, splitrule="NF=2")
    out = StringIO()
    call_command("run_job_generator", "--no-setup", stdout=out)
    assert "jobs=2" in out.getvalue()
    assert {job.jobstatus for job in task_jobs(task)} == {"defined"}


def _fed_no_input_task(template_value: str, **overrides):
    """A noInput task taken through the refiner and the ContentsFeeder (``ready``, pseudo files fed)."""
    items = [
        {"type": "constant", "value": template_value},
        {"type": "template", "param_type": "output", "value": "o=EVNT.${SN}.root", "dataset": "evnt/"},
    ]
    PandaQueueFactory(name="QUEUE_A")
    ResourceTypeFactory(name="SCORE", mincore=1, maxcore=1)
    task = TaskFactory(status=TaskStatus.REGISTERED, params=task_params(jobParameters=items, noInput=True, **overrides))
    assert refiner_run().defined == 1
    contents_feeder_run()
    task.refresh_from_db()
    assert task.status == TaskStatus.READY
    return task


def test_no_input_jobs_get_their_pseudo_file_sequence_number_as_seqnumber():
    task = _fed_no_input_task("--seq ${SEQNUMBER} --n ${MAXEVENTS}", nEvents=30, nEventsPerJob=10)

    job_generator_run()

    params = [job.params.jobparameters for job in task_jobs(task)]
    assert [p.split()[:4] for p in params] == [
        ["--seq", "1", "--n", "10"],
        ["--seq", "2", "--n", "10"],
        ["--seq", "3", "--n", "10"],
    ]


def test_an_unfillable_placeholder_sends_the_task_to_tobroken_with_the_reason():
    task = generating_task(4, splitrule="NF=2", template="--first ${FIRSTEVENT} -i ${IN}")

    summary = job_generator_run()

    task.refresh_from_db()
    assert task.status == TaskStatus.TOBROKEN
    assert "${FIRSTEVENT}" in task.errordialog
    assert not task_jobs(task) and summary.errors == 0 and summary.broken == 1
    assert TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid, status=TaskStatus.TOBROKEN).exists()
    assert DatasetContent.objects.filter(task=task, type="input", status="ready").count() == 4


def test_the_random_seed_is_the_offset_of_the_rndmseed_item_plus_the_serial_number():
    task = generating_task(3, splitrule="NF=1,RS=1000", template="--seed ${RNDMSEED} --sn ${SN} -i ${IN}")

    job_generator_run()

    words = [job.params.jobparameters.split() for job in task_jobs(task)]
    assert [(int(w[1]), int(w[3])) for w in words] == [(1001, 1), (1002, 2), (1003, 3)]


def test_without_an_offset_the_random_seed_is_the_serial_number():
    task = generating_task(2, splitrule="NF=1", template="--seed ${RNDMSEED} --sn ${SN} -i ${IN}")

    job_generator_run()

    assert [job.params.jobparameters.split()[1] for job in task_jobs(task)] == ["1", "2"]


def test_a_task_allowing_any_core_count_gets_jobs_with_the_core_count_of_the_brokered_queue():
    task = generating_task(2, splitrule="NF=1", corecount=0)
    queue = PandaQueue.objects.get(name="QUEUE_A")
    queue.document = {**queue.document, "corecount": 8}
    queue.save()

    job_generator_run()

    assert [job.corecount for job in task_jobs(task)] == [8, 8]
