import resource

import pytest
from django.core.management import call_command

from apps.ddm.interface import ddm
from apps.ddm.models import DataFile, Dataset, DatasetFile
from apps.jedi.models import DatasetContent, Task, TaskDataset
from apps.jedi.services import contents_feeder
from apps.jedi.services.contents_feeder import contents_feeder_run, task_feed_contents
from apps.jedi.services.locks import tasks_claim
from apps.jedi.services.refiner import refiner_run
from apps.jedi.states import TaskStatus
from apps.jedi.tasks import run_contents_feeder
from tests.jedi_factories import DataFileFactory, TaskFactory, ddm_dataset_with_files, task_params

pytestmark = pytest.mark.django_db


def defined_task(params=None, **fields) -> Task:
    """A task as the refiner leaves it: ``defined`` with its datasets."""
    task = TaskFactory(status=TaskStatus.REGISTERED, params=params or task_params(), **fields)
    assert refiner_run().defined == 1
    task.refresh_from_db()
    return task


def master(task) -> TaskDataset:
    return TaskDataset.objects.get(task=task, type__in=["input", "pseudo_input"], masterid__isnull=True)


def no_input_params(**overrides):
    items = [
        {"type": "constant", "value": "--maxEvents=${MAXEVENTS} --first=${FIRSTEVENT}"},
        {"type": "template", "param_type": "output", "value": "o=EVNT.${SN}.root", "dataset": "evnt/"},
    ]
    return task_params(jobParameters=items, noInput=True, **overrides)


def test_a_defined_task_gets_one_ready_row_per_input_file_and_becomes_ready():
    ddm_dataset_with_files("mc23.EVNT.e1", 4)
    task = defined_task()

    summary = contents_feeder_run()

    assert (summary.ready, summary.files) == (1, 4)
    task.refresh_from_db()
    assert task.status == TaskStatus.READY and task.lockedby is None
    rows = list(DatasetContent.objects.filter(task=task).order_by("lfn"))
    assert [r.lfn for r in rows] == [f"mc23.EVNT.e1._{i:06d}.root" for i in range(1, 5)]
    catalogue = DataFile.objects.get(lfn=rows[0].lfn)
    first = rows[0]
    assert (first.status, first.attemptnr, first.maxattempt, first.maxfailure) == ("ready", 0, 3, None)
    assert (first.scope, first.guid, first.fsize, first.nevents) == ("mc23", catalogue.guid, 1_000_000, 100)
    assert first.checksum == "ad:12345678" and first.type == "input"
    ds = master(task)
    assert (ds.status, ds.nfiles, ds.nfilestobeused, ds.nevents) == ("ready", 4, 4, 400)


def test_max_attempt_and_max_failure_come_from_the_task_parameters():
    ddm_dataset_with_files("mc23.EVNT.e1", 2)
    task = defined_task(task_params(maxAttempt=5, maxFailure=2))
    contents_feeder_run()
    assert set(DatasetContent.objects.filter(task=task).values_list("maxattempt", "maxfailure")) == {(5, 2)}


def test_disable_auto_retry_gives_each_file_one_attempt():
    ddm_dataset_with_files("mc23.EVNT.e1", 2)
    task = defined_task(task_params(maxAttempt=5, disableAutoRetry=True))
    contents_feeder_run()
    assert set(DatasetContent.objects.filter(task=task).values_list("maxattempt", flat=True)) == {1}


def test_a_container_is_expanded_into_the_files_of_its_datasets():
    ddm_dataset_with_files("mc23.EVNT.a", 2)
    ddm_dataset_with_files("mc23.EVNT.b", 3)
    ddm().attach("mc23:mc23.EVNT.cont", "mc23:mc23.EVNT.a")
    ddm().attach("mc23:mc23.EVNT.cont", "mc23:mc23.EVNT.b")
    params = task_params()
    params["jobParameters"][1]["dataset"] = "mc23:mc23.EVNT.cont/"
    task = defined_task(params)

    contents_feeder_run()

    assert DatasetContent.objects.filter(task=task).count() == 5
    assert master(task).nfiles == 5


