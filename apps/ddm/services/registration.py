"""Registering files that already sit on a local storage endpoint (``manage.py ddm_register_dataset``).

Each file found under the given paths (files, or directories walked recursively; hidden files such as
partial copies are skipped) becomes a catalogue file named after its base name in the dataset's scope,
with its size and adler32 computed here, a new GUID (or the one it already has in the catalogue, so
that registering again changes nothing) and an available replica on the endpoint whose PFN is the
absolute path. Every file must be inside the endpoint's directory. Everything is checked before
anything is written, and the writes happen in one transaction.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from apps.ddm.embedded import EmbeddedDDM
from apps.ddm.interface import DatasetInfo, DDMError, OutputFile
from apps.ddm.models import DataFile
from apps.ddm.names import did_split
from apps.ddm.posix import endpoint_local_root, file_adler32
from apps.ddm.selectors.catalogue import in_chunks
from apps.sites.models import StorageEndpoint


@dataclass(frozen=True)
class Registration:
    dataset: DatasetInfo
    found: int
    attached: int
    endpoint: str

    def __str__(self) -> str:
        return (
            f"{self.dataset.scope}:{self.dataset.name}: {self.found} file(s) found, {self.attached} newly attached on "
            f"{self.endpoint}; the dataset holds {self.dataset.nfiles} file(s), {self.dataset.nbytes} bytes"
        )


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _files_under(paths: Iterable[str | Path]) -> list[Path]:
    found: list[Path] = []
    for given in paths:
        path = Path(given).expanduser().resolve()
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))))
        else:
            raise DDMError(f"{given}: no such file or directory")
    return found


def dataset_register_from_disk(
    *,
    dataset: str,
    paths: Iterable[str | Path],
    endpoint: str,
    nevents: int | None = None,
    container: str | None = None,
) -> Registration:
    """Register the files under ``paths`` (on ``endpoint``) into ``dataset``; see the module docstring."""
    scope, _ = did_split(dataset)
    if container:
        did_split(container)
    if nevents is not None and nevents < 0:
        raise DDMError(f"--nevents must be zero or more, got {nevents}")
    se = StorageEndpoint.objects.filter(name=endpoint).first()
    if se is None:
        raise DDMError(f"unknown storage endpoint {endpoint!r}")
    root = endpoint_local_root(se)
    if root is None:
        raise DDMError(f"storage endpoint {endpoint} has no local file:// path to register files from")
    root = root.resolve()
    files = _files_under(paths)
    if not files:
        raise DDMError("no file found under the given paths")
    outside = [str(p) for p in files if not p.is_relative_to(root)]
    if outside:
        raise DDMError(f"not under the storage path {root} of {endpoint}: {', '.join(outside[:5])}")
    by_name: dict[str, Path] = {}
    for path in files:
        if path.name in by_name:
            raise DDMError(f"two files would be {scope}:{path.name}: {by_name[path.name]} and {path}")
        by_name[path.name] = path
    known: dict[str, str] = {}
    for chunk in in_chunks(by_name):
        known.update(DataFile.objects.filter(scope=scope, lfn__in=chunk).values_list("lfn", "guid"))
    outputs = [
        OutputFile(
            scope=scope,
            lfn=lfn,
            guid=known.get(lfn) or str(uuid.uuid4()).upper(),
            fsize=path.stat().st_size,
            adler32=file_adler32(path),
            nevents=nevents,
            endpoint=endpoint,
            pfn=str(path),
        )
        for lfn, path in by_name.items()
    ]
    ddm = EmbeddedDDM()
    with transaction.atomic():
        ddm.register_dataset(dataset)
        attached = ddm.register_outputs(dataset, outputs)
        if container:
            ddm.attach(container, dataset)
    return Registration(dataset=ddm.get_dataset(dataset), found=len(outputs), attached=attached, endpoint=endpoint)
