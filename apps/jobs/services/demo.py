"""Demo work for the quick start: production jobs shaped like ATLAS simulation jobs that really run.

``manage.py demo_jobs`` runs :func:`demo_jobs_create` in a loop: jobs inserted directly, without a
task, so that the pilots Harvester starts on the demo queues always find something. (The quick start
now submits tasks instead, :mod:`apps.jedi.services.demo`, which reuses the storage and transformation
helpers of this module.) Every job is runnable end to end:

* its input files exist on the queue's storage endpoint (a POSIX directory, ``VAR_DIR/demo-se`` in
  the demo grid) at the deterministic path the pilot computes (protocol.md §11.2), and the JobFile
  rows carry their true size and adler32, so the pilot's stage-in and checksum checks pass;
* its transformation is ``<server>/trf/demo/run_demo.sh``, a small script installed under
  ``PANDA_TRF_DIR`` that accepts the Sim_tf.py command line, reads the inputs, "simulates" for a few
  seconds and writes the outputs named in the parameters;
* its outputs and log go to the queue's write endpoint, where the pilot stages them out; the Adder
  then finishes the job from the pilot's report.

Jobs are inserted in ``defined`` and moved to ``activated`` through the real transition, exactly as
the Setupper would.
"""

import hashlib
import os
import random
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.core.timeutil import utcnow
from apps.jobs.models import FileType, Job, JobFile, JobParameters
from apps.jobs.services.transitions import job_change_status, job_log_creation
from apps.jobs.states import JobStatus
from apps.sites.models import PandaQueue, StorageEndpoint

DEMO_QUEUES = ("DEMO_QUEUE", "DEMO_QUEUE_MCORE")
DEMO_SCOPE = "mc23_13p6TeV"
DEMO_TASK_NAME = "mc23_13p6TeV.801234.Py8EG_A14NNPDF23LO_Zee.simul.HITS.e8514_s4162"
DEMO_INPUT_DATASET = "mc23_13p6TeV.801234.Py8EG_A14NNPDF23LO_Zee.evgen.EVNT.e8514_tid30000001_00"
# The script under PANDA_TRF_DIR (served as /trf/<DEMO_TRF_PATH>) and its source in the repository.
DEMO_TRF_PATH = "demo/run_demo.sh"
DEMO_TRF_SOURCE = Path(__file__).resolve().parent.parent / "demo" / "run_demo.sh"
DEMO_SERVER_URL = "http://127.0.0.1:8000"
# run_demo.sh simulates 20 events a second: 100 events make a five-second payload.
DEMO_EVENTS = 100
DEMO_RELEASE = "23.0.20"
DEMO_PLATFORM = "x86_64-el9-gcc13-opt"
# One JEDI task per demo queue so the monitor groups them like real work.
DEMO_TASK_BASE = 30000100


class DemoQueueMissing(LookupError):
    def __init__(self, names: Sequence[str]):
        super().__init__(f"PanDA queue(s) {', '.join(names)} do not exist; run `manage.py load_demo_grid` first")
        self.names = list(names)


class DemoStorageMissing(LookupError):
    """The queue reads from no storage endpoint with a local POSIX directory, where inputs can be put."""

    def __init__(self, queue: str, detail: str):
        super().__init__(f"PanDA queue {queue}: {detail}; run `manage.py load_demo_grid` first")
        self.queue = queue


@dataclass(frozen=True)
class DemoRound:
    created: dict[str, list[int]]
    skipped: dict[str, int]

    def summary(self) -> str:
        parts = [f"{queue}: +{len(ids)}" for queue, ids in self.created.items()]
        parts += [f"{queue}: skipped ({waiting} activated waiting)" for queue, waiting in self.skipped.items()]
        return "; ".join(parts) or "nothing to do"


def demo_transformation_url(server_url: str = DEMO_SERVER_URL) -> str:
    """The URL pilots download the demo transformation from; it must start with the URL they were
    given (``--url``), their default allowed base URL (protocol.md §11.4)."""
    return f"{server_url.rstrip('/')}/trf/{DEMO_TRF_PATH}"