def test_n_files_limits_the_master_input():
    ddm_dataset_with_files("mc23.EVNT.e1", 10)
    task = defined_task(task_params(nFiles=3))
    contents_feeder_run()
    assert DatasetContent.objects.filter(task=task).count() == 3 and master(task).nfilestobeused == 3


def test_n_events_takes_files_until_that_many_events():
    ddm_dataset_with_files("mc23.EVNT.e1", 10)  # 100 events each
    task = defined_task(task_params(nEvents=250))
    contents_feeder_run()
    assert DatasetContent.objects.filter(task=task).count() == 3 and master(task).nevents == 300


def test_files_without_event_counts_get_n_events_per_input_file():
    ddm_dataset_with_files("mc23.EVNT.e1", 2)
    DataFile.objects.update(nevents=None)
    task = defined_task(task_params(nEventsPerInputFile=50))
    contents_feeder_run()
    assert set(DatasetContent.objects.filter(task=task).values_list("nevents", flat=True)) == {50}


def test_include_exclude_and_file_lists_filter_the_input():
    ddm_dataset_with_files("mc23.EVNT.e1", 5)
    params = task_params()
    params["jobParameters"][1] |= {"include": "*_00000[1-4]*", "exclude": "*000002*"}
    task = defined_task(params)
    contents_feeder_run()
    assert sorted(DatasetContent.objects.filter(task=task).values_list("lfn", flat=True)) == [
        "mc23.EVNT.e1._000001.root",
        "mc23.EVNT.e1._000003.root",
        "mc23.EVNT.e1._000004.root",
    ]

    params = task_params(taskName="user.jdoe.files/")
    params["jobParameters"][1]["files"] = ["mc23.EVNT.e1._000005.root"]
    task = defined_task(params)
    contents_feeder_run()
    assert list(DatasetContent.objects.filter(task=task).values_list("lfn", flat=True)) == ["mc23.EVNT.e1._000005.root"]


def test_secondary_inputs_are_fed_in_full():
    ddm_dataset_with_files("mc23.EVNT.e1", 6)
    ddm_dataset_with_files("ddo.DBR.v1", 2, scope="ddo")
    params = task_params(nFiles=2)
    params["jobParameters"].append(
        {"type": "template", "param_type": "input", "value": "--db ${DBR}", "dataset": "ddo:ddo.DBR.v1"}
    )
    task = defined_task(params)

    contents_feeder_run()

    secondary = TaskDataset.objects.get(task=task, streamname="DBR")
    assert secondary.status == "ready" and secondary.nfiles == 2 and master(task).nfiles == 2


def test_a_no_input_task_gets_one_pseudo_file_per_job_with_its_event_range():
    task = defined_task(no_input_params(nEvents=250, nEventsPerJob=100))

    contents_feeder_run()

    rows = list(DatasetContent.objects.filter(task=task).order_by("fileid"))
    assert [(r.nevents, r.startevent, r.endevent, r.firstevent) for r in rows] == [
        (100, 0, 99, 1),
        (100, 100, 199, 101),
        (50, 200, 249, 201),
    ]
    assert [r.lfn for r in rows] == ["1", "2", "3"] and {r.type for r in rows} == {"pseudo_input"}
    ds = master(task)
    assert (ds.nfiles, ds.nevents) == (3, 250)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.READY


def test_a_no_input_task_with_n_files_makes_that_many_jobs_and_honours_the_first_event_offset():
    params = no_input_params(nFiles=4, nEventsPerJob=10)
    params["jobParameters"].append(
        {"type": "template", "param_type": "number", "value": "--skip=${FIRSTEVENT}", "offset": 1000}
    )
    task = defined_task(params)
    contents_feeder_run()
    rows = list(DatasetContent.objects.filter(task=task).order_by("fileid"))
    assert len(rows) == 4 and rows[1].firstevent == 1011 and master(task).nevents == 40


