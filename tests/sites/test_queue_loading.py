import json

import pytest
from django.core.management import CommandError, call_command

from apps.sites.models import DOCUMENT_COLUMNS, PandaQueue, ResourceType, Site, StorageEndpoint
from apps.sites.selectors.documents import ddm_endpoints_document, queues_document_all
from apps.sites.services.queues import QueueDocumentError, queues_load
from apps.sites.services.resource_types import ResourceTypeError, resource_types_load
from apps.sites.services.storage_endpoints import StorageEndpointError, storage_endpoints_load
from tests.factories import PandaQueueFactory, SiteFactory, queue_document

pytestmark = pytest.mark.django_db


def endpoint_document(name: str, site: str, **overrides) -> dict:
    document = {
        "name": name,
        "site": site,
        "type": "DATADISK",
        "state": "ACTIVE",
        "is_deterministic": True,
        "rprotocols": {
            "1": {
                "id": 1,
                "endpoint": "file://localhost",
                "path": "/data/se",
                "flavour": "POSIX",
                "activities": [["read_lan", 1], ["write_lan", 1]],
            }
        },
    }
    document.update(overrides)
    return document


def write(tmp_path, payload, name="input.json"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def snapshot():
    return (
        list(Site.objects.order_by("name").values()),
        list(PandaQueue.objects.order_by("name").values()),
        list(StorageEndpoint.objects.order_by("name").values()),
        list(ResourceType.objects.order_by("name").values()),
    )


def test_it_creates_the_site_and_the_queue_with_the_document_stored_verbatim():
    document = queue_document("Q_ONE", "SITE_X", status="test", maxrss=8000, corecount=8, extra_field={"kept": [1, 2]})

    result = queues_load(documents={"Q_ONE": document})

    queue = PandaQueue.objects.get(name="Q_ONE")
    assert result.created == ["Q_ONE"] and result.updated == []
    assert queue.site.name == "SITE_X"
    assert queue.document == document
    assert (queue.status, queue.maxrss, queue.corecount, queue.type) == ("test", 8000, 8, "unified")


def test_the_site_falls_back_to_the_site_key_when_atlas_site_is_absent():
    document = queue_document("Q_TWO", "IGNORED")
    del document["atlas_site"]
    document["site"] = "CRIC_SITE"

    queues_load(documents={"Q_TWO": document})

    assert PandaQueue.objects.get(name="Q_TWO").site.name == "CRIC_SITE"


def test_loading_again_updates_the_queue_and_resets_columns_whose_key_was_removed():
    document = queue_document("Q_UPD", "SITE_U", catchall="setdebugmode", timefloor=30)
    queues_load(documents={"Q_UPD": document})
    changed = {key: value for key, value in document.items() if key not in ("catchall", "timefloor")}
    changed["atlas_site"] = changed["site"] = "SITE_V"

    result = queues_load(documents={"Q_UPD": changed})

    queue = PandaQueue.objects.get(name="Q_UPD")
    assert result.updated == ["Q_UPD"]
    assert (queue.catchall, queue.timefloor, queue.site.name) == ("", 0, "SITE_V")
    assert PandaQueue.objects.count() == 1


def test_the_site_takes_cloud_and_tier_from_the_queue_document():
    queues_load(documents={"Q_C": queue_document("Q_C", "SITE_C", cloud="DE", tier="T1")})

    site = Site.objects.get(name="SITE_C")
    assert (site.cloud, site.tier) == ("DE", "T1")


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([queue_document("Q", "S")], "must hold a JSON object"),
        ({}, "holds no queue"),
        ({"Q_BAD": "not an object"}, "must be a JSON object"),
        ({"Q_BAD": {k: v for k, v in queue_document("Q_BAD", "S").items() if k != "nickname"}}, "missing 'nickname'"),
        ({"Q_BAD": queue_document("OTHER", "S")}, "'nickname' is 'OTHER'"),
        (
            {"Q_BAD": {k: v for k, v in queue_document("Q_BAD", "S").items() if k not in ("site", "atlas_site")}},
            "missing 'atlas_site'",
        ),
        ({"Q_BAD": queue_document("Q_BAD", "S", status="sleeping")}, "'status' must be one of"),
        ({"Q_BAD": queue_document("Q_BAD", "S", type="special")}, "'type' must be one of"),
        ({"Q_BAD": queue_document("Q_BAD", "S", maxrss="4000")}, "'maxrss' must be an integer"),
        ({"Q_BAD": queue_document("Q_BAD", "S", corecount=1.5)}, "'corecount' must be an integer"),
        ({"Q_BAD": queue_document("Q_BAD", "S", maxtime=True)}, "'maxtime' must be an integer"),
        ({"Q_BAD": queue_document("Q_BAD", "S", maxinputsize="big")}, "'maxinputsize' must be a number"),
        ({"Q_BAD": queue_document("Q_BAD", "S", copytools=["mv"])}, "'copytools' must be an object"),
        ({"Q_BAD": queue_document("Q_BAD", "S", acopytools={"pr": "mv"})}, "'acopytools.pr' must be a list"),
        ({"Q_BAD": queue_document("Q_BAD", "S", allow_lan="yes")}, "'allow_lan' must be true or false"),
        ({"Q_BAD": queue_document("Q_BAD", "S", catchall=7)}, "'catchall' must be a string"),
        ({"Q_BAD": queue_document("Q_BAD", "S", catchall="x" * 1001)}, "'catchall' is longer than 1000"),
        ({"Q" * 129: queue_document("Q" * 129, "S")}, "longer than 128"),
    ],
)
def test_an_invalid_queue_file_is_refused_with_a_clear_error_and_nothing_changes(documents, message):
    PandaQueueFactory(name="EXISTING")
    before = snapshot()

    with pytest.raises(QueueDocumentError) as excinfo:
        queues_load(documents=documents)

    assert message in str(excinfo.value)
    assert snapshot() == before