def demo_trf_install(*, trf_dir: Path | None = None) -> Path:
    """Put ``run_demo.sh`` under ``PANDA_TRF_DIR`` (mode 0755); rewritten only when it differs."""
    target = Path(trf_dir or settings.PANDA_TRF_DIR) / DEMO_TRF_PATH
    text = DEMO_TRF_SOURCE.read_bytes()
    if not (target.is_file() and target.read_bytes() == text):
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: gunicorn may be serving the file while the demo refreshes it.
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_bytes(text)
        os.replace(partial, target)
    if target.stat().st_mode & 0o777 != 0o755:
        target.chmod(0o755)
    return target


def demo_jobs_create(
    *,
    queues: Sequence[str] = DEMO_QUEUES,
    per_queue: int = 2,
    max_waiting: int = 20,
    server_url: str = DEMO_SERVER_URL,
    transformation: str | None = None,
    max_events: int = DEMO_EVENTS,
    rng: random.Random | None = None,
) -> DemoRound:
    """Add up to ``per_queue`` activated jobs to each queue, never more than ``max_waiting`` queued there.

    The transformation defaults to ``run_demo.sh`` on ``server_url`` (installed here if needed).
    """
    rng = rng or random.Random()
    found = {queue.name: queue for queue in PandaQueue.objects.select_related("site").filter(name__in=queues)}
    missing = [name for name in queues if name not in found]
    if missing:
        raise DemoQueueMissing(missing)
    storage = {name: demo_storage_dir(queue=found[name]) for name in queues}
    if transformation is None:
        demo_trf_install()
        transformation = demo_transformation_url(server_url)
    created: dict[str, list[int]] = {}
    skipped: dict[str, int] = {}
    for index, name in enumerate(queues):
        waiting = Job.objects.filter(computingsite=name, jobstatus=JobStatus.ACTIVATED).count()
        room = min(per_queue, max_waiting - waiting)
        if room <= 0:
            skipped[name] = waiting
            continue
        created[name] = [
            demo_job_create(
                queue=found[name],
                taskid=DEMO_TASK_BASE + index,
                transformation=transformation,
                storage_dir=storage[name],
                max_events=max_events,
                rng=rng,
            ).pandaid
            for _ in range(room)
        ]
    return DemoRound(created=created, skipped=skipped)


def demo_storage_dir(*, queue: PandaQueue) -> Path:
    """The local directory behind the endpoint the queue's pilots read inputs from (``read_lan``)."""
    astorages = queue.astorages or {}
    names = astorages.get("pr") or astorages.get("read_lan") or astorages.get("default") or []
    if not names:
        raise DemoStorageMissing(queue.name, "no read storage endpoint in astorages")
    endpoint = StorageEndpoint.objects.filter(name=names[0]).first()
    if endpoint is None:
        raise DemoStorageMissing(queue.name, f"storage endpoint {names[0]} does not exist")
    protocols = list((endpoint.arprotocols or {}).get("read_lan") or [])
    protocols += [
        protocol
        for protocol in (endpoint.rprotocols or {}).values()
        if isinstance(protocol, dict) and any(act[:1] == ["read_lan"] for act in protocol.get("activities") or [])
    ]
    for protocol in protocols:
        if str(protocol.get("endpoint", "")).startswith("file://") and str(protocol.get("path", "")).startswith("/"):
            return Path(protocol["path"])
    raise DemoStorageMissing(queue.name, f"storage endpoint {endpoint.name} has no file:// read_lan protocol")


def demo_replica_path(*, scope: str, lfn: str) -> str:
    """Where a deterministic endpoint keeps a file: ``<scope dirs>/<h[0:2]>/<h[2:4]>/<lfn>``, h = md5 of
    ``<scope>:<lfn>``, scope dirs = the scope with ``.`` -> ``/`` for user. and group. scopes (§11.2)."""
    digest = hashlib.md5(f"{scope}:{lfn}".encode()).hexdigest()  # noqa: S324 - a layout hash
    scope_dirs = scope.replace(".", "/") if scope.startswith(("user.", "group.")) else scope
    return f"{scope_dirs}/{digest[0:2]}/{digest[2:4]}/{lfn}"