def test_a_pfn_list_task_gets_one_row_per_pfn():
    items = [
        {"type": "constant", "value": "-i ${IN/L}"},
        {"type": "template", "param_type": "output", "value": "o=out.${SN}.root", "dataset": "out/"},
    ]
    pfns = ["root://eos//a/f1.root", "root://eos//a/f2.root"]
    task = defined_task(task_params(jobParameters=items, pfnList=pfns))

    contents_feeder_run()

    assert sorted(DatasetContent.objects.filter(task=task).values_list("lfn", flat=True)) == pfns
    assert Task.objects.get(pk=task.pk).status == TaskStatus.READY


def test_a_managed_task_without_cloud_or_nucleus_goes_to_assigning():
    ddm_dataset_with_files("mc23.EVNT.e1", 1)
    task = defined_task(task_params(prodSourceLabel="managed", userName="prodsys"))
    assert contents_feeder_run().assigning == 1
    assert Task.objects.get(pk=task.pk).status == TaskStatus.ASSIGNING

    with_nucleus = defined_task(task_params(prodSourceLabel="managed", nucleus="CERN", taskName="x/"))
    contents_feeder_run()
    assert Task.objects.get(pk=with_nucleus.pk).status == TaskStatus.READY


def test_a_missing_input_dataset_makes_the_task_pending_with_the_reason():
    task = defined_task()

    assert contents_feeder_run().pending == 1

    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING and task.oldstatus == TaskStatus.DEFINED
    assert task.errordialog == "input dataset mc23:mc23.EVNT.e1 is unknown to DDM"
    assert master(task).status == "defined"


def test_an_empty_input_dataset_makes_the_task_pending():
    Dataset.objects.create(scope="mc23", name="mc23.EVNT.e1")
    task = defined_task()
    contents_feeder_run()
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING and "has no file to process" in task.errordialog


def test_a_file_name_too_long_for_the_contents_table_breaks_the_task(monkeypatch):
    # The embedded catalogue cannot hold such names; another DDM backend could list them.
    monkeypatch.setattr(contents_feeder, "LFN_MAX", 20)
    ddm_dataset_with_files("mc23.EVNT.e1", 1)
    task = defined_task()
    contents_feeder_run()
    task.refresh_from_db()
    assert task.status == TaskStatus.TOBROKEN and "longer than 20 characters" in task.errordialog


def test_feeding_again_after_an_interrupted_feed_never_duplicates_rows():
    ddm_dataset_with_files("mc23.EVNT.e1", 5)
    task = defined_task()
    # A crash after two chunks: rows exist, the dataset is still ``defined``, the task too.
    ds = master(task)
    for lfn in ("mc23.EVNT.e1._000001.root", "mc23.EVNT.e1._000002.root"):
        DatasetContent.objects.create(task=task, dataset=ds, lfn=lfn, type="input", scope="mc23")

    contents_feeder_run(chunk_size=2)

    assert DatasetContent.objects.filter(task=task).count() == 5
    assert master(task).nfiles == 5
    assert contents_feeder_run().files == 0


def test_a_toupdate_dataset_of_a_running_task_gets_only_the_new_files():
    dataset = ddm_dataset_with_files("mc23.EVNT.e1", 3)
    task = defined_task()
    contents_feeder_run()
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.RUNNING)
    new = DataFileFactory(scope="mc23", lfn="mc23.EVNT.e1._000004.root")
    DatasetFile.objects.create(dataset=dataset, file=new)
    TaskDataset.objects.filter(pk=master(task).pk).update(status="toupdate")

    summary = contents_feeder_run()

    assert (summary.updated, summary.files) == (1, 1)
    ds = master(task)
    assert (ds.status, ds.nfiles, ds.nfilestobeused, ds.nevents) == ("ready", 4, 4, 400)
    assert DatasetContent.objects.filter(task=task).count() == 4
    assert Task.objects.get(pk=task.pk).status == TaskStatus.RUNNING


