import pytest

from apps.jedi.models import DatasetContent, DatasetType, TaskDataset
from apps.jedi.services.generator import job_generator_run
from apps.jobs.models import Job
from tests.jedi.generation import generating_task, use_broker
from tests.jedi_factories import task_params

pytestmark = pytest.mark.django_db

MERGE_SPEC = {"transPath": "http://127.0.0.1/trf/merge.sh", "jobParameters": "--in ${TRN_OUTPUT0} --out ${OUTPUT0}"}


@pytest.fixture(autouse=True)
def _broker(settings):
    use_broker(settings)


def merge_task(n_files=4, splitrule="NF=1,MO=1,ZF=2"):
    task = generating_task(n_files, splitrule=splitrule, merge=True, params=task_params(mergeSpec=MERGE_SPEC))
    job_generator_run()
    return task


def producers(task):
    return Job.objects.filter(jeditaskid=task.jeditaskid).exclude(processingtype="pmerge").order_by("pandaid")


def merge_jobs(task):
    return Job.objects.filter(jeditaskid=task.jeditaskid, processingtype="pmerge").order_by("pandaid")


def test_jobs_of_a_merge_task_write_pre_merged_files_into_their_queues_dataset():
    task = merge_task()

    jobs = list(producers(task))
    assert len(jobs) == 4
    instance = TaskDataset.objects.get(task=task, type=DatasetType.TMPL_OUTPUT, site="QUEUE_A")
    template = TaskDataset.objects.get(task=task, type=DatasetType.TMPL_OUTPUT, site__isnull=True)
    assert instance.templateid == template.datasetid
    for job in jobs:
        output = job.files.get(type="output")
        assert output.lfn.startswith("panda.um.user.jdoe.")
        assert output.dataset == instance.datasetname and job.destinationdblock == instance.datasetname
    rows = DatasetContent.objects.filter(dataset=instance)
    assert rows.count() == 4 and set(rows.values_list("type", flat=True)) == {"output"}


def test_no_merge_job_while_a_pre_merge_job_of_the_queue_is_in_flight():
    task = merge_task()
    Job.objects.filter(pk__in=[job.pk for job in producers(task)[:3]]).update(jobstatus="finished")

    job_generator_run()

    assert not merge_jobs(task).exists()


def test_finished_pre_merge_jobs_are_merged_n_files_per_merge_job():
    task = merge_task()
    producers(task).update(jobstatus="finished")

    summary = job_generator_run()

    merges = list(merge_jobs(task))
    assert summary.merge_jobs == 2 and len(merges) == 2
    final = TaskDataset.objects.get(task=task, type=DatasetType.OUTPUT)
    for job in merges:
        assert (job.assignedpriority, job.currentpriority) == (5000, 5000)
        assert job.transformation == MERGE_SPEC["transPath"] and job.specialhandling == "pm"
        assert job.computingsite == "QUEUE_A"
        inputs = sorted(job.files.filter(type="input").values_list("lfn", flat=True))
        assert len(inputs) == 4  # two producing jobs: their output and their log each
        output = job.files.get(type="output")
        assert output.dataset == final.datasetname and not output.lfn.startswith("panda.um.")
        pre_merged = ",".join(lfn for lfn in inputs if ".out.root" in lfn)
        assert job.params.jobparameters == f"--in {pre_merged} --out {output.lfn}"
    used = DatasetContent.objects.filter(task=task, dataset__templateid__isnull=False)
    assert set(used.values_list("pandaid", flat=True)) == {job.pandaid for job in merges}

    assert job_generator_run().merge_jobs == 0


def test_outputs_of_failed_pre_merge_jobs_are_not_merged():
    task = merge_task(n_files=3, splitrule="NF=1,MO=1,ZF=10")
    jobs = list(producers(task))
    Job.objects.filter(pk__in=[jobs[0].pk, jobs[1].pk]).update(jobstatus="finished")
    Job.objects.filter(pk=jobs[2].pk).update(jobstatus="failed")

    job_generator_run()

    merge = merge_jobs(task).get()
    assert merge.files.filter(type="input").count() == 4
    assert not merge.files.filter(type="input", lfn__in=jobs[2].files.values_list("lfn", flat=True)).exists()
