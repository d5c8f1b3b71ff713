"""Tasks ready for the JobGenerator, and brokers for the tests (set through settings.PANDA_JEDI_PLUGINS)."""

from apps.jedi.models import DatasetType, JobParamsTemplate, OutputTemplate, Task, TaskDataset
from apps.jedi.plugins import BrokerageResult
from apps.jedi.states import TaskStatus
from tests.factories import PandaQueueFactory, ResourceTypeFactory
from tests.jedi_factories import TaskDatasetFactory, TaskFactory, input_contents

TEMPLATE = '--events 10 -i "${IN/T}" -o ${OUTPUT0} --seed ${RNDMSEED}'
BROKER = "tests.jedi.generation.broker_to_queue_a"
NO_CANDIDATE = "tests.jedi.generation.broker_without_candidates"
BROKER_CALLS: list[dict] = []


def broker_to_queue_a(task, *, files, scout):
    BROKER_CALLS.append({"task": task.jeditaskid, "files": len(files), "scout": scout})
    return BrokerageResult(candidates=[("QUEUE_A", 1.0)], rejected={"QUEUE_B": "offline"})


def broker_without_candidates(task, *, files, scout):
    return BrokerageResult(candidates=[], rejected={"QUEUE_A": "maxwdir too small", "QUEUE_B": "status offline"})


def use_broker(settings, path: str = BROKER) -> None:
    settings.PANDA_JEDI_PLUGINS = {"job_broker": {"default": path, "*:managed": path, "*:test": path}}


def generating_task(
    n_files: int,
    *,
    splitrule: str = "NF=2",
    status: str = TaskStatus.READY,
    template: str = TEMPLATE,
    merge: bool = False,
    **fields,
) -> Task:
    """A refined and fed task: one input dataset of ``n_files`` ready files, one output, a log."""
    PandaQueueFactory(name="QUEUE_A")
    ResourceTypeFactory(name="SCORE", mincore=1, maxcore=1)
    task = TaskFactory(status=status, splitrule=splitrule, **fields)
    input_contents(task, n_files)
    output = TaskDatasetFactory(
        task=task, datasetname="user.jdoe:user.jdoe.out/", type=DatasetType.OUTPUT, streamname="OUTPUT0"
    )
    log = TaskDatasetFactory(task=task, datasetname="user.jdoe:user.jdoe.log/", type=DatasetType.LOG, streamname="LOG0")
    OutputTemplate.objects.create(
        task=task, dataset=output, streamname="OUTPUT0", filenametemplate="user.jdoe.$JEDITASKID._${SN/P}.out.root"
    )
    OutputTemplate.objects.create(
        task=task, dataset=log, streamname="LOG0", filenametemplate="user.jdoe.$JEDITASKID.${SN}.log.tgz", outtype="log"
    )
    if merge:
        for final, kind in ((output, DatasetType.TMPL_OUTPUT), (log, DatasetType.TMPL_LOG)):
            tmpl = TaskDataset.objects.create(
                task=task,
                datasetname="panda.um." + final.datasetname,
                type=kind,
                streamname=final.streamname,
                storagetoken="TOMERGE",
            )
            source = OutputTemplate.objects.get(dataset=final)
            OutputTemplate.objects.create(
                task=task,
                dataset=tmpl,
                streamname=source.streamname,
                filenametemplate="panda.um." + source.filenametemplate,
                outtype=source.outtype,
            )
    JobParamsTemplate.objects.create(task=task, jobparamstemplate=template)
    return task
