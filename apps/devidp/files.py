"""Private files of the development provider (client secrets, tokens): mode 0600, replaced atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def private_file_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only; a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # created with mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
