"""Resource use of one payload: memory maxima/averages, CPU time and I/O, sampled from /proc."""

from __future__ import annotations

import resource
import threading
from dataclasses import dataclass, field

from pilot.util import procfs


@dataclass
class JobMetrics:
    samples: int = 0
    max: procfs.MemorySample = field(default_factory=procfs.MemorySample)
    total: procfs.MemorySample = field(default_factory=procfs.MemorySample)
    current: procfs.MemorySample = field(default_factory=procfs.MemorySample)
    io: procfs.IoSample = field(default_factory=procfs.IoSample)
    cpu_seconds: float = 0.0
    nprocesses: int = 0
    max_nprocesses: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _children_cpu_at_start: float = 0.0

    def start(self) -> None:
        self._children_cpu_at_start = _children_cpu()

    def sample(self, pids: list[int]) -> procfs.MemorySample:
        mem = procfs.MemorySample()
        io = procfs.IoSample()
        cpu = 0.0
        for pid in pids:
            mem = mem + procfs.memory(pid)
            io = io + procfs.io(pid)
            stat = procfs.read_stat(pid)
            if stat is not None:
                cpu += stat.cpu_seconds
        with self.lock:
            self.current = mem
            self.samples += 1
            self.total = self.total + mem
            self.max = procfs.MemorySample(
                max(self.max.rss, mem.rss),
                max(self.max.pss, mem.pss),
                max(self.max.swap, mem.swap),
                max(self.max.vmem, mem.vmem),
            )
            # totals only grow; processes that ended take their counters with them
            self.io = procfs.IoSample(
                max(self.io.rchar, io.rchar),
                max(self.io.wchar, io.wchar),
                max(self.io.read_bytes, io.read_bytes),
                max(self.io.write_bytes, io.write_bytes),
            )
            self.cpu_seconds = max(self.cpu_seconds, cpu)
            self.nprocesses = len(pids)
            self.max_nprocesses = max(self.max_nprocesses, len(pids))
        return mem

    def finish(self) -> None:
        """After the payload is reaped its CPU time is in our RUSAGE_CHILDREN."""
        with self.lock:
            self.cpu_seconds = max(self.cpu_seconds, _children_cpu() - self._children_cpu_at_start)

    def update_fields(self, elapsed: float) -> dict[str, int | float]:
        """updateJob memory and I/O fields (kB for memory, bytes and bytes/s for I/O)."""
        with self.lock:
            fields: dict[str, int | float] = {}
            if self.samples:
                n = self.samples
                fields.update(
                    {
                        "maxRSS": self.max.rss,
                        "maxVMEM": self.max.vmem,
                        "maxSWAP": self.max.swap,
                        "maxPSS": self.max.pss,
                        "avgRSS": self.total.rss // n,
                        "avgVMEM": self.total.vmem // n,
                        "avgSWAP": self.total.swap // n,
                        "avgPSS": self.total.pss // n,
                        "totRCHAR": self.io.rchar,
                        "totWCHAR": self.io.wchar,
                        "totRBYTES": self.io.read_bytes,
                        "totWBYTES": self.io.write_bytes,
                    }
                )
                if elapsed > 0:
                    fields.update(
                        {
                            "rateRCHAR": int(self.io.rchar / elapsed),
                            "rateWCHAR": int(self.io.wchar / elapsed),
                            "rateRBYTES": int(self.io.read_bytes / elapsed),
                            "rateWBYTES": int(self.io.write_bytes / elapsed),
                        }
                    )
            return fields

    def cpu_time(self) -> int:
        with self.lock:
            return int(round(self.cpu_seconds))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
