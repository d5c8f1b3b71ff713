"""What one job of a task chunk needs from a queue: cores, memory, scratch disk, walltime, input.

The brokers judge a chunk by its smallest possible job: the ``nFilesPerJob`` largest input files
(``NF`` in the split rule, else 1), since the splitter sizes the real jobs to fit the chosen queue
(jedi.md §6). Units follow the task parameter map (§3): ``ramCount`` in MB (per core for
``MBPerCore``/``MBPerCoreFixed``), ``outDiskCount`` per event (``kB`` unless ``outDiskUnit`` says
``B``/``MB``/``GB``), ``workDiskCount`` per job (``MB`` unless ``workDiskUnit`` says otherwise),
``walltime`` in seconds (per event when ``walltimeUnit`` ends with ``PerEvent``).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from apps.jedi.models import DatasetContent, Task

MB = 1024 * 1024
_TO_MB = {"B": 1 / MB, "kB": 1 / 1024, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0, "TB": 1024.0 * 1024}
PSEUDO_INPUT = "pseudo_input"


def to_mb(value: float | None, unit: str | None, *, default_unit: str) -> float:
    """``value`` in ``unit`` (``kB``, ``MB``, ``GB``..., an optional ``PerEvent``/``Fixed`` suffix) as MB."""
    if not value:
        return 0.0
    base = (unit or default_unit).removesuffix("PerEvent").removesuffix("Fixed") or default_unit
    return float(value) * _TO_MB.get(base, _TO_MB[default_unit])


def split_rules(task: Task) -> dict[str, str]:
    """The compact split rule string (``NF=2,MF=10``) as a dict."""
    pairs = (item.split("=", 1) for item in (task.splitrule or "").split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


@dataclass(frozen=True)
class JobNeeds:
    cores: int  # the task's coreCount (1 when unset); 0 means "any"
    ram_mb: int  # ramCount as given (per core when ram_per_core)
    ram_per_core: bool
    base_ram_mb: int
    out_disk_mb: float  # for one job: outDiskCount x events
    work_disk_mb: float
    input_mb: float  # the job's input: its files_per_job largest files
    nevents: int  # events of those files
    files_per_job: int
    walltime_s: int  # 0 when unknown
    n_data_files: int  # input files with a DDM identity (scope + lfn)

    def cores_on(self, queue_corecount: int | None) -> int:
        """Cores a job gets on a queue: the queue's slot size, or the task's when the queue takes any."""
        if queue_corecount and queue_corecount > 0:
            return queue_corecount
        return self.cores or 1

    def ram_total_mb(self, cores: int) -> int:
        return (self.ram_mb * cores if self.ram_per_core else self.ram_mb) + self.base_ram_mb

    def ram_formula(self, cores: int) -> str:
        text = f"ramCount {self.ram_mb} MB x corecount {cores}" if self.ram_per_core else f"ramCount {self.ram_mb} MB"
        if self.base_ram_mb:
            text += f" + baseRamCount {self.base_ram_mb} MB"
        return text


def _files_per_job(task: Task) -> int:
    try:
        return max(1, int(split_rules(task).get("NF", "1")))
    except ValueError:
        return 1


def job_needs(task: Task, files: Sequence[DatasetContent]) -> JobNeeds:
    files_per_job = _files_per_job(task)
    biggest = sorted(files, key=lambda f: f.fsize or 0, reverse=True)[:files_per_job]
    nevents = sum(f.nevents or 0 for f in biggest)
    input_mb = sum(f.fsize or 0 for f in biggest) / MB
    ram = max([task.ramcount or 0, *(f.ramcount or 0 for f in files)])
    walltime = task.walltime or 0
    if (task.walltimeunit or "").endswith("PerEvent"):
        walltime = walltime * nevents + (task.basewalltime or 0)
    return JobNeeds(
        cores=task.corecount if task.corecount is not None else 1,
        ram_mb=ram,
        ram_per_core=(task.ramunit or "MBPerCore").startswith("MBPerCore"),
        base_ram_mb=task.baseramcount or 0,
        out_disk_mb=to_mb(task.outdiskcount, task.outdiskunit, default_unit="kB") * max(nevents, 1),
        work_disk_mb=to_mb(task.workdiskcount, task.workdiskunit, default_unit="MB"),
        input_mb=input_mb,
        nevents=nevents,
        files_per_job=files_per_job,
        walltime_s=int(walltime),
        n_data_files=sum(1 for f in files if f.scope and f.type != PSEUDO_INPUT),
    )