def test_task_feed_contents_answers_the_outcome_and_the_row_count_for_a_task_it_holds():
    ddm_dataset_with_files("mc23.EVNT.e1", 2)
    defined_task()
    (task,) = tasks_claim(agent=contents_feeder.AGENT, statuses=[TaskStatus.DEFINED])
    assert task_feed_contents(task) == ("ready", 2)


def test_a_feed_that_lost_its_lease_stops_and_leaves_the_dataset_to_be_fed_again():
    ddm_dataset_with_files("mc23.EVNT.e1", 2)
    task = defined_task()  # not claimed: the first lease renewal fails
    assert task_feed_contents(task, chunk_size=1) == ("skipped", 1)
    assert master(task).status == "defined" and Task.objects.get(pk=task.pk).status == TaskStatus.DEFINED
    contents_feeder_run()
    assert DatasetContent.objects.filter(task=task).count() == 2


def test_a_hundred_thousand_files_go_in_by_chunks():
    n = 100_000
    dataset = Dataset.objects.create(scope="mc23", name="mc23.EVNT.big")
    DataFile.objects.bulk_create(
        (DataFile(scope="mc23", lfn=f"EVNT.big._{i:07d}.root", guid=f"G{i}", fsize=10, nevents=5) for i in range(n)),
        batch_size=10_000,
    )
    ids = DataFile.objects.filter(lfn__startswith="EVNT.big.").values_list("pk", flat=True)
    DatasetFile.objects.bulk_create(
        (DatasetFile(dataset=dataset, file_id=pk) for pk in ids.iterator()), batch_size=10_000
    )
    params = task_params()
    params["jobParameters"][1]["dataset"] = "mc23:mc23.EVNT.big"
    task = defined_task(params)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = contents_feeder_run(chunk_size=5000)
    growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before

    assert summary.files == n and summary.ready == 1
    ds = master(task)
    assert (ds.nfiles, ds.nevents) == (n, 5 * n)
    assert DatasetContent.objects.filter(task=task).count() == n
    # The catalogue listing itself is one list; the feeder adds at most a chunk on top of it.
    # (about 30 MB here); 100,000 DatasetContent instances held at once would need well over 100 MB.
    assert growth_kb < 80 * 1024


def test_the_celery_task_and_the_command_run_the_feeder(capsys):
    ddm_dataset_with_files("mc23.EVNT.e1", 2)
    defined_task()
    assert run_contents_feeder.delay().get().startswith("contents_feeder: ready=1 ")
    defined_task(task_params(taskName="user.jdoe.other/"))
    call_command("run_contents_feeder", "--limit", "5", "--chunk-size", "1")
    assert "ready=1" in capsys.readouterr().out


@pytest.mark.postgres
def test_concurrent_refiners_and_feeders_handle_every_task_exactly_once(transactional_db):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    ddm_dataset_with_files("mc23.EVNT.e1", 20)
    tasks = [TaskFactory(status=TaskStatus.REGISTERED, params=task_params(taskName=f"t{i}/")) for i in range(12)]

    def cycle(run):
        try:
            return run()
        finally:
            connection.close()

    # A cycle skips what another holds; the sequential cycle after each pool picks that up.
    with ThreadPoolExecutor(max_workers=4) as pool:
        refined = list(pool.map(lambda _: cycle(lambda: refiner_run(limit=3)), range(8)))
    refined.append(cycle(refiner_run))
    with ThreadPoolExecutor(max_workers=4) as pool:
        fed = list(pool.map(lambda _: cycle(lambda: contents_feeder_run(limit=3, chunk_size=7)), range(8)))
    fed.append(cycle(contents_feeder_run))

    assert sum(s.defined for s in refined) == 12 and sum(s.ready for s in fed) == 12
    assert TaskDataset.objects.filter(task__in=tasks).count() == 36
    assert DatasetContent.objects.filter(task__in=tasks).count() == 12 * 20
    assert set(Task.objects.filter(pk__in=[t.pk for t in tasks]).values_list("status", flat=True)) == {"ready"}
