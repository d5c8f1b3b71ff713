"""Read a JSON document from a URL or a plain file path (no auth header, as pilot 3.11)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from pilot import __version__


def is_url(location: str) -> bool:
    return "://" in location


def read_json(location: str, *, timeout: float = 60.0) -> Any:
    if is_url(location):
        if location.startswith("file://"):
            return read_json(location[len("file://") :], timeout=timeout)
        request = urllib.request.Request(location, headers={"User-Agent": f"pilot/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL from options
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            # a server that knows the document is wrong answers {"error": ...}: that is the answer
            try:
                body = json.loads(exc.read().decode("utf-8"))
            except ValueError:
                raise exc from None
            if isinstance(body, dict) and "error" in body:
                return body
            raise
    with open(os.path.expanduser(location), encoding="utf-8") as handle:
        return json.load(handle)
