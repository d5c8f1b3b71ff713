"""``mv`` copytool (pilot-harvester.md §6): files pre-placed in / left in PILOT_HOME for an agent.

Stage-in links ``<PILOT_HOME>/<lfn>`` into the job dir. Stage-out moves the file up to PILOT_HOME and
appends ``<lfn> <surl>:checksumtype=adler32:checksumvalue=<adler32>`` to ``PILOT_HOME/output.list``;
a downstream agent (Harvester stager, ARC) uploads it to the SURL.
"""

from __future__ import annotations

import os
import shutil
import threading

from pilot import errors
from pilot.datacontrol.copytools.base import Copytool
from pilot.errors import PilotError
from pilot.jobcontrol.jobspec import FileSpec

OUTPUT_LIST = "output.list"
_list_lock = threading.Lock()


class MvCopytool(Copytool):
    name = "mv"
    needs_storage = False

    def stage_in(self, spec: FileSpec, source_surl: str) -> str:
        source = os.path.join(self.context.pilot_home, spec.lfn)
        destination = os.path.join(self.context.jobdir, spec.lfn)
        if not os.path.isfile(source):
            raise PilotError(errors.MISSINGINPUTFILE, f"{spec.lfn} not found in {self.context.pilot_home}")
        try:
            os.symlink(os.path.abspath(source), destination)
        except OSError as exc:
            raise PilotError(errors.STAGEINFAILED, f"{spec.lfn}: {exc}") from None
        return destination

    def stage_out(self, spec: FileSpec, local: str, destination_surl: str) -> str:
        destination = os.path.join(self.context.pilot_home, spec.lfn)
        try:
            shutil.move(local, destination)
        except OSError as exc:
            raise PilotError(errors.STAGEOUTFAILED, f"{spec.lfn}: {exc}") from None
        line = f"{spec.lfn} {destination_surl}:checksumtype=adler32:checksumvalue={spec.adler32}\n"
        with _list_lock, open(os.path.join(self.context.pilot_home, OUTPUT_LIST), "a", encoding="utf-8") as out:
            out.write(line)
        return destination
