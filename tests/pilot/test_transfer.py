import functools
import hashlib
import http.server
import os
import tarfile
import threading
from pathlib import Path

import pytest

from pilot.datacontrol.checksum import adler32, md5
from pilot.datacontrol.copytools.mv import OUTPUT_LIST
from pilot.datacontrol.logtarball import create_log_tarball
from pilot.datacontrol.transfer import Transfers, output_report
from pilot.errors import PilotError
from pilot.info.queuedata import QueueData
from pilot.info.storage import StorageData, deterministic_path
from pilot.jobcontrol.jobspec import Job
from tests.pilot.support import adler32_of, job_definition, place_in_storage, queue_doc, storage_doc


def make_transfers(tmp_path, definition, *, copytool="posix", queue_overrides=None, stop=lambda: False):
    se = tmp_path / "se"
    home = tmp_path / "home"
    job = Job.from_definition(definition)
    job.workdir = str(home / f"PanDA_Pilot-{job.jobid}")
    os.makedirs(job.workdir)
    queuedata = QueueData.from_document(queue_doc(copytool=copytool, **(queue_overrides or {})), "TEST_QUEUE")
    transfers = Transfers(
        job=job, queuedata=queuedata, storage=StorageData(storage_doc(se)), pilot_home=str(home), should_stop=stop
    )
    return transfers, job, se, home


def test_adler32_and_md5_match_the_reference_values(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"Wikipedia")
    assert adler32(str(path)) == "11e60398"
    assert md5(str(path)) == hashlib.md5(b"Wikipedia").hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert adler32(str(tmp_path / "empty")) == "00000001"


def test_posix_stage_in_copies_from_the_deterministic_layout_and_verifies(tmp_path):
    data = b"input data\n"
    transfers, job, se, _ = make_transfers(tmp_path, job_definition(inputs={"EVNT.1": data}))
    place_in_storage(se, "mc23", "EVNT.1", data)
    transfers.stage_in()
    local = os.path.join(job.workdir, "EVNT.1")
    assert Path(local).read_bytes() == data
    assert not os.path.islink(local)
    assert job.indata[0].status == "transferred"
    assert job.indata[0].surl == f"file://localhost{se}/{deterministic_path('mc23', 'EVNT.1')}"


def test_posix_stage_in_can_symlink(tmp_path):
    data = b"x"
    transfers, job, se, _ = make_transfers(
        tmp_path, job_definition(inputs={"EVNT.1": data}), queue_overrides={"copytools": {"posix": {"symlink": True}}}
    )
    place_in_storage(se, "mc23", "EVNT.1", data)
    transfers.stage_in()
    assert os.path.islink(os.path.join(job.workdir, "EVNT.1"))


def test_a_missing_input_is_error_1331(tmp_path):
    transfers, job, _, _ = make_transfers(tmp_path, job_definition(inputs={"EVNT.1": b"x"}))
    with pytest.raises(PilotError) as caught:
        transfers.stage_in()
    assert caught.value.code == 1331
    assert job.indata[0].status == "failed"


def test_a_checksum_mismatch_is_error_1171_and_the_bad_copy_is_removed(tmp_path):
    transfers, job, se, _ = make_transfers(tmp_path, job_definition(inputs={"EVNT.1": b"good"}))
    place_in_storage(se, "mc23", "EVNT.1", b"evil")
    with pytest.raises(PilotError) as caught:
        transfers.stage_in()
    assert caught.value.code == 1171
    assert not os.path.exists(os.path.join(job.workdir, "EVNT.1"))


def test_a_size_mismatch_is_a_stage_in_failure(tmp_path):
    transfers, _, se, _ = make_transfers(tmp_path, job_definition(inputs={"EVNT.1": b"good"}))
    place_in_storage(se, "mc23", "EVNT.1", b"longer data")
    with pytest.raises(PilotError) as caught:
        transfers.stage_in()
    assert caught.value.code == 1099


def test_an_md5_checksum_is_verified_too(tmp_path):
    definition = job_definition(inputs={"EVNT.1": b"data"}, checksum="md5:" + "0" * 32)
    transfers, _, se, _ = make_transfers(tmp_path, definition)
    place_in_storage(se, "mc23", "EVNT.1", b"data")
    with pytest.raises(PilotError) as caught:
        transfers.stage_in()
    assert caught.value.code == 1145


def test_stage_in_stops_when_the_job_is_being_killed(tmp_path):
    from pilot.datacontrol.transfer import TransferAborted

    transfers, _, _, _ = make_transfers(tmp_path, job_definition(inputs={"EVNT.1": b"x"}), stop=lambda: True)
    with pytest.raises(TransferAborted):
        transfers.stage_in()


def test_posix_stage_out_writes_the_deterministic_path_and_records_size_and_adler32(tmp_path):
    transfers, job, se, _ = make_transfers(tmp_path, job_definition(outputs=("HITS.1",)))
    with open(os.path.join(job.workdir, "HITS.1"), "wb") as out:
        out.write(b"output bytes")
    transfers.stage_out(job.outdata, kind="output")
    spec = job.outdata[0]
    assert spec.status == "transferred"
    assert spec.filesize == 12
    assert spec.adler32 == adler32_of(b"output bytes")
    assert spec.endpoint == "TEST_DISK"
    assert (se / deterministic_path("mc23", "HITS.1")).read_bytes() == b"output bytes"
    report = output_report(job)
    assert report == {
        "HITS.1": {"guid": spec.guid, "fsize": 12, "adler32": spec.adler32, "surl": spec.surl, "endpoint": "TEST_DISK"}
    }


