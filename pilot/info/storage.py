"""Storage endpoints (``/cache/ddmendpoints.json``, protocol.md §11.2) and SURL construction."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from typing import Any

from pilot import errors
from pilot.errors import PilotError
from pilot.info.sources import read_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Protocol:
    endpoint: str  # e.g. file://localhost, https://se.example.org:443
    path: str  # e.g. /data/se
    flavour: str = ""

    @property
    def scheme(self) -> str:
        return self.endpoint.split("://", 1)[0].lower() if "://" in self.endpoint else "file"


def deterministic_path(scope: str, lfn: str) -> str:
    """``<scope dirs>/<h[0:2]>/<h[2:4]>/<lfn>`` with h = md5 of ``<scope>:<lfn>``."""
    digest = hashlib.md5(f"{scope}:{lfn}".encode()).hexdigest()  # noqa: S324 - layout hash, not security
    scope_dirs = scope.replace(".", "/") if scope.startswith(("user.", "group.")) else scope
    return f"{scope_dirs}/{digest[0:2]}/{digest[2:4]}/{lfn}"


@dataclass
class StorageEndpoint:
    name: str
    doc: dict[str, Any]

    @property
    def is_deterministic(self) -> bool:
        return bool(self.doc.get("is_deterministic", True))

    def protocols(self, activity: str) -> list[Protocol]:
        """Protocols for an activity (``read_lan``, ``write_lan``, ...), best first."""
        found: list[tuple[int, Protocol]] = []
        for entry in (self.doc.get("arprotocols") or {}).get(activity) or []:
            found.append((0, _protocol(entry)))
        if not found:
            for entry in (self.doc.get("rprotocols") or {}).values():
                for act in entry.get("activities") or []:
                    if isinstance(act, (list, tuple)) and act and act[0] == activity:
                        priority = int(act[1]) if len(act) > 1 else 0
                        found.append((priority, _protocol(entry)))
        found.sort(key=lambda item: item[0])
        return [protocol for _, protocol in found]

    def surl(self, *, scope: str, lfn: str, activity: str) -> tuple[str, Protocol]:
        if not self.is_deterministic:
            raise PilotError(errors.NONDETERMINISTICDDM, self.name)
        protocols = self.protocols(activity)
        if not protocols:
            raise PilotError(errors.NOSTORAGEPROTOCOL, f"{self.name} has no {activity} protocol")
        protocol = protocols[0]
        base = protocol.endpoint.rstrip("/") + "/" + protocol.path.strip("/")
        return f"{base.rstrip('/')}/{deterministic_path(scope, lfn)}", protocol


def _protocol(entry: dict[str, Any]) -> Protocol:
    return Protocol(
        endpoint=str(entry.get("endpoint") or ""),
        path=str(entry.get("path") or ""),
        flavour=str(entry.get("flavour") or ""),
    )


def local_path(surl: str) -> str:
    """Filesystem path of a ``file://`` SURL (``file://localhost/a/b`` and ``file:///a/b``)."""
    rest = surl.split("://", 1)[1] if "://" in surl else surl
    if not rest.startswith("/"):
        rest = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return rest


class StorageData:
    def __init__(self, endpoints: dict[str, dict[str, Any]]) -> None:
        self.endpoints = {name: StorageEndpoint(name, doc) for name, doc in endpoints.items() if isinstance(doc, dict)}

    def get(self, name: str) -> StorageEndpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            raise PilotError(errors.NOSTORAGE, f"unknown storage endpoint {name!r}") from None


def load_storagedata(*, pilot_home: str, url: str) -> StorageData:
    """``--storagedata-url`` first, then LOCAL ``agis_ddmendpoints.json``; none is not fatal (mv copytool)."""
    candidates = []
    if url:
        candidates.append(url)
    candidates.append(os.path.join(pilot_home, "agis_ddmendpoints.json"))
    for location in candidates:
        if "://" not in location and not os.path.exists(location):
            continue
        try:
            doc = read_json(location)
        except Exception as exc:
            logger.warning("could not read storage data from %s: %s", location, exc)
            continue
        if isinstance(doc, dict):
            logger.info("loaded %d storage endpoints from %s", len(doc), location)
            return StorageData(doc)
    logger.warning("no storage data loaded")
    return StorageData({})
