"""POSIX copytool: a local or shared-filesystem storage endpoint (``file://`` protocol)."""

from __future__ import annotations

import os
import shutil

from pilot import errors
from pilot.datacontrol.copytools.base import Copytool
from pilot.errors import PilotError
from pilot.info.storage import local_path
from pilot.jobcontrol.jobspec import FileSpec


class PosixCopytool(Copytool):
    """Copies (or, with ``"symlink": true`` in the queue's copytools entry, links) files."""

    name = "posix"

    def supports(self, surl: str) -> bool:
        return surl.startswith("file:") or surl.startswith("/")

    def stage_in(self, spec: FileSpec, source_surl: str) -> str:
        source = local_path(source_surl)
        destination = os.path.join(self.context.jobdir, spec.lfn)
        if not os.path.isfile(source):
            raise PilotError(errors.MISSINGINPUTFILE, f"{spec.lfn} not found at {source}")
        try:
            if self.context.options.get("symlink"):
                os.symlink(source, destination)
            else:
                shutil.copyfile(source, destination)
        except OSError as exc:
            raise PilotError(errors.STAGEINFAILED, f"{spec.lfn}: {exc}") from None
        return destination

    def stage_out(self, spec: FileSpec, local: str, destination_surl: str) -> str:
        destination = local_path(destination_surl)
        try:
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            partial = f"{destination}.part"
            shutil.copyfile(local, partial)
            os.replace(partial, destination)
        except OSError as exc:
            raise PilotError(errors.STAGEOUTFAILED, f"{spec.lfn}: {exc}") from None
        return destination
