"""Response encoding for both API generations (protocol.md §3)."""

import datetime as dt
import json
import re
from decimal import Decimal
from urllib.parse import quote_plus

from django.http import HttpResponse


def _legacy_text_value(value) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_json_default_plain)
    return str(value)


def _json_default_plain(value):
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def wants_json(request) -> bool:
    return "application/json" in request.META.get("HTTP_ACCEPT", "")


def legacy_dict(request, payload: dict) -> HttpResponse:
    """JSON when the client accepts it, else ``key=value&...`` with ``str()`` values."""
    if wants_json(request):
        return HttpResponse(json.dumps(payload, default=_json_default_plain), content_type="application/json")
    return legacy_urlencoded(payload)


_URL_SAFE = re.compile(r"[A-Za-z0-9_.\-~]*")


def _quote(text: str) -> str:
    # Most values (numbers, names, NULL) need no escaping; quote_plus is the slow part of a job dict.
    return text if _URL_SAFE.fullmatch(text) else quote_plus(text)


def legacy_urlencoded(payload: dict) -> HttpResponse:
    """``urlencode`` of ``str()`` values (JSON for lists/dicts), byte-identical to ``urllib.parse.urlencode``."""
    body = "&".join(f"{_quote(str(key))}={_quote(_legacy_text_value(value))}" for key, value in payload.items())
    return HttpResponse(body, content_type="text/plain")


def legacy_text(text: str) -> HttpResponse:
    return HttpResponse(text, content_type="text/plain")


def legacy_bool(value: bool) -> HttpResponse:
    return legacy_text("True" if value else "False")


def legacy_json(value) -> HttpResponse:
    return HttpResponse(json.dumps(value, default=_json_default_plain), content_type="application/json")


def error_text(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")


def forbidden_method(method: str) -> HttpResponse:
    return error_text(403, f"ERROR : method {method} is forbidden")


class V1Encoder(json.JSONEncoder):
    """Datetimes as ``{"__datetime__": iso}`` (panda-client's object hook); Decimals as numbers."""

    def default(self, value):
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        return super().default(value)

    def encode(self, value):
        return super().encode(_tag_datetimes(value))


def _tag_datetimes(value):
    if isinstance(value, dt.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dict):
        return {key: _tag_datetimes(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tag_datetimes(item) for item in value]
    return value


def v1_envelope(success: bool, message: str = "", data=None) -> HttpResponse:
    body = json.dumps({"success": success, "message": message, "data": data}, cls=V1Encoder)
    return HttpResponse(body, content_type="application/json")


def v1_ok(data=None, message: str = "") -> HttpResponse:
    return v1_envelope(True, message, data)


def v1_fail(message: str, data=None) -> HttpResponse:
    return v1_envelope(False, message, data)
