"""Registering a job's outputs and log in the data-management catalogue (the Adder's last step).

Each output/log ``JobFile`` the Adder marked ``ready`` goes into its dataset (``JobFile.dataset``: the
task's output or log dataset, created if the catalogue does not have it yet) with a replica on the
endpoint the pilot reported (``JobFile.endpoint``, PFN = the reported SURL). Registration is
idempotent (files already attached are left as they are), so a re-run of the Adder changes nothing.
Files without a dataset have nowhere to go and are skipped. A refusal (closed dataset, a container
named as the dataset, a GUID clash) raises :class:`~apps.ddm.interface.DDMError`.
"""

from collections import defaultdict
from collections.abc import Iterable

from apps.ddm.interface import OutputFile, ddm
from apps.ddm.names import did_split
from apps.jobs.models import FileType, JobFile

REGISTERED_TYPES = (FileType.OUTPUT, FileType.LOG)


def _adler32(checksum: str | None) -> str:
    return checksum[3:] if checksum and checksum.startswith("ad:") else ""


def job_files_register(files: Iterable[JobFile]) -> int:
    """Register the ``ready`` outputs and logs among ``files``; answers how many were newly attached."""
    by_dataset: dict[str, list[OutputFile]] = defaultdict(list)
    for f in files:
        if f.type not in REGISTERED_TYPES or f.status != "ready" or not f.dataset:
            continue
        by_dataset[f.dataset].append(
            OutputFile(
                scope=f.scope or did_split(f.dataset)[0],
                lfn=f.lfn,
                guid=f.guid or "",
                fsize=f.fsize or 0,
                adler32=_adler32(f.checksum),
                nevents=f.nevents,
                endpoint=f.endpoint or "",
                pfn=f.surl or "",
            )
        )
    catalogue = ddm()
    attached = 0
    # Sorted, so that concurrent Adders touch shared datasets in the same order.
    for name in sorted(by_dataset):
        catalogue.register_dataset(name)
        attached += catalogue.register_outputs(name, by_dataset[name])
    return attached
