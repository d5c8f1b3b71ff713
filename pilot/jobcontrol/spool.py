"""Final updates kept on disk until the server acknowledges them, also across pilot restarts.

One JSON file per (PandaID, attemptNr) in ``<base dir>/pilot_final_updates/``; the base dir is the
``-a`` work dir (or the launch dir), which a restarted pilot shares with its predecessor.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pilot.util.files import read_json, write_json

logger = logging.getLogger(__name__)

SPOOL_DIR = "pilot_final_updates"


class FinalUpdateSpool:
    def __init__(self, base_dir: str) -> None:
        self.path = os.path.join(base_dir, SPOOL_DIR)

    def _file(self, data: dict[str, Any]) -> str:
        return os.path.join(self.path, f"{data['jobId']}_{data.get('attemptNr', 0)}.json")

    def save(self, data: dict[str, Any]) -> str:
        path = self._file(data)
        write_json(path, data)
        return path

    def remove(self, data: dict[str, Any]) -> None:
        try:
            os.remove(self._file(data))
        except FileNotFoundError:
            pass
        try:
            os.rmdir(self.path)
        except OSError:
            pass

    def pending(self) -> list[dict[str, Any]]:
        if not os.path.isdir(self.path):
            return []
        found = []
        for name in sorted(os.listdir(self.path)):
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                data = read_json(os.path.join(self.path, name))
            except (OSError, ValueError) as exc:
                logger.warning("unreadable spooled update %s: %s", name, exc)
                continue
            if isinstance(data, dict) and "jobId" in data:
                found.append(data)
        return found
