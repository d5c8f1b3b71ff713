"""Factories for tasks, their datasets and contents, and the DDM catalogue."""

import json
import uuid

import factory

from apps.ddm.models import DataFile, Dataset, DatasetFile, Replica
from apps.jedi.models import DatasetContent, DatasetType, Task, TaskDataset, TaskParams
from apps.jedi.services.transitions import task_log_creation
from apps.jedi.states import TaskStatus


def task_params(**overrides) -> dict:
    """A small but complete analysis task parameter map (one input, one output, a log)."""
    params = {
        "taskName": "user.jdoe.test.001/",
        "userName": "Jane Doe",
        "vo": "atlas",
        "prodSourceLabel": "user",
        "taskType": "anal",
        "taskPriority": 1000,
        "transPath": "http://127.0.0.1/trf/run.sh",
        "architecture": "x86_64-el9-gcc13-opt",
        "coreCount": 1,
        "ramCount": 1000,
        "ramCountUnit": "MBPerCore",
        "walltime": 3600,
        "nFilesPerJob": 2,
        "jobParameters": [
            {"type": "constant", "value": "--events 10"},
            {
                "type": "template",
                "param_type": "input",
                "value": '-i "${IN/T}"',
                "dataset": "mc23:mc23.EVNT.e1",
                "expand": True,
            },
            {
                "type": "template",
                "param_type": "output",
                "value": "-o user.jdoe.$JEDITASKID._${SN/P}.out.root",
                "dataset": "user.jdoe.test.001_out/",
            },
        ],
        "log": {
            "type": "template",
            "param_type": "log",
            "dataset": "user.jdoe.test.001.log/",
            "value": "user.jdoe.test.001.log.$JEDITASKID.${SN}.log.tgz",
        },
    }
    params.update(overrides)
    return params


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task
        skip_postgeneration_save = True

    taskname = factory.Sequence(lambda n: f"user.jdoe.task{n}/")
    status = TaskStatus.READY
    username = "Jane Doe"
    userdn = "/DC=ch/DC=cern/OU=Users/CN=Jane Doe"
    prodsourcelabel = "user"
    tasktype = "anal"
    vo = "atlas"
    taskpriority = 1000
    currentpriority = 1000
    transpath = "http://127.0.0.1/trf/run.sh"
    architecture = "x86_64-el9-gcc13-opt"
    corecount = 1
    ramcount = 1000
    ramunit = "MBPerCore"
    walltime = 3600
    splitrule = "NF=2"
    gshare = "User Analysis"

    @factory.post_generation
    def params(obj, create, extracted, **kwargs):
        if create:
            TaskParams.objects.create(task=obj, taskparams=json.dumps(extracted or task_params(taskName=obj.taskname)))
            task_log_creation(obj)


class TaskDatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskDataset

    task = factory.SubFactory(TaskFactory)
    datasetname = factory.Sequence(lambda n: f"mc23:mc23.EVNT.e{n}")
    type = DatasetType.INPUT
    status = "ready"
    streamname = "IN"
    vo = "atlas"


class DatasetContentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetContent

    dataset = factory.SubFactory(TaskDatasetFactory)
    task = factory.SelfAttribute("dataset.task")
    lfn = factory.Sequence(lambda n: f"EVNT.{n:08d}._000001.pool.root.1")
    guid = factory.LazyFunction(lambda: str(uuid.uuid4()).upper())
    type = factory.SelfAttribute("dataset.type")
    scope = "mc23"
    fsize = 1_000_000
    checksum = "ad:12345678"
    nevents = 100
    status = "ready"
    maxattempt = 3


def input_contents(task: Task, n: int, *, dataset: str = "mc23:mc23.EVNT.e1", **fields) -> list[DatasetContent]:
    """An input dataset of ``n`` ready files for ``task``."""
    ds = TaskDatasetFactory(task=task, datasetname=dataset, nfiles=n, nfilestobeused=n)
    return [DatasetContentFactory(dataset=ds, task=task, **fields) for _ in range(n)]


class DDMDatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset
        django_get_or_create = ("name",)

    scope = "mc23"
    name = factory.Sequence(lambda n: f"mc23.EVNT.d{n}")


class DataFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataFile

    scope = "mc23"
    lfn = factory.Sequence(lambda n: f"EVNT.{n:08d}.pool.root.1")
    guid = factory.LazyFunction(lambda: str(uuid.uuid4()).upper())
    fsize = 1_000_000
    adler32 = "12345678"
    nevents = 100


def ddm_dataset_with_files(name: str, n: int, *, endpoint: str | None = None, scope: str = "mc23") -> Dataset:
    """A DDM dataset of ``n`` files, each with an available replica on ``endpoint`` if given."""
    dataset = DDMDatasetFactory(name=name, scope=scope)
    for i in range(n):
        f = DataFileFactory(scope=scope, lfn=f"{name}._{i + 1:06d}.root")
        DatasetFile.objects.create(dataset=dataset, file=f)
        if endpoint:
            Replica.objects.create(file=f, endpoint=endpoint, pfn=f"/tmp/se/{scope}/{f.lfn}")
    return dataset
