import pytest

from pilot.errors import PilotError
from pilot.jobcontrol.jobspec import Job, parse_checksum


def definition(**overrides):
    d = {
        "StatusCode": 0,
        "PandaID": 4242,
        "taskID": 17,
        "jobsetID": 3,
        "attemptNr": 2,
        "transformation": "run.sh",
        "jobPars": "--in=a",
        "coreCount": "8",
        "minRamCount": "2000",
        "maxWalltime": "NULL",
        "prodSourceLabel": "user",
        "inFiles": "EVNT.1,NULL,EVNT.2",
        "GUID": "G1,NULL,G2",
        "fsize": "100,NULL,200",
        "checksum": "ad:0000abcd,NULL,md5:0123456789abcdef0123456789abcdef",
        "scopeIn": "mc23,NULL,mc23",
        "realDatasetsIn": "ds1,NULL,ds1",
        "prodDBlockToken": "NULL,NULL,local",
        "ddmEndPointIn": "SE_A,,SE_B",
        "outFiles": "HITS.1,log.1.tgz",
        "realDatasets": "out_ds,log_ds",
        "destinationDblock": "o_sub,l_sub",
        "destinationDBlockToken": "dst:SE_W,NULL",
        "ddmEndPointOut": "SE_W,SE_W",
        "scopeOut": "mc23",
        "scopeLog": "mc23_log",
        "logFile": "log.1.tgz",
        "logGUID": "LOGGUID",
        "allowNoOutput": "HITS.1",
    }
    d.update(overrides)
    return d


def test_it_parses_the_job_dictionary():
    job = Job.from_definition(definition())
    assert job.jobid == "4242"
    assert job.taskid == "17"
    assert job.attemptnr == 2
    assert job.corecount == 8
    assert job.minramcount == 2000
    assert job.maxwalltime == 0
    assert job.is_analysis


def test_null_input_entries_are_ignored_and_the_other_columns_stay_aligned():
    job = Job.from_definition(definition())
    assert [f.lfn for f in job.indata] == ["EVNT.1", "EVNT.2"]
    second = job.indata[1]
    assert (second.guid, second.filesize, second.scope, second.ddmendpoint, second.storage_token) == (
        "G2",
        200,
        "mc23",
        "SE_B",
        "local",
    )
    assert second.checksum == {"md5": "0123456789abcdef0123456789abcdef"}
    assert job.indata[0].checksum == {"adler32": "0000abcd"}


def test_scope_log_is_inserted_at_the_position_of_the_log_in_the_output_list():
    job = Job.from_definition(
        definition(
            outFiles="log.1.tgz,HITS.1",
            realDatasets="log_ds,out_ds",
            destinationDblock="l,o",
            destinationDBlockToken="NULL,NULL",
            ddmEndPointOut="SE_W,SE_W",
        )
    )
    assert [(f.lfn, f.scope) for f in job.outdata] == [("HITS.1", "mc23")]
    assert [(f.lfn, f.scope, f.guid) for f in job.logdata] == [("log.1.tgz", "mc23_log", "LOGGUID")]


def test_outputs_get_a_generated_guid_and_the_allow_missing_flag():
    job = Job.from_definition(definition())
    assert len(job.outdata[0].guid) == 36
    assert job.outdata[0].allow_missing
    assert job.outdata[0].ddmendpoint == "SE_W"


def test_columns_of_different_length_are_refused_with_notsamelength():
    with pytest.raises(PilotError) as caught:
        Job.from_definition(definition(GUID="G1,G2"))
    assert caught.value.code == 1312


def test_a_definition_without_panda_id_is_refused():
    with pytest.raises(PilotError):
        Job.from_definition(definition(PandaID="NULL"))


def test_loopingcheck_false_and_debug_flags_are_read():
    job = Job.from_definition(definition(loopingCheck=False, debug="True"))
    assert job.looping_check is False
    assert job.debug is True


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("ad:0A1B2C3D", {"adler32": "0a1b2c3d"}),
        ("md5:ABC", {"md5": "abc"}),
        ("1234abcd", {"adler32": "1234abcd"}),
        ("NULL", {}),
        ("", {}),
    ],
)
def test_it_parses_checksums(raw, parsed):
    assert parse_checksum(raw) == parsed


def test_only_the_first_pilot_error_is_reported():
    job = Job.from_definition(definition())
    job.add_error(1331, "EVNT.1")
    job.add_error(1137)
    job.add_error(1331, "again")
    assert job.piloterrorcode == 1331
    assert job.piloterrordiag == "Input file is missing in storage element: EVNT.1"
    assert job.piloterrorcodes == [1331, 1137]
