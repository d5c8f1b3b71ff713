"""Phase durations reported as ``pilotTiming`` = ``getjob|stagein|payload|stageout|setup`` (seconds)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

PHASES = ("getjob", "stagein", "payload", "stageout", "setup")


class Timing:
    def __init__(self) -> None:
        self.durations: dict[str, float] = dict.fromkeys(PHASES, 0.0)

    def add(self, phase: str, seconds: float) -> None:
        self.durations[phase] = self.durations.get(phase, 0.0) + seconds

    @contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(phase, time.monotonic() - started)

    def report(self) -> str:
        return "|".join(str(int(round(self.durations[p]))) for p in PHASES)
