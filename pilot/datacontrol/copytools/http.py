"""HTTP(S) download copytool (stage-in only; stage-out falls through to the next copytool)."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request

from pilot import errors
from pilot.comm.transport import USER_AGENT
from pilot.datacontrol.copytools.base import Copytool
from pilot.errors import PilotError
from pilot.jobcontrol.jobspec import FileSpec


class HttpCopytool(Copytool):
    name = "http"

    def supports(self, surl: str) -> bool:
        return surl.startswith(("http://", "https://", "davs://"))

    def stage_in(self, spec: FileSpec, source_surl: str) -> str:
        url = "https://" + source_surl[len("davs://") :] if source_surl.startswith("davs://") else source_surl
        destination = os.path.join(self.context.jobdir, spec.lfn)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            # one "with" per context: parenthesised context managers need Python 3.10, the pilot runs on 3.9
            with urllib.request.urlopen(request, timeout=self.context.timeout) as response:  # noqa: S310, SIM117
                with open(destination, "wb") as out:
                    shutil.copyfileobj(response, out)
        except urllib.error.HTTPError as exc:
            code = errors.MISSINGINPUTFILE if exc.code == 404 else errors.STAGEINFAILED
            raise PilotError(code, f"{spec.lfn}: HTTP {exc.code} from {url}") from None
        except (OSError, ValueError) as exc:
            raise PilotError(errors.STAGEINFAILED, f"{spec.lfn}: {exc}") from None
        return destination

    def stage_out(self, spec: FileSpec, local: str, destination_surl: str) -> str:
        raise PilotError(errors.NOTIMPLEMENTED, "the http copytool does not upload")
