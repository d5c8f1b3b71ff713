import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.sites.models import PandaQueue
from apps.sites.selectors.documents import (
    arprotocols_from_rprotocols,
    ddm_endpoints_document,
    queue_document,
    queue_document_by_name,
    queue_document_cric,
    queues_document_all,
    queues_document_by_type,
)
from apps.sites.selectors.resource_types import resource_type_for_job, resource_types_list
from apps.sites.services.resource_types import resource_types_load
from tests.factories import PandaQueueFactory, SiteFactory, StorageEndpointFactory
from tests.factories import queue_document as make_document

pytestmark = pytest.mark.django_db


def test_the_queue_document_is_the_stored_document_unchanged():
    queue = PandaQueueFactory(name="Q_VERBATIM")
    stored = dict(queue.document, custom={"anything": [1, "two"]}, maxrss=12345)
    queue.document = stored
    queue.save()

    document = queue_document(PandaQueue.objects.get(name="Q_VERBATIM"))

    assert {key: document[key] for key in stored} == stored


def test_a_queue_with_an_empty_document_still_has_every_key_the_pilot_needs():
    site = SiteFactory(name="EMPTY_SITE")
    queue = PandaQueue.objects.create(name="Q_EMPTY", site=site, document={}, maxrss=3000, corecount=4)

    document = queue_document(queue)

    assert document["nickname"] == document["panda_resource"] == "Q_EMPTY"
    assert document["atlas_site"] == document["site"] == "EMPTY_SITE"
    assert (document["status"], document["state"], document["type"]) == ("online", "ACTIVE", "unified")
    assert (document["maxrss"], document["corecount"], document["copytools"]) == (3000, 4, {})


def test_null_values_in_the_stored_document_are_filled_from_the_columns():
    queue = PandaQueueFactory(name="Q_NULLS")
    queue.document = dict(queue.document, maxtime=None, panda_resource="")
    queue.save()

    stored = PandaQueue.objects.get(name="Q_NULLS")
    document = queue_document(stored)

    assert document["maxtime"] == stored.maxtime
    assert document["panda_resource"] == "Q_NULLS"


def test_an_unknown_queue_has_no_document():
    assert queue_document_by_name("NO_SUCH_QUEUE") is None
    assert queue_document_cric("NO_SUCH_QUEUE") is None


def test_the_cric_form_wraps_the_document_in_an_object_keyed_by_the_queue():
    PandaQueueFactory(name="Q_CRIC")

    assert queue_document_cric("Q_CRIC") == {"Q_CRIC": queue_document_by_name("Q_CRIC")}


def test_the_all_queues_document_reads_every_queue_in_two_queries_whatever_their_number():
    for index in range(5):
        PandaQueueFactory(name=f"Q_ALL_{index}")

    with CaptureQueriesContext(connection) as queries:
        document = queues_document_all()

    assert sorted(document) == [f"Q_ALL_{index}" for index in range(5)]
    assert len(queries) == 1


def test_site_specs_select_queues_by_type_or_all():
    PandaQueueFactory(name="Q_ANA", document=make_document("Q_ANA", "S", type="analysis"))
    PandaQueueFactory(name="Q_PROD", document=make_document("Q_PROD", "S", type="production"))
    PandaQueueFactory(name="Q_UNI", document=make_document("Q_UNI", "S", type="unified"))

    assert list(queues_document_by_type("analysis")) == ["Q_ANA"]
    assert list(queues_document_by_type("production")) == ["Q_PROD"]
    assert sorted(queues_document_by_type("all")) == ["Q_ANA", "Q_PROD", "Q_UNI"]
    assert queues_document_by_type("nonsense") == {}


def test_the_ddm_endpoints_document_has_the_pilot_fields_and_derives_arprotocols():
    endpoint = StorageEndpointFactory(name="SITE_D_DATADISK", site=SiteFactory(name="SITE_D"))

    document = ddm_endpoints_document()["SITE_D_DATADISK"]

    protocol = endpoint.rprotocols["1"]
    assert document["name"] == "SITE_D_DATADISK" and document["site"] == "SITE_D"
    assert (document["type"], document["state"], document["is_deterministic"]) == ("DATADISK", "ACTIVE", True)
    assert document["rprotocols"] == endpoint.rprotocols
    assert document["arprotocols"] == {
        activity: [protocol] for activity in ("read_lan", "write_lan", "read_wan", "write_wan")
    }
    assert document["resource"] == {"endpoint": "file://localhost"}


def test_stored_arprotocols_and_resource_are_served_as_they_are():
    StorageEndpointFactory(
        name="SITE_S_DATADISK", arprotocols={"read_wan": [{"endpoint": "davs://x"}]}, resource={"endpoint": "s3://y"}
    )

    document = ddm_endpoints_document()["SITE_S_DATADISK"]

    assert document["arprotocols"] == {"read_wan": [{"endpoint": "davs://x"}]}
    assert document["resource"] == {"endpoint": "s3://y"}


def test_derived_arprotocols_order_protocols_by_activity_priority():
    rprotocols = {
        "7": {"endpoint": "root://b", "path": "/", "activities": [["read_wan", 2], ["read_lan", 1]]},
        "3": {"endpoint": "davs://a", "path": "/", "activities": [["read_wan", 1]]},
    }

    derived = arprotocols_from_rprotocols(rprotocols)

    assert [p["endpoint"] for p in derived["read_wan"]] == ["davs://a", "root://b"]
    assert [p["endpoint"] for p in derived["read_lan"]] == ["root://b"]


def test_an_endpoint_without_protocols_has_empty_protocol_maps():
    StorageEndpointFactory(name="SITE_N_DATADISK", rprotocols={})

    document = ddm_endpoints_document()["SITE_N_DATADISK"]

    assert (document["rprotocols"], document["arprotocols"], document["resource"]) == ({}, {}, {})


def test_resource_types_are_listed_with_their_wire_keys():
    resource_types_load()

    listed = {entry["resource_name"]: entry for entry in resource_types_list()}

    assert listed["MCORE_HIMEM"] == {
        "resource_name": "MCORE_HIMEM",
        "mincore": 2,
        "maxcore": None,
        "minrampercore": 2001,
        "maxrampercore": None,
    }


@pytest.mark.parametrize(
    ("corecount", "minramcount", "expected"),
    [
        (1, 2000, "SCORE"),
        (None, 0, "SCORE"),
        (0, 1500, "SCORE"),
        (1, 4000, "SCORE_HIMEM"),
        (8, 16000, "MCORE"),
        (8, 32000, "MCORE_HIMEM"),
        (2, 4002, "MCORE_HIMEM"),
    ],
)
def test_a_job_falls_into_the_resource_type_whose_windows_hold_it(corecount, minramcount, expected):
    resource_types_load()

    assert resource_type_for_job(corecount=corecount, minramcount=minramcount) == expected


def test_no_resource_type_matches_when_none_are_defined():
    assert resource_type_for_job(corecount=1, minramcount=1000) is None
