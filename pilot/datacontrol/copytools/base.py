"""The copytool interface and the context it works in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pilot.info.storage import StorageData
from pilot.jobcontrol.jobspec import FileSpec


@dataclass
class TransferContext:
    jobdir: str
    pilot_home: str
    storage: StorageData
    options: dict[str, Any] = field(default_factory=dict)  # the queue's copytools[<name>] entry
    timeout: float = 3600.0


class Copytool:
    name: ClassVar[str] = ""
    needs_storage: ClassVar[bool] = True  # False: works without a storage endpoint (mv)

    def __init__(self, context: TransferContext) -> None:
        self.context = context

    def stage_in(self, spec: FileSpec, source_surl: str) -> str:
        """Bring ``spec`` into the job dir from ``source_surl``; return the local path."""
        raise NotImplementedError

    def stage_out(self, spec: FileSpec, local: str, destination_surl: str) -> str:
        """Put the local file at ``destination_surl``; return where the file now is on this host.

        ``spec`` carries size and checksum already.
        """
        raise NotImplementedError

    def supports(self, surl: str) -> bool:
        return True
