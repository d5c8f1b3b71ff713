"""Facts about the worker node sent to the server (getJob mem/cpu/diskSpace, updateJob CPU fields)."""

from __future__ import annotations

import os
import re
import socket


def node_name() -> str:
    return os.environ.get("PANDA_HOSTNAME") or socket.gethostname()


def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            return handle.read().splitlines()
    except OSError:
        return []


def _field(lines: list[str], key: str) -> str:
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return ""


def cpu_mhz() -> float:
    try:
        return float(_field(_cpuinfo(), "cpu MHz") or 0)
    except ValueError:
        return 0.0


def memory_mb() -> int:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return 0


def free_space_mb(path: str) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize // (1024 * 1024)


def cpu_flags() -> set[str]:
    return set(_field(_cpuinfo(), "flags").split())


def cpu_consumption_unit() -> str:
    """``s+<model> <n>-Core Processor+AVX2``, the shape pilot 3.11 reports."""
    lines = _cpuinfo()
    model = re.sub(r"\s+", " ", _field(lines, "model name")) or "unknown"
    cores = os.cpu_count() or 1
    if "-Core" not in model:
        model = f"{model} {cores}-Core Processor"
    unit = f"s+{model}"
    if "avx2" in cpu_flags():
        unit += "+AVX2"
    return unit


_LEVELS = (
    ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
    ("x86-64-v3", {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave"}),
    ("x86-64-v2", {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"}),
)


def cpu_architecture_level() -> str:
    flags = cpu_flags()
    if not flags:
        return ""
    for level, needed in _LEVELS:
        if needed <= flags:
            return level
    return "x86-64-v1" if "lm" in flags else ""


def batch_system_id() -> tuple[str, str]:
    """(batch type, batch job id) from the environment, as pilot 3.11 reports them in pilotID/batchID."""
    for var, kind in (
        ("SLURM_JOB_ID", "SLURM"),
        ("PBS_JOBID", "PBS"),
        ("LSB_JOBID", "LSF"),
        ("CONDOR_JOBID", "CONDOR"),
        ("JOB_ID", "SGE"),
    ):
        if os.environ.get(var):
            return kind, os.environ[var]
    if os.environ.get("_CONDOR_JOB_AD"):
        try:
            with open(os.environ["_CONDOR_JOB_AD"], encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith("GlobalJobId"):
                        return "CONDOR", line.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass
    return "", ""
