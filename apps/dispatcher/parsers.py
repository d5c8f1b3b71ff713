"""Request body decoding for both API generations (protocol.md §2).

Pilot 3.11 sends gzip-compressed JSON with ``Content-Type: application/json`` and *no*
``Content-Encoding``; so the JSON parsers sniff the gzip magic ``1f 8b`` whatever the headers say.
"""

import gzip
import json
import zlib

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

GZIP_MAGIC = b"\x1f\x8b"
MAX_BODY = 64 * 1024 * 1024


def gunzip_if_needed(body: bytes) -> bytes:
    if body[:2] != GZIP_MAGIC:
        return body
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParseError(f"received invalid JSON: bad gzip data ({exc})") from exc


def loads_object(body: bytes) -> dict:
    try:
        value = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"received invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ParseError(f"received invalid JSON: top level must be an object, got {type(value).__name__}")
    return value


def legacy_value(value):
    """JSON true/false become the strings "True"/"False" on the legacy API; numbers keep their type."""
    if value is True:
        return "True"
    if value is False:
        return "False"
    return value


class GzipJSONParser(BaseParser):
    """JSON object body, gunzipped when it starts with the gzip magic (v1 also honours Content-Encoding)."""

    media_type = "application/json"
    legacy = False

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read(MAX_BODY + 1) if stream is not None else b""
        if len(body) > MAX_BODY:
            raise ParseError("request body too large")
        data = loads_object(gunzip_if_needed(body))
        if self.legacy:
            # legacy_value() inlined: this runs for every parameter of every heartbeat.
            return {
                key: ("True" if value is True else "False" if value is False else value) for key, value in data.items()
            }
        return data


class LegacyJSONParser(GzipJSONParser):
    legacy = True
