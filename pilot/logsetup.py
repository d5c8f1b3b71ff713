"""Logging to ``PILOT_HOME/pilotlog.txt`` and stdout."""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s | %(levelname)-8s | %(threadName)-22s | %(name)-32s | %(message)s"


def setup_logging(path: str, *, debug: bool) -> None:
    formatter = logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    formatter.converter = time.gmtime
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in (logging.FileHandler(path, encoding="utf-8"), logging.StreamHandler(sys.stdout)):
        handler.setFormatter(formatter)
        root.addHandler(handler)