def demo_input_content(*, scope: str, lfn: str) -> bytes:
    """The bytes of a demo input: a function of its name, so the same LFN is always the same file."""
    rng = random.Random(f"{scope}:{lfn}")
    return f"demo EVNT {scope}:{lfn}\n".encode() + rng.randbytes(rng.randint(4_000, 60_000))


def demo_replica_write(storage_dir: Path, *, scope: str, lfn: str, data: bytes) -> Path:
    """Put ``data`` where the pilot looks for ``scope:lfn`` on the endpoint (unchanged when already there)."""
    path = storage_dir / demo_replica_path(scope=scope, lfn=lfn)
    if path.is_file() and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, path)
    return path


def demo_job_create(
    *,
    queue: PandaQueue,
    taskid: int,
    transformation: str,
    storage_dir: Path,
    max_events: int = DEMO_EVENTS,
    rng: random.Random,
) -> Job:
    cores = max(queue.corecount or 1, 1)
    rse = _write_endpoint(queue)
    with transaction.atomic():
        job = Job.objects.create(
            jobstatus=JobStatus.DEFINED,
            jobname=f"{DEMO_TASK_NAME}_tid{taskid}._{uuid.uuid4()}",
            prodsourcelabel="managed",
            processingtype="simul",
            produsername="atlas-prod-demo",
            produserid="/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=atlpilo1/CN=Robot: ATLAS Pilot1",
            transformation=transformation,
            homepackage=f"AtlasOffline/{DEMO_RELEASE}",
            atlasrelease=f"Atlas-{DEMO_RELEASE}",
            cmtconfig=DEMO_PLATFORM,
            currentpriority=900,
            assignedpriority=900,
            attemptnr=1,
            maxattempt=3,
            jeditaskid=taskid,
            taskid=taskid,
            jobsetid=1,
            jobdefinitionid=1,
            lockedby="jedi",
            corecount=cores,
            resource_type="SCORE" if cores == 1 else "MCORE",
            minramcount=2000 * cores,
            minramunit="MB",
            maxdiskcount=5000,
            maxdiskunit="MB",
            maxcpucount=4 * 3600,
            maxwalltime=4 * 3600,
            computingsite=queue.name,
            cloud=queue.cloud or queue.site.cloud or None,
            destinationse=queue.name,
            vo="atlas",
            gshare="Test",
            workinggroup="AP_MCGN",
            nevents=max_events,
            creationhost="demo_jobs",
        )
        inputs = _input_files(job, storage_dir=storage_dir, rng=rng)
        outputs = _output_files(job, rse=rse)
        JobFile.objects.bulk_create(inputs + outputs)
        summary = {
            "ninputfiles": len(inputs),
            "ninputdatafiles": len(inputs),
            "inputfilebytes": sum(f.fsize for f in inputs),
            "noutputdatafiles": len(outputs) - 1,
            "proddblock": DEMO_INPUT_DATASET,
            "destinationdblock": outputs[0].destinationdblock,
        }
        for field, value in summary.items():
            setattr(job, field, value)
        job.save(update_fields=list(summary))
        parameters = _job_parameters(job, inputs, outputs, max_events=max_events, rng=rng)
        JobParameters.objects.create(job=job, jobparameters=parameters)
        job_log_creation([job], reason="demo_jobs: defined")
        job_change_status(job, new=JobStatus.ACTIVATED, reason="demo_jobs: inputs available")
    return job


def _write_endpoint(queue: PandaQueue) -> str:
    endpoints = (queue.astorages or {}).get("pw") or (queue.astorages or {}).get("default") or []
    return endpoints[0] if endpoints else "ATLASDATADISK"


