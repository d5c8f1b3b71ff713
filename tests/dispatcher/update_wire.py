"""Request helpers for the pilot-update, status and job-command endpoint tests: one per encoding."""

import gzip
import json
from urllib.parse import parse_qs

from django.test import Client

from tests.factories import UserFactory, auth_header, pilot_user, production_user


def legacy(method: str) -> str:
    return f"/server/panda/{method}"


def v1(module_method: str) -> str:
    return f"/api/v1/{module_method}"


def as_production(**extra) -> dict:
    return {**auth_header(production_user()), **extra}


def as_pilot(**extra) -> dict:
    return {**auth_header(pilot_user()), **extra}


def as_plain_user(**extra) -> dict:
    return {**auth_header(UserFactory()), **extra}


def accept_json(headers: dict) -> dict:
    return {**headers, "HTTP_ACCEPT": "application/json"}


def post_gzip_json_legacy(url: str, params: dict, headers: dict):
    """Pilot 3.11: gzip-compressed JSON with ``Content-Type: application/json`` and no Content-Encoding."""
    body = gzip.compress(json.dumps(params).encode())
    return Client().generic("POST", url, body, content_type="application/json", **headers)


def post_gzip_json_v1(url: str, params: dict, headers: dict):
    body = gzip.compress(json.dumps(params).encode())
    return Client().generic("POST", url, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip", **headers)


def post_json(url: str, params, headers: dict):
    return Client().generic("POST", url, json.dumps(params), content_type="application/json", **headers)


def post_form(url: str, params: dict, headers: dict):
    """Form-urlencoded; list values become repeated keys."""
    return Client().post(url, params, **headers)


def post_urlencoded(url: str, params: dict, headers: dict):
    from urllib.parse import urlencode

    body = urlencode(params, doseq=True)
    return Client().generic("POST", url, body, content_type="application/x-www-form-urlencoded", **headers)


def get_query(url: str, params: dict, headers: dict):
    return Client().get(url, params, **headers)


def decode_urlencoded(response) -> dict:
    assert response["Content-Type"].startswith("text/plain"), response["Content-Type"]
    return {key: values[0] for key, values in parse_qs(response.content.decode(), keep_blank_values=True).items()}


def decode_json(response):
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return json.loads(response.content)