def test_a_missing_output_is_error_1165_unless_it_may_be_missing(tmp_path):
    transfers, job, _, _ = make_transfers(tmp_path, job_definition(outputs=("HITS.1",)))
    with pytest.raises(PilotError) as caught:
        transfers.stage_out(job.outdata, kind="output")
    assert caught.value.code == 1165
    transfers, job, _, _ = make_transfers(tmp_path / "b", job_definition(outputs=("HITS.1",), allowNoOutput="HITS.1"))
    transfers.stage_out(job.outdata, kind="output")
    assert job.outdata[0].status == "missing"
    assert output_report(job) == {}


def test_mv_links_inputs_from_pilot_home_and_leaves_outputs_there_with_output_list(tmp_path):
    data = b"pre-placed"
    transfers, job, se, home = make_transfers(
        tmp_path, job_definition(inputs={"EVNT.1": data}, outputs=("HITS.1",)), copytool="mv"
    )
    (home / "EVNT.1").write_bytes(data)
    transfers.stage_in()
    assert os.path.islink(os.path.join(job.workdir, "EVNT.1"))
    with open(os.path.join(job.workdir, "HITS.1"), "wb") as out:
        out.write(b"result")
    transfers.stage_out(job.outdata, kind="output")
    assert (home / "HITS.1").read_bytes() == b"result"
    assert not os.path.exists(os.path.join(job.workdir, "HITS.1"))
    surl = f"file://localhost{se}/{deterministic_path('mc23', 'HITS.1')}"
    assert (home / OUTPUT_LIST).read_text() == (
        f"HITS.1 {surl}:checksumtype=adler32:checksumvalue={adler32_of(b'result')}\n"
    )
    assert output_report(job)["HITS.1"]["surl"] == surl


def test_an_unknown_copytool_is_error_1323(tmp_path):
    transfers, _, _, _ = make_transfers(tmp_path, job_definition(inputs={"EVNT.1": b"x"}), copytool="rucio")
    with pytest.raises(PilotError) as caught:
        transfers.stage_in()
    assert caught.value.code == 1323


def test_the_http_copytool_downloads_from_an_https_or_http_endpoint(tmp_path):
    data = b"served over http"
    root = tmp_path / "www"
    place_in_storage(root, "mc23", "EVNT.1", data)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        transfers, job, _, _ = make_transfers(tmp_path, job_definition(inputs={"EVNT.1": data}), copytool="http")
        transfers.storage = StorageData(
            {
                "TEST_DISK": {
                    "name": "TEST_DISK",
                    "arprotocols": {
                        "read_lan": [{"endpoint": f"http://127.0.0.1:{server.server_address[1]}", "path": "/"}]
                    },
                }
            }
        )
        transfers.stage_in()
        assert Path(job.workdir, "EVNT.1").read_bytes() == data
        transfers, job, _, _ = make_transfers(tmp_path / "b", job_definition(inputs={"EVNT.2": data}), copytool="http")
        transfers.storage = StorageData(
            {
                "TEST_DISK": {
                    "name": "TEST_DISK",
                    "arprotocols": {
                        "read_lan": [{"endpoint": f"http://127.0.0.1:{server.server_address[1]}", "path": "/"}]
                    },
                }
            }
        )
        with pytest.raises(PilotError) as caught:
            transfers.stage_in()
        assert caught.value.code == 1331
    finally:
        server.shutdown()


def test_the_log_tarball_holds_the_pilot_log_and_payload_output_but_no_data_files(tmp_path):
    job = Job.from_definition(job_definition(inputs={"EVNT.1": b"x"}, outputs=("HITS.1",)))
    job.workdir = str(tmp_path / "job")
    os.makedirs(job.workdir)
    for name, text in (
        ("payload.stdout", "out"),
        ("payload.stderr", "err"),
        ("EVNT.1", "in"),
        ("HITS.1", "o"),
        ("jobReport.json", "{}"),
    ):
        with open(os.path.join(job.workdir, name), "w") as handle:
            handle.write(text)
    pilot_log = tmp_path / "pilotlog.txt"
    pilot_log.write_text("log line")
    path = create_log_tarball(job=job, queue="TEST_QUEUE", pilot_log=str(pilot_log))
    assert os.path.basename(path) == "log.1001.job.log.tgz.1"
    with tarfile.open(path) as tar:
        names = sorted(tar.getnames())
        top = "tarball_PandaJob_1001_TEST_QUEUE"
        assert names == [
            f"{top}/jobReport.json",
            f"{top}/payload.stderr",
            f"{top}/payload.stdout",
            f"{top}/pilotlog.txt",
        ]
        assert tar.extractfile(f"{top}/pilotlog.txt").read() == b"log line"
