"""Demo tasks for the quick start: small production tasks that JEDI turns into jobs real pilots run.

``manage.py demo_tasks`` calls :func:`demo_tasks_submit` in a loop. Each round it makes sure that

* the demo input dataset (:data:`DEMO_INPUT_DATASET`) exists in the embedded DDM with
  :data:`DEMO_INPUT_FILES` EVNT files that really sit on the queues' storage endpoint (``VAR_DIR/demo-se``
  in the demo grid), written where the pilot looks for them (protocol.md §11.2) and registered with
  their true size and adler32 (:func:`~apps.ddm.services.registration.dataset_register_from_disk`);
* the global-share tree exists (dispatch orders jobs by share);

and then submits, through the ordinary :func:`~apps.jedi.services.submission.task_submit`, one task
per demo kind (single-core ``SCORE``, multi-core ``MCORE``) that has no task still in progress. From
there the Celery beat carries the task: TaskRefiner -> ContentsFeeder -> JobGenerator (brokerage
picks the queue that fits the task's cores) -> Setupper -> Harvester's pilots -> Adder -> feedback
-> PostProcessor -> ``done``.

Each task reads ``n_files`` of the input files, one per job (``nFilesPerJob``), and runs the demo
transformation ``run_demo.sh`` (installed under ``PANDA_TRF_DIR``, served as ``/trf/demo/run_demo.sh``)
with a Sim_tf.py-style command line; its HITS output and log go to new datasets of the task.
Tasks skip scouting (5-second payloads would look like broken scouts, jedi.md §7) and keep a
priority below the production brokerage's strict threshold, so a freshly loaded grid whose queues
never started a job can take them.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from apps.accounts.identity import identity_for_user
from apps.accounts.models import User
from apps.core.timeutil import utcnow
from apps.ddm.services.registration import Registration, dataset_register_from_disk
from apps.jedi.models import Task
from apps.jedi.services.submission import SubmitOutcome, task_submit
from apps.jedi.states import FINAL
from apps.jobs.services.demo import (
    DEMO_EVENTS,
    DEMO_PLATFORM,
    DEMO_RELEASE,
    DEMO_SCOPE,
    DEMO_SERVER_URL,
    DemoQueueMissing,
    demo_input_content,
    demo_replica_write,
    demo_storage_dir,
    demo_transformation_url,
    demo_trf_install,
)
from apps.shares.services.tree import ensure_default_shares
from apps.sites.models import PandaQueue
from apps.sites.services.demo_grid import PILOT_USERNAME

DEMO_PHYSICS = f"{DEMO_SCOPE}.801234.Py8EG_A14NNPDF23LO_Zee"
DEMO_INPUT_DATASET = f"{DEMO_SCOPE}:{DEMO_PHYSICS}.evgen.EVNT.e8514_tid30000002_00"
DEMO_INPUT_FILES = 20
DEMO_FILES_PER_TASK = 4
# Below the production brokerage's HIGH_PRIORITY (800): no "a job started here in the last 2 h" rule.
DEMO_TASK_PRIORITY = 500


@dataclass(frozen=True)
class DemoKind:
    """One kind of demo task: its name tag, the queue whose storage holds its inputs, and its cores."""

    name: str
    queue: str
    cores: int
    ram_per_core: int


DEMO_KINDS = (
    DemoKind("score", "DEMO_QUEUE", cores=1, ram_per_core=1500),
    DemoKind("mcore", "DEMO_QUEUE_MCORE", cores=8, ram_per_core=1500),
)


class DemoUserMissing(LookupError):
    def __init__(self):
        super().__init__(f"user {PILOT_USERNAME} does not exist; run `manage.py load_demo_grid` first")


@dataclass(frozen=True)
class DemoTaskRound:
    submitted: dict[str, SubmitOutcome]
    busy: dict[str, int]

    def summary(self) -> str:
        parts = [
            f"{kind}: jediTaskID={outcome.jeditaskid} submitted"
            if outcome.success
            else f"{kind}: refused ({outcome.code}: {outcome.message})"
            for kind, outcome in self.submitted.items()
        ]
        parts += [f"{kind}: jediTaskID={taskid} still in progress" for kind, taskid in self.busy.items()]
        return "; ".join(parts) or "nothing to do"


def demo_input_lfn(number: int) -> str:
    return f"EVNT.30000002._{number:06d}.pool.root.1"


def demo_input_dataset_ensure(*, storage_dir: Path, endpoint: str, n_files: int = DEMO_INPUT_FILES) -> Registration:
    """Write the demo input files on the endpoint and register them in DDM; a second call changes nothing."""
    paths = [
        demo_replica_write(
            storage_dir,
            scope=DEMO_SCOPE,
            lfn=demo_input_lfn(number),
            data=demo_input_content(scope=DEMO_SCOPE, lfn=demo_input_lfn(number)),
        )
        for number in range(1, n_files + 1)
    ]
    return dataset_register_from_disk(dataset=DEMO_INPUT_DATASET, paths=paths, endpoint=endpoint, nevents=DEMO_EVENTS)


def _read_endpoint(queue: PandaQueue) -> str:
    # The endpoint demo_storage_dir found the directory of (it raised if there was none).
    astorages = queue.astorages or {}
    return (astorages.get("pr") or astorages.get("read_lan") or astorages.get("default"))[0]


def demo_task_name_prefix(kind: DemoKind) -> str:
    return f"{DEMO_PHYSICS}.simul.e8514_s4162_{kind.name}"


def demo_task_params(
    kind: DemoKind,
    *,
    transformation: str,
    n_files: int = DEMO_FILES_PER_TASK,
    max_events: int = DEMO_EVENTS,
    tag: str | None = None,
) -> dict:
    """The parameter map of one demo task; ``tag`` (default: the time and a random suffix) makes it new."""
    tag = tag or f"{utcnow():%Y%m%d%H%M%S}{secrets.token_hex(2)}"
    name = f"{demo_task_name_prefix(kind)}.{tag}"
    datasets = f"{DEMO_PHYSICS}.simul.%s.e8514_s4162_{kind.name}{tag}"
    multithreaded = "True" if kind.cores > 1 else "False"
    return {
        "taskName": name,
        "vo": "atlas",
        "prodSourceLabel": "managed",
        "taskType": "prod",
        "taskPriority": DEMO_TASK_PRIORITY,
        "workingGroup": "AP_MCGN",
        "processingType": "simul",
        "campaign": "MC23a",
        # The demo grid's cloud: the JobGenerator brokers over its queues (no nucleus brokerage).
        "cloud": "WORLD",
        "transPath": transformation,
        "transHome": f"AtlasOffline-{DEMO_RELEASE}",
        "transUses": f"Atlas-{DEMO_RELEASE}",
        "architecture": DEMO_PLATFORM,
        "coreCount": kind.cores,
        "ramCount": kind.ram_per_core,
        "ramCountUnit": "MBPerCore",
        "walltime": 600,
        "nFilesPerJob": 1,
        "nFiles": n_files,
        "skipScout": True,
        "maxAttempt": 3,
        "jobParameters": [
            {
                "type": "template",
                "param_type": "input",
                "value": "--inputEVNTFile=${IN/L}",
                "dataset": DEMO_INPUT_DATASET,
                "expand": True,
            },
            {"type": "constant", "value": f"--maxEvents={max_events}"},
            {
                "type": "template",
                "param_type": "output",
                "value": "--outputHITSFile=HITS.$JEDITASKID._${SN/P}.pool.root.1",
                "dataset": f"{DEMO_SCOPE}:{datasets % 'HITS'}",
            },
            {
                "type": "constant",
                "value": "--physicsList=FTFP_BERT_ATL --truthStrategy=MC15aPlus --simulator=FullG4MT_QS "
                "--conditionsTag default:OFLCOND-MC23-SDR-RUN3-05 --geometryVersion=default:ATLAS-R3S-2021-03-02-00 "
                f"--runNumber=801234 --AMITag=s4162 --DBRelease=current --multithreaded={multithreaded}",
            },
            {"type": "constant", "value": "--randomSeed=${RNDMSEED}"},
        ],
        "log": {
            "type": "template",
            "param_type": "log",
            "dataset": f"{DEMO_SCOPE}:{datasets % 'log'}",
            "value": "log.$JEDITASKID._${SN/P}.job.log.tgz.1",
        },
    }


def demo_task_in_progress(kind: DemoKind) -> int | None:
    """The newest demo task of that kind that has not reached a final state, if any."""
    return (
        Task.objects.filter(taskname__startswith=f"{demo_task_name_prefix(kind)}.")
        .exclude(status__in=list(FINAL))
        .order_by("-jeditaskid")
        .values_list("jeditaskid", flat=True)
        .first()
    )


def demo_tasks_submit(
    *,
    kinds: Sequence[DemoKind] = DEMO_KINDS,
    n_files: int = DEMO_FILES_PER_TASK,
    max_events: int = DEMO_EVENTS,
    server_url: str = DEMO_SERVER_URL,
    transformation: str | None = None,
) -> DemoTaskRound:
    """One round: inputs and shares in place, then a new task for every kind with none in progress."""
    if not 1 <= n_files <= DEMO_INPUT_FILES:
        raise ValueError(f"n_files must be between 1 and {DEMO_INPUT_FILES}, got {n_files}")
    queues = {q.name: q for q in PandaQueue.objects.select_related("site").filter(name__in=[k.queue for k in kinds])}
    missing = sorted({k.queue for k in kinds} - set(queues))
    if missing:
        raise DemoQueueMissing(missing)
    user = User.objects.filter(username=PILOT_USERNAME).first()
    if user is None:
        raise DemoUserMissing()
    stores = {(demo_storage_dir(queue=queues[k.queue]), _read_endpoint(queues[k.queue])) for k in kinds}
    for storage_dir, endpoint in sorted(stores):
        demo_input_dataset_ensure(storage_dir=storage_dir, endpoint=endpoint)
    ensure_default_shares()
    if transformation is None:
        demo_trf_install()
        transformation = demo_transformation_url(server_url)
    identity = identity_for_user(user)
    submitted: dict[str, SubmitOutcome] = {}
    busy: dict[str, int] = {}
    for kind in kinds:
        taskid = demo_task_in_progress(kind)
        if taskid is not None:
            busy[kind.name] = taskid
            continue
        params = demo_task_params(kind, transformation=transformation, n_files=n_files, max_events=max_events)
        submitted[kind.name] = task_submit(identity, params)
    return DemoTaskRound(submitted=submitted, busy=busy)
