"""A job's kill request: the first reason wins (server kill, signal, looping, memory, lifetime...)."""

from __future__ import annotations

import threading


class KillSwitch:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.code = 0
        self.detail = ""

    def trip(self, code: int, detail: str = "") -> bool:
        with self._lock:
            if self._event.is_set():
                return False
            self.code, self.detail = code, detail
            self._event.set()
            return True

    @property
    def tripped(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)
