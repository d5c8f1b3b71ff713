"""Read a JSON document from a URL or a plain file path (no auth header, as pilot 3.11)."""

from __future__ import annotations

import json
import os
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
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - config URL from options
            return json.loads(response.read().decode("utf-8"))
    with open(os.path.expanduser(location), encoding="utf-8") as handle:
        return json.load(handle)
