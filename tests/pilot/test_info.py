import json

import pytest

from pilot.errors import PilotError
from pilot.info.queuedata import QueueData, load_queuedata
from pilot.info.storage import StorageData, deterministic_path, load_storagedata, local_path

QUEUE = {
    "nickname": "TEST_QUEUE",
    "panda_resource": "TEST_RES",
    "atlas_site": "TEST_SITE",
    "state": "ACTIVE",
    "status": "online",
    "copytools": {"mv": {"setup": ""}},
    "acopytools": {"pr": ["mv"]},
    "astorages": {"pr": ["TEST_DISK"]},
    "maxwdir": 10000,
    "maxrss": 4000,
    "maxtime": 86400,
    "timefloor": 5,
    "corecount": 8,
    "catchall": "curlgetjob,setdebugmode jobChunkSize=3",
    "cmtconfig": "x86_64-el9",
}


def test_it_maps_queuedata_fields_like_pilot_3():
    qd = QueueData.from_document(QUEUE, "TEST_QUEUE")
    assert (qd.name, qd.resource, qd.site, qd.platform) == ("TEST_QUEUE", "TEST_RES", "TEST_SITE", "x86_64-el9")
    assert qd.timefloor == 300
    assert qd.corecount == 8
    assert qd.pilot_rss_grace == 2.0
    assert qd.catchall_flag("setdebugmode")
    assert qd.catchall_flag("jobChunkSize")
    assert not qd.catchall_flag("debug")


def test_a_cric_wrapped_document_is_accepted():
    assert QueueData.from_document({"TEST_QUEUE": QUEUE}, "TEST_QUEUE").resource == "TEST_RES"


@pytest.mark.parametrize(("overrides", "code"), [({"state": "DISABLED"}, 1359), ({"status": "offline"}, 1386)])
def test_a_queue_that_cannot_run_jobs_is_refused(overrides, code):
    with pytest.raises(PilotError) as caught:
        QueueData.from_document({**QUEUE, **overrides}, "TEST_QUEUE").validate()
    assert caught.value.code == code


def test_an_error_document_is_not_ok():
    with pytest.raises(PilotError) as caught:
        QueueData.from_document({"error": "no such queue"}, "X")
    assert caught.value.code == 1117


def test_local_queuedata_wins_and_the_schedconfig_overlay_is_merged(tmp_path, monkeypatch):
    monkeypatch.delenv("LOCAL_AGIS_SCHEDCONF", raising=False)
    (tmp_path / "queuedata.json").write_text(json.dumps(QUEUE))
    (tmp_path / "cric_pandaqueues.json").write_text(json.dumps({"TEST_QUEUE": {"maxrss": 8000}}))
    qd = load_queuedata(queue="TEST_QUEUE", pilot_home=str(tmp_path), url=str(tmp_path / "nowhere.json"))
    assert qd.maxrss == 8000
    assert qd.resource == "TEST_RES"


def test_the_queuedata_url_may_be_a_file_path_with_the_queue_substituted(tmp_path):
    (tmp_path / "TEST_QUEUE.all.json").write_text(json.dumps(QUEUE))
    home = tmp_path / "home"
    home.mkdir()
    qd = load_queuedata(queue="TEST_QUEUE", pilot_home=str(home), url=str(tmp_path / "{pandaqueue}.all.json"))
    assert qd.name == "TEST_QUEUE"


def test_no_queuedata_is_error_1116(tmp_path):
    with pytest.raises(PilotError) as caught:
        load_queuedata(queue="Q", pilot_home=str(tmp_path), url="http://127.0.0.1:9/{pandaqueue}.json")
    assert caught.value.code == 1116


def test_the_deterministic_path_uses_the_md5_of_scope_and_lfn():
    # md5("mc23:EVNT.pool.root.1")
    import hashlib

    digest = hashlib.md5(b"mc23:EVNT.pool.root.1").hexdigest()
    assert deterministic_path("mc23", "EVNT.pool.root.1") == f"mc23/{digest[:2]}/{digest[2:4]}/EVNT.pool.root.1"
    assert deterministic_path("user.jdoe", "f").startswith("user/jdoe/")
    assert deterministic_path("group.phys", "f").startswith("group/phys/")


ENDPOINTS = {
    "SE_A": {
        "name": "SE_A",
        "is_deterministic": True,
        "rprotocols": {
            "1": {
                "endpoint": "file://localhost",
                "path": "/data/se",
                "flavour": "POSIX",
                "id": 1,
                "activities": [["read_lan", 1], ["write_lan", 1]],
            }
        },
    },
    "SE_B": {
        "name": "SE_B",
        "arprotocols": {"read_lan": [{"endpoint": "https://se.example.org:443", "path": "/dav/"}]},
    },
    "SE_ND": {"name": "SE_ND", "is_deterministic": False},
}


def test_it_builds_surls_from_the_endpoint_protocols():
    storage = StorageData(ENDPOINTS)
    surl, protocol = storage.get("SE_A").surl(scope="mc23", lfn="f1", activity="write_lan")
    assert surl == "file://localhost/data/se/" + deterministic_path("mc23", "f1")
    assert protocol.scheme == "file"
    surl, _ = storage.get("SE_B").surl(scope="mc23", lfn="f1", activity="read_lan")
    assert surl == "https://se.example.org:443/dav/" + deterministic_path("mc23", "f1")


def test_unknown_nondeterministic_and_protocol_less_endpoints_fail_with_their_codes():
    storage = StorageData(ENDPOINTS)
    with pytest.raises(PilotError) as caught:
        storage.get("NOPE")
    assert caught.value.code == 1133
    with pytest.raises(PilotError) as caught:
        storage.get("SE_ND").surl(scope="s", lfn="f", activity="read_lan")
    assert caught.value.code == 1329
    with pytest.raises(PilotError) as caught:
        storage.get("SE_B").surl(scope="s", lfn="f", activity="write_lan")
    assert caught.value.code == 1313


def test_local_paths_of_file_surls():
    assert local_path("file://localhost/data/se/x") == "/data/se/x"
    assert local_path("file:///data/se/x") == "/data/se/x"


def test_storage_data_loads_from_a_file_and_missing_data_is_not_fatal(tmp_path):
    (tmp_path / "ddm.json").write_text(json.dumps(ENDPOINTS))
    assert set(load_storagedata(pilot_home=str(tmp_path), url=str(tmp_path / "ddm.json")).endpoints) == set(ENDPOINTS)
    assert load_storagedata(pilot_home=str(tmp_path), url="").endpoints == {}
