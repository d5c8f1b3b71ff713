"""Demo work for the quick start: production jobs shaped like ATLAS simulation jobs.

Until Harvester and JEDI generate work, the quick start runs :func:`demo_jobs_create` in a loop so
a pilot pointed at the demo queues always finds something. Jobs are inserted in ``defined`` and
moved to ``activated`` through the real transition, exactly as the Setupper would.
"""

import random
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from apps.core.timeutil import utcnow
from apps.jobs.models import FileType, Job, JobFile, JobParameters
from apps.jobs.services.transitions import job_change_status, job_log_creation
from apps.jobs.states import JobStatus
from apps.sites.models import PandaQueue

DEMO_QUEUES = ("DEMO_QUEUE", "DEMO_QUEUE_MCORE")
DEMO_SCOPE = "mc23_13p6TeV"
DEMO_TASK_NAME = "mc23_13p6TeV.801234.Py8EG_A14NNPDF23LO_Zee.simul.HITS.e8514_s4162"
DEMO_INPUT_DATASET = "mc23_13p6TeV.801234.Py8EG_A14NNPDF23LO_Zee.evgen.EVNT.e8514_tid30000001_00"
DEMO_TRANSFORMATION = "Sim_tf.py"
DEMO_RELEASE = "23.0.20"
DEMO_PLATFORM = "x86_64-el9-gcc13-opt"
# One JEDI task per demo queue so the monitor groups them like real work.
DEMO_TASK_BASE = 30000100


class DemoQueueMissing(LookupError):
    def __init__(self, names: Sequence[str]):
        super().__init__(f"PanDA queue(s) {', '.join(names)} do not exist; run `manage.py load_demo_grid` first")
        self.names = list(names)


@dataclass(frozen=True)
class DemoRound:
    created: dict[str, list[int]]
    skipped: dict[str, int]

    def summary(self) -> str:
        parts = [f"{queue}: +{len(ids)}" for queue, ids in self.created.items()]
        parts += [f"{queue}: skipped ({waiting} activated waiting)" for queue, waiting in self.skipped.items()]
        return "; ".join(parts) or "nothing to do"


def demo_jobs_create(
    *,
    queues: Sequence[str] = DEMO_QUEUES,
    per_queue: int = 2,
    max_waiting: int = 20,
    transformation: str = DEMO_TRANSFORMATION,
    rng: random.Random | None = None,
) -> DemoRound:
    """Add up to ``per_queue`` activated jobs to each queue, never more than ``max_waiting`` queued there."""
    rng = rng or random.Random()
    found = {queue.name: queue for queue in PandaQueue.objects.select_related("site").filter(name__in=queues)}
    missing = [name for name in queues if name not in found]
    if missing:
        raise DemoQueueMissing(missing)
    created: dict[str, list[int]] = {}
    skipped: dict[str, int] = {}
    for index, name in enumerate(queues):
        waiting = Job.objects.filter(computingsite=name, jobstatus=JobStatus.ACTIVATED).count()
        room = min(per_queue, max_waiting - waiting)
        if room <= 0:
            skipped[name] = waiting
            continue
        queue = found[name]
        created[name] = [
            demo_job_create(queue=queue, taskid=DEMO_TASK_BASE + index, transformation=transformation, rng=rng).pandaid
            for _ in range(room)
        ]
    return DemoRound(created=created, skipped=skipped)


def demo_job_create(*, queue: PandaQueue, taskid: int, transformation: str, rng: random.Random) -> Job:
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
            nevents=100,
            creationhost="demo_jobs",
        )
        inputs = _input_files(job, rng=rng)
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
        JobParameters.objects.create(job=job, jobparameters=_job_parameters(job, inputs, outputs, rng=rng))
        job_log_creation([job], reason="demo_jobs: defined")
        job_change_status(job, new=JobStatus.ACTIVATED, reason="demo_jobs: inputs available")
    return job


def _write_endpoint(queue: PandaQueue) -> str:
    endpoints = (queue.astorages or {}).get("pw") or (queue.astorages or {}).get("default") or []
    return endpoints[0] if endpoints else "ATLASDATADISK"


def _input_files(job: Job, *, rng: random.Random) -> list[JobFile]:
    # One dispatch block per job, as the Setupper makes for the inputs it ships to a site.
    dispatch_block = f"panda.{job.jeditaskid}.{utcnow():%m.%d}.GEN.{uuid.uuid4()}_dis{job.pandaid}"
    files = []
    for _ in range(rng.randint(1, 2)):
        number = rng.randint(1, 5000)
        lfn = f"EVNT.30000001._{number:06d}.pool.root.1"
        if any(f.lfn == lfn for f in files):
            continue
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
                fsize=rng.randint(50, 400) * 1_000_000,
                checksum=f"ad:{zlib.adler32(lfn.encode()):08x}",
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


def _job_parameters(job: Job, inputs: list[JobFile], outputs: list[JobFile], *, rng: random.Random) -> str:
    """A Sim_tf.py command line of the usual size (about 1 kB)."""
    return " ".join(
        [
            f"--inputEVNTFile={','.join(f.lfn for f in inputs)}",
            "--maxEvents=100",
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
