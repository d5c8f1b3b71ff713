"""The queue description (``/cache/schedconfig/<queue>.all.json``), protocol.md §11.1."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from pilot import errors
from pilot.errors import PilotError
from pilot.info.sources import read_json

logger = logging.getLogger(__name__)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _float(value: Any, default: float) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if result > 0 else default


@dataclass
class QueueData:
    name: str
    resource: str
    site: str
    state: str = "ACTIVE"
    status: str = "online"
    type: str = ""
    resource_type: str = "grid"
    platform: str = ""
    copytools: dict[str, Any] = field(default_factory=dict)
    acopytools: dict[str, list[str]] = field(default_factory=dict)
    astorages: dict[str, list[str]] = field(default_factory=dict)
    maxwdir: int = 0  # MB
    maxrss: int = 0  # MB
    maxinputsize: int = 0
    maxtime: int = 0  # s
    timefloor: int = 0  # s (the document has minutes)
    corecount: int = 1
    memkillgrace: int = 100
    pilot_walltime_grace: float = 1.0
    pilot_rss_grace: float = 2.0
    pilot_maxwdir_grace: float = 1.0
    catchall: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    environ: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: dict[str, Any], queue: str) -> QueueData:
        if not isinstance(doc, dict):
            raise PilotError(errors.QUEUEDATANOTOK, "queuedata is not a JSON object")
        if "error" in doc:
            raise PilotError(errors.QUEUEDATANOTOK, f"queuedata error: {doc['error']}")
        # a CRIC-style {"<queue>": {...}} document is accepted too
        if queue in doc and isinstance(doc[queue], dict) and "nickname" not in doc:
            doc = doc[queue]
        name = doc.get("nickname") or queue
        return cls(
            name=name,
            resource=doc.get("panda_resource") or name,
            site=doc.get("atlas_site") or doc.get("site") or "",
            state=str(doc.get("state") or "ACTIVE"),
            status=str(doc.get("status") or "online"),
            type=str(doc.get("type") or ""),
            resource_type=str(doc.get("resource_type") or "grid"),
            platform=str(doc.get("cmtconfig") or ""),
            copytools=doc.get("copytools") or {},
            acopytools=doc.get("acopytools") or {},
            astorages=doc.get("astorages") or {},
            maxwdir=_int(doc.get("maxwdir")),
            maxrss=_int(doc.get("maxrss")),
            maxinputsize=_int(doc.get("maxinputsize")),
            maxtime=_int(doc.get("maxtime")),
            timefloor=_int(doc.get("timefloor")) * 60,
            corecount=_int(doc.get("corecount"), 1) or 1,
            memkillgrace=_int(doc.get("memkillgrace"), 100),
            pilot_walltime_grace=_float(doc.get("pilot_walltime_grace"), 1.0),
            pilot_rss_grace=_float(doc.get("pilot_rss_grace"), 2.0),
            pilot_maxwdir_grace=_float(doc.get("pilot_maxwdir_grace"), 1.0),
            catchall=str(doc.get("catchall") or ""),
            params=doc.get("params") or {},
            environ=str(doc.get("environ") or ""),
            raw=doc,
        )

    def catchall_flag(self, flag: str) -> bool:
        return flag in [part.strip().split("=")[0] for part in self.catchall.replace(" ", ",").split(",")]

    def validate(self) -> None:
        """Raise the start-up errors of pilot-harvester.md §1: 1359 (not ACTIVE), 1386 (offline)."""
        if self.state.upper() != "ACTIVE":
            raise PilotError(errors.PANDAQUEUENOTACTIVE, f"queue state is {self.state}")
        if self.status.lower() == "offline":
            raise PilotError(errors.PANDAQUEUENOTONLINE, f"queue status is {self.status}")


def load_queuedata(*, queue: str, pilot_home: str, url: str) -> QueueData:
    """LOCAL ``queuedata.json`` in PILOT_HOME first, then ``url`` (``{pandaqueue}`` substituted)."""
    candidates = [os.path.join(pilot_home, "queuedata.json")]
    if url:
        candidates.append(url.replace("{pandaqueue}", queue))
    last_error = "no queuedata source"
    for location in candidates:
        if "://" not in location and not os.path.exists(location):
            continue
        try:
            doc = read_json(location)
        except Exception as exc:  # every source failure is worth a try of the next one
            last_error = f"{location}: {exc}"
            logger.warning("could not read queuedata from %s: %s", location, exc)
            continue
        logger.info("loaded queuedata from %s", location)
        queuedata = QueueData.from_document(doc, queue)
        _merge_schedconfig(queuedata, pilot_home=pilot_home, queue=queue)
        return queuedata
    raise PilotError(errors.QUEUEDATA, last_error)


def _merge_schedconfig(queuedata: QueueData, *, pilot_home: str, queue: str) -> None:
    """``LOCAL_AGIS_SCHEDCONF`` or ``cric_pandaqueues.json`` merged on top; failure is not fatal."""
    location = os.environ.get("LOCAL_AGIS_SCHEDCONF") or os.path.join(pilot_home, "cric_pandaqueues.json")
    if "://" not in location and not os.path.exists(location):
        return
    try:
        doc = read_json(location)
    except Exception as exc:
        logger.warning("ignoring schedconfig %s: %s", location, exc)
        return
    overlay = doc.get(queue) if isinstance(doc, dict) else None
    if isinstance(overlay, dict):
        merged = {**queuedata.raw, **overlay}
        fresh = QueueData.from_document(merged, queue)
        queuedata.__dict__.update(fresh.__dict__)
        logger.info("merged schedconfig from %s", location)
