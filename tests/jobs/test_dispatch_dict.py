import base64
import json

import pytest

from apps.jobs.models import FileType, Job, JobFile
from apps.jobs.selectors.dispatch_dict import job_dispatch_dict
from tests.factories import JobFactory, PandaQueueFactory, job_with_files, queue_document

JOB_KEYS = {
    "StatusCode", "PandaID", "jobDefinitionID", "jobName", "jobsetID", "reqID", "attemptNr", "currentPriority",
    "prodSourceLabel", "processingType", "cloud", "nucleus", "prodUserID", "sourceSite", "transferType",
    "destinationSE", "resource_type", "taskID", "swRelease", "homepackage", "transformation", "cmtConfig",
    "jobPars", "coreCount", "minRamCount", "maxDiskCount", "maxCpuCount", "maxWalltime",
    "scopeOut", "logFile", "logGUID", "scopeLog", "ioIntensity", "ioIntensityUnit",
}  # fmt: skip
INPUT_LISTS = [
    "inFiles", "dispatchDblock", "dispatchDBlockToken", "prodDBlocks", "prodDBlockToken", "GUID",
    "realDatasetsIn", "fsize", "checksum", "scopeIn", "ddmEndPointIn",
]  # fmt: skip
OUTPUT_LISTS = [
    "outFiles", "destinationDblock", "destinationDBlockToken", "realDatasets", "fileDestinationSE",
    "dispatchDBlockTokenForOut", "ddmEndPointOut",
]  # fmt: skip
MINIMUM_KEYS = {
    "StatusCode", "PandaID", "jobPars", "transformation", "homepackage", "swRelease", "cmtConfig",
    "prodSourceLabel", "attemptNr", "taskID", "jobsetID", "jobDefinitionID", "jobName", "coreCount",
    "minRamCount", "maxDiskCount", "maxWalltime", "maxCpuCount", "inFiles", "GUID", "fsize", "checksum",
    "scopeIn", "realDatasetsIn", "prodDBlockToken", "ddmEndPointIn", "outFiles", "realDatasets", "scopeOut",
    "scopeLog", "logFile", "logGUID", "ddmEndPointOut", "destinationDblock", "destinationDBlockToken",
    "processingType", "transferType",
}  # fmt: skip
OPTIONAL_KEYS = {
    "debug", "loopingCheck", "eventService", "prodDBlockTokenForOutput", "cloneJob", "eventServiceMerge",
    "writeToFile", "allowNoOutput", "altStageOut", "putLogToOS", "noExecStrCnv", "inFilePosEvtNum",
    "usePrefetcher", "isHPO", "useVP", "onSiteMerging", "container_name",
}  # fmt: skip


@pytest.fixture
def queue(db):
    return PandaQueueFactory(name="QUEUE_A", site__name="SITE_A")


def dict_for(job: Job, queue=None, parameters: str | None = None) -> dict:
    job = Job.objects.get(pk=job.pk)
    files = list(JobFile.objects.filter(job=job).order_by("row_id"))
    if parameters is None:
        parameters = job.params.jobparameters if hasattr(job, "params") else ""
    return job_dispatch_dict(job=job, files=files, job_parameters=parameters, queue=queue)


def add_file(job: Job, **fields) -> JobFile:
    fields.setdefault("type", FileType.INPUT)
    return JobFile.objects.create(job=job, **fields)


@pytest.mark.django_db
def test_it_has_every_key_of_the_spec_and_no_optional_key_without_its_condition(queue):
    data = dict_for(job_with_files(), queue)

    assert set(data) == JOB_KEYS | set(INPUT_LISTS) | set(OUTPUT_LISTS)
    assert set(data) >= MINIMUM_KEYS
    assert not OPTIONAL_KEYS & set(data)


