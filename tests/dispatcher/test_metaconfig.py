import json

import pytest
from django.test import Client

from apps.sites.models import ResourceType
from apps.sites.services.resource_types import STANDARD_RESOURCE_TYPES, resource_types_load
from tests.dispatcher.update_wire import (
    accept_json,
    as_pilot,
    as_plain_user,
    as_production,
    decode_json,
    decode_urlencoded,
    get_query,
    legacy,
    post_form,
    post_gzip_json_legacy,
    post_gzip_json_v1,
    post_json,
    v1,
)
from tests.factories import PandaQueueFactory, queue_document

pytestmark = pytest.mark.django_db

EXPECTED = sorted(STANDARD_RESOURCE_TYPES, key=lambda rt: rt["resource_name"])


@pytest.fixture(autouse=True)
def resource_types():
    resource_types_load()


def legacy_request(encoding: str, headers: dict):
    url = legacy("getResourceTypes")
    if encoding == "gzip-json":
        return post_gzip_json_legacy(url, {}, headers)
    if encoding == "json":
        return post_json(url, {}, headers)
    if encoding == "form":
        return post_form(url, {}, headers)
    return get_query(url, {}, headers)


@pytest.mark.parametrize("encoding", ["gzip-json", "json", "form", "get"])
def test_legacy_get_resource_types_answers_json_when_accepted(encoding):
    response = legacy_request(encoding, accept_json(as_pilot()))

    assert response.status_code == 200
    assert decode_json(response) == {"StatusCode": 0, "Returns": 0, "ResourceTypes": EXPECTED}


@pytest.mark.parametrize("encoding", ["gzip-json", "json", "form", "get"])
def test_legacy_get_resource_types_answers_urlencoded_with_a_json_list_otherwise(encoding):
    response = legacy_request(encoding, as_plain_user())

    body = decode_urlencoded(response)
    assert (body["StatusCode"], body["Returns"]) == ("0", "0")
    assert json.loads(body["ResourceTypes"]) == EXPECTED


def test_legacy_get_resource_types_needs_an_authenticated_caller():
    response = Client().get(legacy("getResourceTypes"))

    assert response.status_code == 403
    assert response.content.startswith(b"ERROR : ")


def test_legacy_get_resource_types_lists_nothing_when_none_are_loaded():
    ResourceType.objects.all().delete()

    response = Client().get(legacy("getResourceTypes"), **accept_json(as_pilot()))

    assert decode_json(response)["ResourceTypes"] == []


@pytest.mark.parametrize("prefix", ["/api/v1", "/api/latest"])
def test_v1_get_resource_types_answers_the_list_in_the_envelope(prefix):
    response = Client().get(f"{prefix}/metaconfig/get_resource_types", **as_plain_user())

    assert response.status_code == 200
    assert decode_json(response) == {"success": True, "message": "", "data": EXPECTED}


@pytest.mark.parametrize("send", [post_json, post_gzip_json_v1, post_form])
def test_v1_get_resource_types_refuses_other_methods_than_get(send):
    response = send(v1("metaconfig/get_resource_types"), {}, as_production())

    body = decode_json(response)
    assert body["success"] is False
    assert body["message"].startswith("expecting GET")


def test_v1_get_resource_types_refuses_unknown_parameters():
    response = Client().get(v1("metaconfig/get_resource_types"), {"bogus": "1"}, **as_plain_user())

    assert decode_json(response)["message"].startswith("Argument error: unexpected keyword argument(s) bogus")


def test_v1_get_resource_types_needs_an_authenticated_caller():
    response = Client().get(v1("metaconfig/get_resource_types"))

    assert response.status_code == 403


def test_v1_get_resource_types_refuses_an_invalid_token():
    response = Client().get(v1("metaconfig/get_resource_types"), HTTP_AUTHORIZATION="Bearer nonsense")

    assert response.status_code == 403
    assert b"Token authentication failed" in response.content


@pytest.fixture
def queues():
    for name, queue_type in (("Q_ANA", "analysis"), ("Q_PROD", "production"), ("Q_UNI", "unified")):
        PandaQueueFactory(name=name, document=queue_document(name, "SITE", type=queue_type))


def test_v1_get_site_specs_lists_analysis_queues_by_default(queues):
    response = Client().get(v1("metaconfig/get_site_specs"), **as_plain_user())

    body = decode_json(response)
    assert body["success"] is True
    assert list(body["data"]) == ["Q_ANA"]
    assert body["data"]["Q_ANA"]["type"] == "analysis"


@pytest.mark.parametrize(("queue_type", "expected"), [("all", ["Q_ANA", "Q_PROD", "Q_UNI"]), ("unified", ["Q_UNI"])])
def test_v1_get_site_specs_filters_by_the_type_given_in_the_query(queues, queue_type, expected):
    response = Client().get(v1("metaconfig/get_site_specs"), {"type": queue_type}, **as_plain_user())

    assert sorted(decode_json(response)["data"]) == expected


def test_v1_get_site_specs_needs_an_authenticated_caller(queues):
    assert Client().get(v1("metaconfig/get_site_specs")).status_code == 403