def test_one_bad_queue_among_good_ones_stops_the_whole_load_and_every_error_is_listed():
    documents = {
        "Q_GOOD": queue_document("Q_GOOD", "S"),
        "Q_BAD1": queue_document("Q_BAD1", "S", status="nope"),
        "Q_BAD2": queue_document("Q_BAD2", "S", maxwdir="lots"),
    }

    with pytest.raises(QueueDocumentError) as excinfo:
        queues_load(documents=documents)

    assert len(excinfo.value.errors) == 2
    assert "Q_BAD1" in str(excinfo.value) and "Q_BAD2" in str(excinfo.value)
    assert not PandaQueue.objects.exists() and not Site.objects.exists()


def test_null_values_are_accepted_and_fall_back_to_the_column_defaults():
    queues_load(documents={"Q_N": queue_document("Q_N", "S", maxrss=None, catchall=None, status=None)})

    queue = PandaQueue.objects.get(name="Q_N")
    assert (queue.maxrss, queue.catchall, queue.status) == (0, "", "online")


def test_the_load_queues_command_loads_a_file_and_export_queues_writes_it_back(tmp_path, capsys):
    documents = {"Q_A": queue_document("Q_A", "S1"), "Q_B": queue_document("Q_B", "S2", corecount=8)}
    call_command("load_queues", str(write(tmp_path, documents)))
    assert "2 queue(s) created, 0 updated" in capsys.readouterr().out
    output = tmp_path / "export.json"

    call_command("export_queues", "--output", str(output))

    exported = json.loads(output.read_text())
    assert set(exported) == {"Q_A", "Q_B"}
    for name, document in documents.items():
        # Every stored key is exported as it was; only keys the document lacked are filled from the columns.
        assert {key: exported[name][key] for key in document} == document
        assert set(exported[name]) - set(document) <= set(DOCUMENT_COLUMNS)
    call_command("load_queues", str(output))
    assert "0 queue(s) created, 2 updated" in capsys.readouterr().out
    assert queues_document_all() == exported


def test_export_queues_prints_to_stdout_without_output(capsys):
    PandaQueueFactory(name="Q_OUT")

    call_command("export_queues")

    assert list(json.loads(capsys.readouterr().out)) == ["Q_OUT"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not valid JSON"), ('["a list"]', "must hold a JSON object"), (b"\xff\xfe", "not UTF-8")],
)
def test_the_load_queues_command_reports_a_bad_file_and_changes_nothing(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot()

    with pytest.raises(CommandError, match=message):
        call_command("load_queues", str(path))

    assert snapshot() == before


def test_the_load_queues_command_reports_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("load_queues", str(tmp_path / "absent.json"))


def test_storage_endpoints_are_loaded_with_their_site_and_protocols():
    document = endpoint_document("SITE_E_DATADISK", "SITE_E", is_tape=False, resource={"endpoint": "file://localhost"})

    result = storage_endpoints_load(documents={"SITE_E_DATADISK": document})

    endpoint = StorageEndpoint.objects.get(name="SITE_E_DATADISK")
    assert result.created == ["SITE_E_DATADISK"]
    assert endpoint.site.name == "SITE_E"
    assert endpoint.rprotocols == document["rprotocols"]
    assert (endpoint.type, endpoint.state, endpoint.is_deterministic) == ("DATADISK", "ACTIVE", True)


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([], "must hold a JSON object"),
        ({}, "holds no storage endpoint"),
        ({"RSE": []}, "must be a JSON object"),
        ({"RSE": endpoint_document("OTHER", "S")}, "'name' is 'OTHER'"),
        ({"RSE": {k: v for k, v in endpoint_document("RSE", "S").items() if k != "site"}}, "missing 'site'"),
        ({"RSE": endpoint_document("RSE", "S", is_deterministic="yes")}, "'is_deterministic' must be true or false"),
        ({"RSE": endpoint_document("RSE", "S", type=5)}, "'type' must be a string"),
        ({"RSE": endpoint_document("RSE", "S", rprotocols=[1])}, "'rprotocols' must be an object"),
        ({"RSE": endpoint_document("RSE", "S", rprotocols={"1": {"path": "/x"}})}, "needs a string 'endpoint'"),
        (
            {
                "RSE": endpoint_document(
                    "RSE", "S", rprotocols={"1": {"endpoint": "e", "path": "/", "activities": ["r"]}}
                )
            },
            "each activity must be",
        ),
        ({"RSE": endpoint_document("RSE", "S", arprotocols={"read_lan": {}})}, "'arprotocols' must be an object"),
        ({"RSE": endpoint_document("RSE", "S", resource="x")}, "'resource' must be an object"),
    ],
)
def test_an_invalid_storage_endpoint_file_is_refused_and_nothing_changes(documents, message):
    before = snapshot()

    with pytest.raises(StorageEndpointError) as excinfo:
        storage_endpoints_load(documents=documents)

    assert message in str(excinfo.value)
    assert snapshot() == before


