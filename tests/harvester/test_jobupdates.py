import json

from harvester import messenger
from harvester.jobupdates import output_report, update_from_attributes, worker_lost_update


def test_the_pilots_attributes_become_a_v1_update():
    attributes = {
        "jobId": "12",
        "state": "running",
        "jobStatus": "running",
        "attemptNr": 2,
        "pilotErrorCode": 0,
        "cpuConsumptionTime": 5,
        "metaData": "",
        "unknownKey": 1,
        "node": "wn1",
    }

    assert update_from_attributes(12, attributes) == {
        "job_id": 12,
        "job_status": "running",
        "attempt_nr": 2,
        "pilot_error_code": 0,
        "cpu_consumption_time": 5,
        "node": "wn1",
    }


def test_attributes_without_a_known_state_give_no_update():
    assert update_from_attributes(12, {"jobStatus": "exploding"}) is None


def test_the_output_report_lists_what_the_pilot_transferred_with_the_jobs_endpoints():
    job = {"outFiles": "HITS.1,log.1", "ddmEndPointOut": "SITE_DATADISK,SITE_LOGDISK"}
    staged = [
        {"path": "/se/mc23/ab/cd/HITS.1", "type": "output", "guid": "G1", "fsize": 10, "chksum": "0a0b0c0d"},
        {"path": "/se/mc23/ef/01/log.1", "type": "log", "guid": "G2", "fsize": 20, "chksum": "md5:" + "0" * 32},
    ]

    assert output_report(job, staged) == {
        "HITS.1": {
            "guid": "G1",
            "fsize": 10,
            "adler32": "0a0b0c0d",
            "surl": "file:///se/mc23/ab/cd/HITS.1",
            "endpoint": "SITE_DATADISK",
        },
        "log.1": {
            "guid": "G2",
            "fsize": 20,
            "md5sum": "0" * 32,
            "surl": "file:///se/mc23/ef/01/log.1",
            "endpoint": "SITE_LOGDISK",
        },
    }


def test_a_job_whose_worker_ended_silently_is_failed_with_the_workers_story():
    update = worker_lost_update(5, 1, worker_status="missed", diag="node rebooted", exit_code=137)
    assert update == {
        "job_id": 5,
        "job_status": "failed",
        "attempt_nr": 1,
        "job_sub_status": "missed",
        "pilot_error_diag": "worker missed without a final job state: node rebooted",
        "pilot_error_code": 1200,
    }


def test_the_messenger_files_round_trip(tmp_path):
    ap = str(tmp_path / "ap")
    messenger.feed_jobs_shared_fs(
        ap, [{"PandaID": 7, "jobPars": "x"}], queuedata={"nickname": "Q"}, storagedata={"SE": {}}
    )
    assert json.loads((tmp_path / "ap" / "HPCJobs.json").read_text()) == {"7": {"PandaID": 7, "jobPars": "x"}}
    assert json.loads((tmp_path / "ap" / "worker_pandaids.json").read_text()) == [7]
    assert json.loads((tmp_path / "ap" / "queuedata.json").read_text()) == {"nickname": "Q"}

    assert messenger.work_attributes(ap) is None and messenger.files_to_stage_out(ap) is None
    (tmp_path / "ap" / "worker_attributes.json").write_text('{"jobStatus": "running"')  # half written
    assert messenger.work_attributes(ap) is None
    (tmp_path / "ap" / "event_status.dump.json").write_text('{"7": [{"path": "/x"}]}')
    messenger.acknowledge_stage_out(ap)
    assert messenger.files_to_stage_out(ap) == {"7": [{"path": "/x"}]}  # read again from the .read file
    assert not messenger.kill_requested(ap)
    (tmp_path / "ap" / "kill_worker").touch()
    assert messenger.kill_requested(ap)
