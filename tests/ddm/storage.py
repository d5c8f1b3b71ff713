"""Local POSIX storage endpoints in ``tmp_path`` and files really written on them, for DDM tests."""

import uuid
import zlib
from pathlib import Path

from apps.ddm.models import DataFile, Dataset, DatasetFile, Replica
from apps.ddm.names import deterministic_path
from tests.factories import StorageEndpointFactory


def local_endpoint(name: str, root: Path, *, is_tape: bool = False, deterministic: bool = True):
    """A storage endpoint whose files live under ``root`` (``file://localhost`` + path, as the demo grid's)."""
    root.mkdir(parents=True, exist_ok=True)
    protocol = {
        "id": 1,
        "endpoint": "file://localhost",
        "path": str(root),
        "flavour": "POSIX",
        "activities": [["read_lan", 1], ["write_lan", 1], ["read_wan", 1], ["write_wan", 1]],
    }
    return StorageEndpointFactory(
        name=name,
        is_tape=is_tape,
        is_deterministic=deterministic,
        type="MCTAPE" if is_tape else "DATADISK",
        rprotocols={"1": protocol},
    )


def file_bytes(lfn: str, size: int = 3000) -> bytes:
    return (f"{lfn}\n".encode() * (size // (len(lfn) + 1) + 1))[:size]


def adler32_of(data: bytes) -> str:
    return f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"


def file_on(endpoint, *, scope: str, lfn: str, data: bytes | None = None, relative: str | None = None) -> DataFile:
    """A catalogue file whose bytes are written on ``endpoint`` (deterministic path unless ``relative``),
    with an available replica there; an existing catalogue file of that name is reused."""
    data = file_bytes(lfn) if data is None else data
    root = Path(endpoint.rprotocols["1"]["path"])
    path = root / (relative or deterministic_path(scope, lfn))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    f, _ = DataFile.objects.get_or_create(
        scope=scope,
        lfn=lfn,
        defaults={"guid": str(uuid.uuid4()).upper(), "fsize": len(data), "adler32": adler32_of(data)},
    )
    Replica.objects.create(file=f, endpoint=endpoint.name, pfn=str(path))
    return f


def dataset_on(endpoint, name: str, n: int, *, scope: str = "mc23") -> Dataset:
    """A dataset of ``n`` files really written on ``endpoint``."""
    dataset, _ = Dataset.objects.get_or_create(name=name, defaults={"scope": scope})
    for i in range(n):
        f = file_on(endpoint, scope=scope, lfn=f"{name}._{i + 1:06d}.root")
        DatasetFile.objects.create(dataset=dataset, file=f)
    return dataset