def test_the_ddm_endpoint_commands_round_trip(tmp_path, capsys):
    documents = {"RSE_A": endpoint_document("RSE_A", "SITE_R")}
    call_command("load_ddm_endpoints", str(write(tmp_path, documents)))
    assert "1 storage endpoint(s) created" in capsys.readouterr().out

    call_command("export_ddm_endpoints")
    exported = json.loads(capsys.readouterr().out)

    assert exported == ddm_endpoints_document()
    assert exported["RSE_A"]["rprotocols"] == documents["RSE_A"]["rprotocols"]
    call_command("load_ddm_endpoints", str(write(tmp_path, exported, "again.json")))
    assert ddm_endpoints_document() == exported


def test_the_load_ddm_endpoints_command_refuses_a_bad_file(tmp_path):
    with pytest.raises(CommandError, match="missing 'site'"):
        call_command("load_ddm_endpoints", str(write(tmp_path, {"RSE": {"type": "DATADISK"}})))
    assert not StorageEndpoint.objects.exists()


def test_the_standard_resource_types_have_the_usual_panda_windows():
    resource_types_load()

    got = {rt.name: (rt.mincore, rt.maxcore, rt.minrampercore, rt.maxrampercore) for rt in ResourceType.objects.all()}
    assert got == {
        "SCORE": (1, 1, None, 2000),
        "MCORE": (2, None, None, 2000),
        "SCORE_HIMEM": (1, 1, 2001, None),
        "MCORE_HIMEM": (2, None, 2001, None),
    }


def test_resource_types_from_a_file_are_added_and_override_standard_ones(tmp_path, capsys):
    extra = [
        {"resource_name": "SCORE_LOMEM", "mincore": 1, "maxcore": 1, "minrampercore": None, "maxrampercore": 1000},
        {"resource_name": "MCORE", "mincore": 4, "maxcore": None, "minrampercore": None, "maxrampercore": 2000},
    ]

    call_command("load_resource_types", str(write(tmp_path, extra)))

    assert "5 resource type(s) created" in capsys.readouterr().out
    assert ResourceType.objects.get(name="MCORE").mincore == 4
    assert ResourceType.objects.get(name="SCORE_LOMEM").maxrampercore == 1000


def test_resource_types_may_be_given_as_an_object_keyed_by_name():
    resource_types_load(documents={"GPU": {"mincore": 1, "maxcore": None}})

    assert ResourceType.objects.filter(name="GPU", mincore=1).exists()


def test_load_resource_types_without_a_file_is_idempotent(capsys):
    call_command("load_resource_types")
    call_command("load_resource_types")

    assert "0 resource type(s) created, 4 updated" in capsys.readouterr().out
    assert ResourceType.objects.count() == 4


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ("SCORE", "must be a JSON list or object"),
        ([1], "every resource type must be an object"),
        ({"X": 1}, "must be an object"),
        ([{"mincore": 1}], "without a 'resource_name'"),
        ([{"resource_name": "X", "mincore": "one"}], "'mincore' must be a non-negative integer"),
        ([{"resource_name": "X", "mincore": 4, "maxcore": 2}], "'mincore' (4) is above 'maxcore' (2)"),
    ],
)
def test_invalid_resource_types_are_refused_and_nothing_changes(documents, message):
    SiteFactory()
    before = snapshot()

    with pytest.raises(ResourceTypeError) as excinfo:
        resource_types_load(documents=documents)

    assert message in str(excinfo.value)
    assert snapshot() == before