@pytest.mark.django_db
def test_job_attributes_are_copied_and_unset_scalars_are_null(queue):
    job = job_with_files(reqid=None, cloud=None, nucleus=None, maxwalltime=None, processingtype="reprocessing")

    data = dict_for(job, queue)

    assert data["StatusCode"] == 0
    assert data["PandaID"] == job.pandaid
    assert data["swRelease"] == "Atlas-22.0"
    assert data["homepackage"] == "AtlasOffline/22.0"
    assert data["cmtConfig"] == "x86_64-el9-gcc13-opt"
    assert data["processingType"] == "reprocessing"
    assert data["attemptNr"] == 1
    assert data["currentPriority"] == 1000
    assert (data["reqID"], data["cloud"], data["nucleus"], data["maxWalltime"]) == ("NULL",) * 4
    assert data["transferType"] == "NULL"
    assert data["ioIntensity"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(("lockedby", "expected"), [("jedi", 555), (None, 7), ("other", 7)])
def test_task_id_is_the_jedi_task_id_for_jedi_jobs(lockedby, expected):
    job = JobFactory(lockedby=lockedby, jeditaskid=555, taskid=7)

    assert dict_for(job)["taskID"] == expected


@pytest.mark.django_db
def test_task_id_is_null_when_a_non_jedi_job_has_none():
    assert dict_for(JobFactory(lockedby=None, taskid=None))["taskID"] == "NULL"


@pytest.mark.django_db
@pytest.mark.parametrize(("corecount", "expected"), [(None, 1), (8, 8)])
def test_core_count_defaults_to_one(corecount, expected):
    assert dict_for(JobFactory(corecount=corecount))["coreCount"] == expected


@pytest.mark.django_db
def test_every_per_file_list_has_one_slot_per_file_in_the_same_order(queue):
    job = job_with_files(n_inputs=3, n_outputs=2)

    data = dict_for(job, queue)

    inputs = list(JobFile.objects.filter(job=job, type="input").order_by("row_id"))
    assert data["inFiles"].split(",") == [f.lfn for f in inputs]
    assert data["GUID"].split(",") == [f.guid for f in inputs]
    assert data["fsize"].split(",") == ["1000", "1001", "1002"]
    assert data["checksum"].split(",") == ["ad:00000000", "ad:00000001", "ad:00000002"]
    for key in INPUT_LISTS:
        assert len(data[key].split(",")) == 3, key
    for key in OUTPUT_LISTS:
        assert len(data[key].split(",")) == 3, key
    assert len(data["scopeOut"].split(",")) == 2


@pytest.mark.django_db
def test_the_log_is_last_in_out_files_and_only_in_scope_log(queue):
    job = JobFactory()
    add_file(job, type=FileType.LOG, lfn="job.log.tgz", scope="logscope", guid="LOG-GUID", dataset="ds.log")
    add_file(job, type=FileType.OUTPUT, lfn="out1.root", scope="outscope", dataset="ds.out")
    add_file(job, type=FileType.OUTPUT, lfn="out2.root", scope="outscope", dataset="ds.out")

    data = dict_for(job, queue)

    assert data["outFiles"] == "out1.root,out2.root,job.log.tgz"
    assert data["realDatasets"] == "ds.out,ds.out,ds.log"
    assert data["scopeOut"] == "outscope,outscope"
    assert (data["logFile"], data["logGUID"], data["scopeLog"]) == ("job.log.tgz", "LOG-GUID", "logscope")


@pytest.mark.django_db
def test_an_empty_group_gives_empty_strings(queue):
    data = dict_for(JobFactory(), queue)

    for key in [*INPUT_LISTS, *OUTPUT_LISTS, "scopeOut", "logFile", "logGUID", "scopeLog"]:
        assert data[key] == "", key


@pytest.mark.django_db
def test_a_missing_per_file_value_is_null_in_its_slot(queue):
    job = JobFactory()
    add_file(job, lfn="a.root", guid="G1", dataset="ds", scope="s", proddblock="pd", checksum="ad:0000000a")
    add_file(job, lfn="b.root", guid=None, dataset=None, scope=None, proddblock=None, checksum=None)

    data = dict_for(job, queue)

    assert data["GUID"] == "G1,NULL"
    assert data["realDatasetsIn"] == "ds,NULL"
    assert data["scopeIn"] == "s,NULL"
    assert data["prodDBlocks"] == "pd,NULL"
    assert data["dispatchDblock"] == "NULL,NULL"
    assert data["checksum"] == "ad:0000000a,NULL"


@pytest.mark.django_db
def test_duplicate_input_lfns_are_dropped_keeping_the_first(queue):
    job = JobFactory()
    add_file(job, lfn="a.root", guid="G1", fsize=1)
    add_file(job, lfn="b.root", guid="G2", fsize=2)
    add_file(job, lfn="a.root", guid="G3", fsize=3)

    data = dict_for(job, queue)

    assert data["inFiles"] == "a.root,b.root"
    assert data["GUID"] == "G1,G2"
    assert data["fsize"] == "1,2"


@pytest.mark.django_db
def test_checksums_are_prefixed_and_fall_back_to_the_md5_column():
    job = JobFactory()
    add_file(job, lfn="a", checksum="ad:12345678")
    add_file(job, lfn="b", checksum="0a0b0c0d")
    add_file(job, lfn="c", checksum=None, md5sum="0123456789abcdef0123456789abcdef")
    add_file(job, lfn="d", checksum="md5:0123456789abcdef0123456789abcdef")

    assert dict_for(job)["checksum"].split(",") == [
        "ad:12345678",
        "ad:0a0b0c0d",
        "md5:0123456789abcdef0123456789abcdef",
        "md5:0123456789abcdef0123456789abcdef",
    ]


@pytest.mark.django_db
def test_destination_token_keeps_the_first_element_and_turns_ddd_into_dst(queue):
    job = JobFactory()
    add_file(job, type=FileType.OUTPUT, lfn="o1", destinationdblocktoken="ddd:ATLASDATADISK,ddd:OTHER")
    add_file(job, type=FileType.OUTPUT, lfn="o2", destinationdblocktoken="ATLASSCRATCHDISK")
    add_file(job, type=FileType.LOG, lfn="log", destinationdblocktoken=None)

    assert dict_for(job, queue)["destinationDBlockToken"] == "dst:ATLASDATADISK,ATLASSCRATCHDISK,NULL"


@pytest.mark.django_db
def test_ddm_endpoints_default_to_the_queue_storage_per_activity(db):
    astorages = {"pr": ["SITE_READ"], "pw": ["SITE_WRITE"], "pl": ["SITE_LOG"]}
    queue = PandaQueueFactory(name="QUEUE_A", document=queue_document("QUEUE_A", "SITE_A", astorages=astorages))
    job = job_with_files(n_inputs=2, n_outputs=2)

    data = dict_for(job, queue)

    assert data["ddmEndPointIn"] == "SITE_READ,SITE_READ"
    assert data["ddmEndPointOut"] == "SITE_WRITE,SITE_WRITE,SITE_LOG"


@pytest.mark.django_db
def test_ddm_endpoints_follow_a_dst_token_naming_an_associated_endpoint_or_a_space_token(db):
    astorages = {"pr": ["SITE_READ"], "pw": ["SITE_WRITE"], "pl": ["SITE_LOG"], "write_wan": ["SITE_TAPE"]}
    document = queue_document("QUEUE_A", "SITE_A", astorages=astorages, setokens={"ATLASSCRATCHDISK": "SITE_SCRATCH"})
    queue = PandaQueueFactory(name="QUEUE_A", document=document)
    job = JobFactory()
    add_file(job, lfn="in1", dispatchdblocktoken="dst:SITE_TAPE")
    add_file(job, lfn="in2", dispatchdblocktoken="dst:NOT_HERE")
    add_file(job, type=FileType.OUTPUT, lfn="o1", destinationdblocktoken="ddd:SITE_TAPE")
    add_file(job, type=FileType.OUTPUT, lfn="o2", destinationdblocktoken="ATLASSCRATCHDISK")
    add_file(job, type=FileType.OUTPUT, lfn="o3", destinationdblocktoken="dst:ELSEWHERE")
    add_file(job, type=FileType.LOG, lfn="log", destinationdblocktoken="dst:SITE_WRITE")

    data = dict_for(job, queue)

    assert data["ddmEndPointIn"] == "SITE_TAPE,SITE_READ"
    assert data["ddmEndPointOut"] == "SITE_TAPE,SITE_SCRATCH,SITE_WRITE,SITE_WRITE"


@pytest.mark.django_db
def test_ddm_endpoints_are_empty_without_a_queue_or_storage(db):
    queue = PandaQueueFactory(name="QUEUE_A", document=queue_document("QUEUE_A", "SITE_A", astorages={}))
    job = job_with_files(n_inputs=2, n_outputs=1)

    for data in (dict_for(job, queue), dict_for(job, None)):
        assert data["ddmEndPointIn"] == ","
        assert data["ddmEndPointOut"] == ","


@pytest.mark.django_db
def test_job_parameters_are_base64_encoded_for_ej():
    job = JobFactory(specialhandling="sj,ej")

    data = dict_for(job, parameters="--name=Jürgen 'quoted' $X")

    assert base64.b64decode(data["jobPars"]).decode() == "--name=Jürgen 'quoted' $X"


@pytest.mark.django_db
def test_job_parameters_are_sent_verbatim_otherwise():
    assert dict_for(JobFactory(), parameters="--a=1 --b='x y'")["jobPars"] == "--a=1 --b='x y'"


@pytest.mark.django_db
@pytest.mark.parametrize(("cmtconfig", "expected"), [(None, ""), ("x86_64-el9", "x86_64-el9")])
def test_multi_step_definitions_become_keys_and_leave_the_parameters(cmtconfig, expected):
    steps = {"preprocess": {"command": "prep.sh", "args": "-x"}, "postprocess": {"command": "post.sh", "args": ""}}
    job = JobFactory(cmtconfig=cmtconfig)

    data = dict_for(job, parameters=f"run.sh --in=a<MULTI_STEP_EXEC>{json.dumps(steps)}</MULTI_STEP_EXEC>")

    assert data["jobPars"] == "run.sh --in=a"
    assert data["preprocess"] == steps["preprocess"]
    assert data["postprocess"] == steps["postprocess"]
    assert data["cmtConfig"] == expected


@pytest.mark.django_db
def test_special_handling_flags_add_their_optional_keys():
    job = JobFactory(specialhandling="dm,lc,ao:nucleus,po,nc,if,up,ho,om", container_name="docker://centos:9")

    data = dict_for(job)

    assert data["debug"] == "True"
    assert data["loopingCheck"] is False
    assert data["altStageOut"] == "nucleus"
    assert data["container_name"] == "docker://centos:9"
    for key in ("putLogToOS", "noExecStrCnv", "inFilePosEvtNum", "usePrefetcher", "isHPO", "onSiteMerging"):
        assert data[key] == "True", key


@pytest.mark.django_db
def test_write_to_file_lists_the_inputs_per_dataset_without_scope_or_trailing_slash():
    job = JobFactory(specialhandling="wf")
    add_file(job, lfn="a1", dataset="mc23:mc23.A/")
    add_file(job, lfn="b1", dataset="mc23:mc23.B")
    add_file(job, lfn="a2", dataset="mc23:mc23.A/")

    assert dict_for(job)["writeToFile"] == "tmpin_mc23.A:a1,a2^tmpin_mc23.B:b1"


@pytest.mark.django_db
def test_outputs_flagged_an_are_allowed_to_be_missing():
    job = JobFactory()
    add_file(job, type=FileType.OUTPUT, lfn="maybe.root", dispatchdblocktoken="an")
    add_file(job, type=FileType.OUTPUT, lfn="must.root")
    add_file(job, type=FileType.LOG, lfn="log")

    assert dict_for(job)["allowNoOutput"] == "maybe.root"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("eventservice", "specialhandling", "expected"),
    [
        (1, "", {"eventService": "True", "prodDBlockTokenForOutput": "tok,NULL"}),
        (4, "", {"eventService": "True", "prodDBlockTokenForOutput": "tok,NULL"}),
        (6, "", {"eventService": "True"}),
        (2, "", {"eventServiceMerge": "True"}),
        (3, "sc:1", {"cloneJob": "runonce"}),
        (3, "sc:2", {"cloneJob": "storeonce"}),
    ],
)
def test_event_service_and_cloning_jobs_are_flagged(eventservice, specialhandling, expected):
    job = JobFactory(eventservice=eventservice, specialhandling=specialhandling)
    add_file(job, type=FileType.OUTPUT, lfn="o", proddblocktoken="tok")
    add_file(job, type=FileType.LOG, lfn="log")

    data = dict_for(job)

    assert {key: data[key] for key in OPTIONAL_KEYS & set(data)} == expected
