import json

import pytest
from django.core.management import call_command

from apps.core.timeutil import utcnow
from apps.jedi.models import JobParamsTemplate, OutputTemplate, Task, TaskDataset, TaskParams, TaskStatusLog
from apps.jedi.services.refiner import refiner_run, task_refine
from apps.jedi.states import TaskStatus
from apps.jedi.tasks import run_task_refiner
from tests.jedi_factories import TaskFactory, task_params

pytestmark = pytest.mark.django_db


def registered(params=None, **fields) -> Task:
    fields.setdefault("status", TaskStatus.REGISTERED)
    return TaskFactory(params=params or task_params(), splitrule="", **fields)


def datasets(task):
    return {(ds.type, ds.datasetname): ds for ds in TaskDataset.objects.filter(task=task)}


def test_a_registered_task_gets_its_datasets_templates_and_columns_and_becomes_defined():
    task = registered(task_params(nFilesPerJob=3, ramCount=1500, transHome="AnalysisBase-22.2.1"))

    summary = refiner_run()

    assert (summary.defined, summary.broken) == (1, 0)
    task.refresh_from_db()
    assert task.status == TaskStatus.DEFINED and task.lockedby is None
    assert task.splitrule == "NF=3,US=1,MA=3" and task.ramcount == 1500 and task.transhome == "AnalysisBase/22.2.1"
    rows = datasets(task)
    assert set(rows) == {
        ("input", "mc23:mc23.EVNT.e1"),
        ("output", "user.jdoe.test.001_out/"),
        ("log", "user.jdoe.test.001.log/"),
    }
    master = rows[("input", "mc23:mc23.EVNT.e1")]
    assert master.streamname == "IN" and master.status == "defined" and master.masterid is None
    templates = {t.streamname: t for t in OutputTemplate.objects.filter(task=task)}
    assert templates["OUTPUT0"].filenametemplate == "user.jdoe.$JEDITASKID._${SN/P}.out.root"
    assert templates["OUTPUT0"].serialnr == 1 and templates["OUTPUT0"].outtype == "output"
    assert templates["LOG0"].dataset_id == rows[("log", "user.jdoe.test.001.log/")].datasetid
    assert templates["LOG0"].outtype == "log"
    assert JobParamsTemplate.objects.get(task=task).jobparamstemplate == '--events 10 -i "${IN/T}" -o ${OUTPUT0}'
    log = TaskStatusLog.objects.filter(jeditaskid=task.jeditaskid).latest("id")
    assert (log.oldstatus, log.status) == ("registered", "defined")


def test_secondaries_point_at_the_master_and_offsets_start_the_serial_numbers():
    params = task_params()
    params["jobParameters"] += [
        {
            "type": "template",
            "param_type": "input",
            "value": "--db ${DBR}",
            "dataset": "ddo.DBR.v1",
            "attributes": "repeat",
        },
        {"type": "template", "param_type": "output", "value": "h=HIST.${SN}.root", "dataset": "hist/", "offset": 40},
    ]
    task = registered(params)

    refiner_run()

    rows = datasets(task)
    master, secondary = rows[("input", "mc23:mc23.EVNT.e1")], rows[("input", "ddo:ddo.DBR.v1")]
    assert secondary.masterid == master.datasetid and secondary.streamname == "DBR"
    assert secondary.attributes == "repeat"
    hist = OutputTemplate.objects.get(task=task, streamname="OUTPUT1")
    assert hist.serialnr == 41 and hist.dataset_id == rows[("output", "hist/")].datasetid


def test_merge_output_and_build_make_template_and_lib_datasets():
    task = registered(task_params(mergeOutput=True, buildSpec={"archiveName": "src.tgz"}))

    refiner_run()

    types = {ds.type for ds in TaskDataset.objects.filter(task=task)}
    assert types == {"input", "output", "log", "tmpl_output", "tmpl_log", "lib"}
    tmpl = TaskDataset.objects.get(task=task, type="tmpl_output")
    assert tmpl.storagetoken == "TOMERGE"
    assert OutputTemplate.objects.get(dataset=tmpl).filenametemplate.startswith("panda.um.")


