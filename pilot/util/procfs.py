"""Process information from /proc (Linux): identity, tree, CPU, memory and I/O."""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    session: int
    utime: int  # clock ticks
    stime: int
    cutime: int
    cstime: int
    starttime: int  # clock ticks after boot: with pid, identifies a process for its whole life

    @property
    def cpu_seconds(self) -> float:
        return (self.utime + self.stime + self.cutime + self.cstime) / CLOCK_TICKS


def read_stat(pid: int) -> ProcStat | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            raw = handle.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split around the last ")"
    left, _, right = raw.rpartition(")")
    comm = left.partition("(")[2]
    fields = right.split()
    try:
        return ProcStat(
            pid=pid,
            comm=comm,
            state=fields[0],
            ppid=int(fields[1]),
            pgrp=int(fields[2]),
            session=int(fields[3]),
            utime=int(fields[11]),
            stime=int(fields[12]),
            cutime=int(fields[13]),
            cstime=int(fields[14]),
            starttime=int(fields[19]),
        )
    except (IndexError, ValueError):
        return None


def all_stats() -> dict[int, ProcStat]:
    stats: dict[int, ProcStat] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return stats
    for name in names:
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                stats[stat.pid] = stat
    return stats


def descendants(root: int, stats: dict[int, ProcStat] | None = None) -> list[ProcStat]:
    """Every process below ``root`` following parent links (``root`` itself excluded)."""
    stats = stats if stats is not None else all_stats()
    children: dict[int, list[ProcStat]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat)
    found: list[ProcStat] = []
    todo = [root]
    seen = {root}
    while todo:
        for child in children.get(todo.pop(), []):
            if child.pid not in seen:
                seen.add(child.pid)
                found.append(child)
                todo.append(child.pid)
    return found


def is_descendant(pid: int, ancestor: int, stats: dict[int, ProcStat] | None = None) -> bool:
    stats = stats if stats is not None else all_stats()
    seen = set()
    current = stats.get(pid)
    while current is not None and current.pid not in seen:
        if current.ppid == ancestor:
            return True
        seen.add(current.pid)
        current = stats.get(current.ppid) or read_stat(current.ppid)
    return False


@dataclass
class MemorySample:
    rss: int = 0  # kB
    pss: int = 0
    swap: int = 0
    vmem: int = 0

    def __add__(self, other: MemorySample) -> MemorySample:
        return MemorySample(self.rss + other.rss, self.pss + other.pss, self.swap + other.swap, self.vmem + other.vmem)


def memory(pid: int) -> MemorySample:
    sample = MemorySample()
    keys = {"Rss:": "rss", "Pss:": "pss", "Swap:": "swap"}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if parts and parts[0] in keys:
                    setattr(sample, keys[parts[0]], int(parts[1]))
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    sample.vmem = int(line.split()[1])
                elif line.startswith("VmRSS:") and not sample.rss:
                    sample.rss = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    if not sample.pss:
        sample.pss = sample.rss
    return sample


@dataclass
class IoSample:
    rchar: int = 0
    wchar: int = 0
    read_bytes: int = 0
    write_bytes: int = 0

    def __add__(self, other: IoSample) -> IoSample:
        return IoSample(
            self.rchar + other.rchar,
            self.wchar + other.wchar,
            self.read_bytes + other.read_bytes,
            self.write_bytes + other.write_bytes,
        )


def io(pid: int) -> IoSample:
    sample = IoSample()
    try:
        with open(f"/proc/{pid}/io", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in ("rchar", "wchar", "read_bytes", "write_bytes"):
                    setattr(sample, key, int(value))
    except (OSError, ValueError):
        pass
    return sample
