"""adler32 (8 lowercase hex digits, as Rucio and PanDA store it) and md5 of files."""

from __future__ import annotations

import hashlib
import zlib

_CHUNK = 1024 * 1024


def adler32(path: str) -> str:
    value = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            value = zlib.adler32(chunk, value)
    return f"{value & 0xFFFFFFFF:08x}"


def md5(path: str) -> str:
    digest = hashlib.md5()  # noqa: S324 - file checksum, not security
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