def _input_files(job: Job, *, storage_dir: Path, rng: random.Random) -> list[JobFile]:
    """One or two EVNT files, placed on the storage endpoint before the job can be activated."""
    # One dispatch block per job, as the Setupper makes for the inputs it ships to a site.
    dispatch_block = f"panda.{job.jeditaskid}.{utcnow():%m.%d}.GEN.{uuid.uuid4()}_dis{job.pandaid}"
    files = []
    for _ in range(rng.randint(1, 2)):
        number = rng.randint(1, 5000)
        lfn = f"EVNT.30000001._{number:06d}.pool.root.1"
        if any(f.lfn == lfn for f in files):
            continue
        data = demo_input_content(scope=DEMO_SCOPE, lfn=lfn)
        demo_replica_write(storage_dir, scope=DEMO_SCOPE, lfn=lfn, data=data)
        files.append(
            JobFile(
                job=job,
                type=FileType.INPUT,
                lfn=lfn,
                scope=DEMO_SCOPE,
                dataset=f"{DEMO_SCOPE}:{DEMO_INPUT_DATASET}",
                proddblock=f"{DEMO_SCOPE}:{DEMO_INPUT_DATASET}",
                dispatchdblock=dispatch_block,
                guid=str(uuid.uuid5(uuid.NAMESPACE_URL, lfn)).upper(),
                fsize=len(data),
                checksum=f"ad:{zlib.adler32(data) & 0xFFFFFFFF:08x}",
                status="ready",
                jeditaskid=job.jeditaskid,
                attemptnr=1,
            )
        )
    return files


def _output_files(job: Job, *, rse: str) -> list[JobFile]:
    """The HITS output, then the log file (always last, protocol.md §5.6)."""
    sub = f"_sub{job.pandaid:010d}"
    common = {
        "job": job,
        "scope": DEMO_SCOPE,
        "destinationdblocktoken": f"ddd:{rse}",
        "destinationse": job.computingsite,
        "status": "unknown",
        "jeditaskid": job.jeditaskid,
    }
    hits = f"{DEMO_TASK_NAME}_tid{job.jeditaskid:08d}_00"
    log = f"{DEMO_TASK_NAME}.log.tid{job.jeditaskid:08d}_00"
    return [
        JobFile(
            type=FileType.OUTPUT,
            lfn=f"HITS.{job.jeditaskid}._{job.pandaid:06d}.pool.root.1",
            dataset=f"{DEMO_SCOPE}:{hits}",
            destinationdblock=f"{hits}{sub}",
            guid=str(uuid.uuid4()).upper(),
            **common,
        ),
        JobFile(
            type=FileType.LOG,
            lfn=f"log.{job.jeditaskid}._{job.pandaid:06d}.job.log.tgz.1",
            dataset=f"{DEMO_SCOPE}:{log}",
            destinationdblock=f"{log}{sub}",
            guid=str(uuid.uuid4()).upper(),
            **common,
        ),
    ]


def _job_parameters(
    job: Job, inputs: list[JobFile], outputs: list[JobFile], *, max_events: int, rng: random.Random
) -> str:
    """A Sim_tf.py command line of the usual size (about 1 kB); run_demo.sh reads the file options."""
    return " ".join(
        [
            f"--inputEVNTFile={','.join(f.lfn for f in inputs)}",
            f"--maxEvents={max_events}",
            "--postInclude default:PyJobTransforms.UseFrontier",
            "--preInclude EVNTtoHITS:Campaigns.MC23SimulationSingleIoV",
            f"--skipEvents={rng.randint(0, 9) * 100}",
            "--firstEvent=1",
            f"--outputHITSFile={outputs[0].lfn}",
            "--physicsList=FTFP_BERT_ATL",
            "--truthStrategy=MC15aPlus",
            "--simulator=FullG4MT_QS",
            "--postExec 'EVNTtoHITS:from AthenaCommon.AppMgr import ServiceMgr;"
            "ServiceMgr.MessageSvc.enableSuppression=False'",
            "--preExec 'EVNTtoHITS:simFlags.SimBarcodeOffset.set_Value_and_Lock(200000);"
            "simFlags.TRTRangeCut=30.0;simFlags.TightMuonStepping=True'",
            "--ignorePatterns 'ToolSvc.ISFG4.+ERROR\\s+ISF_to_G4Event.+article conversion failed'",
            "--conditionsTag default:OFLCOND-MC23-SDR-RUN3-05",
            "--geometryVersion=default:ATLAS-R3S-2021-03-02-00",
            "--runNumber=801234",
            "--AMITag=s4162",
            "--DataRunNumber=410000",
            "--DBRelease=current",
            f"--jobNumber={job.pandaid}",
            f"--randomSeed={rng.randint(1, 10**6)}",
            f"--multithreaded={'True' if (job.corecount or 1) > 1 else 'False'}",
            "--CA 'all:True'",
            "--imf=False",
        ]
    )