def test_a_no_input_task_gets_a_pseudo_input_dataset():
    items = [
        {"type": "constant", "value": "--events ${MAXEVENTS}"},
        {"type": "template", "param_type": "output", "value": "o=EVNT.${SN}.root", "dataset": "evnt/"},
    ]
    task = registered(task_params(jobParameters=items, noInput=True, nEvents=1000, nEventsPerJob=100))

    refiner_run()

    (pseudo,) = TaskDataset.objects.filter(task=task, type="pseudo_input")
    assert pseudo.datasetname == "pseudo_dataset"
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DEFINED


def test_bad_parameters_send_the_task_to_tobroken_with_the_reason():
    task = registered(task_params(coreCount=-4))

    summary = refiner_run()

    assert summary.broken == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.TOBROKEN
    assert task.errordialog == "bad task parameters: coreCount must be at least 0, got -4"
    assert not TaskDataset.objects.filter(task=task).exists()


def test_unparsable_stored_parameters_send_the_task_to_tobroken():
    task = registered()
    TaskParams.objects.filter(task=task).update(taskparams="{not json")

    refiner_run()

    task.refresh_from_db()
    assert task.status == TaskStatus.TOBROKEN and "not valid JSON" in task.errordialog


def test_refining_twice_never_duplicates_rows():
    task = registered()
    refiner_run()
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.REGISTERED)
    task.refresh_from_db()

    assert task_refine(task) == "defined"

    assert TaskDataset.objects.filter(task=task).count() == 3
    assert OutputTemplate.objects.filter(task=task).count() == 2
    assert JobParamsTemplate.objects.filter(task=task).count() == 1


def test_rerefine_takes_the_new_parameters_keeps_serials_and_asks_to_update_fed_inputs():
    task = registered()
    refiner_run()
    OutputTemplate.objects.filter(task=task, streamname="OUTPUT0").update(serialnr=57)
    TaskDataset.objects.filter(task=task, type="input").update(status="ready")
    new = task_params(nFilesPerJob=9)
    new["jobParameters"].append(
        {"type": "template", "param_type": "input", "value": "--more ${MORE}", "dataset": "mc23.EVNT.e2"}
    )
    TaskParams.objects.filter(task=task).update(taskparams=json.dumps(new))
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.REREFINE)

    assert refiner_run().defined == 1

    task.refresh_from_db()
    assert task.status == TaskStatus.DEFINED and task.splitrule.startswith("NF=9")
    rows = datasets(task)
    assert rows[("input", "mc23:mc23.EVNT.e1")].status == "toupdate"
    assert rows[("input", "mc23:mc23.EVNT.e2")].status == "defined"
    assert OutputTemplate.objects.get(task=task, streamname="OUTPUT0").serialnr == 57
    assert TaskDataset.objects.filter(task=task).count() == 4


def test_tasks_held_by_another_agent_or_in_other_states_are_left_alone():
    held = registered(lockedby="someone:else:1")
    Task.objects.filter(pk=held.pk).update(lockedtime=utcnow())
    ready = TaskFactory(status=TaskStatus.READY)

    assert refiner_run().defined == 0

    assert Task.objects.get(pk=held.pk).status == TaskStatus.REGISTERED
    assert Task.objects.get(pk=ready.pk).status == TaskStatus.READY
    assert task_refine(ready) == "skipped"


def test_the_celery_task_and_the_command_run_the_refiner(capsys):
    first = registered()
    assert run_task_refiner.delay().get() == "refiner: defined=1 tobroken=0 skipped=0"
    second = registered(task_params(taskName="user.jdoe.second/"))
    call_command("run_task_refiner", "--limit", "5")
    assert "defined=1" in capsys.readouterr().out
    assert {t.status for t in Task.objects.filter(pk__in=[first.pk, second.pk])} == {TaskStatus.DEFINED}
