"""Storage endpoints that are local POSIX directories: where their files are, checksums, verified copies.

An endpoint is local when one of its protocols (``rprotocols`` values or ``arprotocols`` entries,
protocol.md §11.2) has an ``endpoint`` starting with ``file://`` and an absolute ``path``, as the demo
grid's ``DEMO_SITE_DATADISK`` (``file://localhost`` + ``VAR_DIR/demo-se``). The embedded rule agent
copies files only between such endpoints; anything else needs a real transfer service.
"""

import os
import zlib
from pathlib import Path

from apps.sites.models import StorageEndpoint

CHUNK = 1 << 20


class CopyError(Exception):
    """A copy could not be made or did not verify; ``str()`` says why."""


def _protocols(endpoint: StorageEndpoint) -> list[dict]:
    found = [p for _, p in sorted((endpoint.rprotocols or {}).items()) if isinstance(p, dict)]
    for entries in (endpoint.arprotocols or {}).values():
        found += [p for p in entries or [] if isinstance(p, dict)]
    return found


def endpoint_local_root(endpoint: StorageEndpoint) -> Path | None:
    """The local directory behind the endpoint, or None when it has no ``file://`` protocol."""
    for protocol in _protocols(endpoint):
        path = protocol.get("path")
        if str(protocol.get("endpoint", "")).startswith("file://") and isinstance(path, str) and path.startswith("/"):
            return Path(path)
    return None


def pfn_path(pfn: str) -> Path | None:
    """The local path of a PFN that is an absolute path or a ``file://`` URL."""
    if pfn.startswith("file://"):
        rest = pfn[len("file://") :]
        # file:///abs/path or file://localhost/abs/path
        pfn = rest[rest.index("/") :] if "/" in rest else ""
    return Path(pfn) if pfn.startswith("/") else None


def file_adler32(path: Path) -> str:
    """The adler32 of a file as 8 lower-case hex digits (read in 1 MiB chunks)."""
    value = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            value = zlib.adler32(chunk, value)
    return f"{value & 0xFFFFFFFF:08x}"


def file_matches(path: Path, *, fsize: int, adler32: str) -> bool:
    """Whether ``path`` is a file of that size and checksum (an empty expectation is not checked)."""
    if not path.is_file():
        return False
    if fsize and path.stat().st_size != fsize:
        return False
    return not adler32 or file_adler32(path) == adler32.lower().zfill(8)


def file_copy_verified(source: Path, destination: Path, *, fsize: int, adler32: str) -> None:
    """Copy ``source`` to ``destination`` through a temporary name, verify size and adler32, then rename.

    A destination that already holds the right bytes is kept; nothing is left behind on failure.
    """
    if (fsize or adler32) and file_matches(destination, fsize=fsize, adler32=adler32):
        return
    if not source.is_file():
        raise CopyError(f"source {source} does not exist")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.part")
    value = 1
    size = 0
    try:
        with open(source, "rb") as reader, open(partial, "wb") as writer:
            while chunk := reader.read(CHUNK):
                value = zlib.adler32(chunk, value)
                size += len(chunk)
                writer.write(chunk)
        checksum = f"{value & 0xFFFFFFFF:08x}"
        if fsize and size != fsize:
            raise CopyError(f"size mismatch copying {source}: {size} bytes, catalogue says {fsize}")
        if adler32 and checksum != adler32.lower().zfill(8):
            raise CopyError(f"adler32 mismatch copying {source}: {checksum}, catalogue says {adler32}")
        os.replace(partial, destination)
    except OSError as exc:
        raise CopyError(f"cannot copy {source} to {destination}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
