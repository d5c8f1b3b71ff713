"""Getting the transformation script into the job dir (protocol.md §11.4, pilot-harvester.md §2)."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import stat
import urllib.request

from pilot import errors
from pilot.comm.transport import USER_AGENT
from pilot.errors import PilotError

logger = logging.getLogger(__name__)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def allowed(url: str, base_urls: list[str]) -> bool:
    return any(url.startswith(base) for base in base_urls if base)


def prepare_transformation(*, transformation: str, jobdir: str, base_urls: list[str], timeout: float = 120.0) -> str:
    """Place the script in the job dir, ``chmod 755`` it, return the command prefix (``./<basename>``).

    A transformation that is not a URL is run as given (a command on the worker node's PATH).
    """
    if not transformation:
        raise PilotError(errors.TRFDOWNLOADFAILURE, "job has no transformation")
    if not is_url(transformation):
        return transformation
    if not allowed(transformation, base_urls):
        raise PilotError(errors.TRFDOWNLOADFAILURE, f"{transformation} does not start with an allowed base URL")
    name = os.path.basename(transformation.split("?", 1)[0])
    if not name or name in (".", ".."):
        raise PilotError(errors.TRFDOWNLOADFAILURE, f"no file name in {transformation}")
    path = os.path.join(jobdir, name)
    harvester_dir = os.environ.get("HARVESTER_WORKDIR", "")
    if harvester_dir and os.path.isfile(os.path.join(harvester_dir, name)):
        shutil.copy(os.path.join(harvester_dir, name), path)
        logger.info("copied transformation %s from %s", name, harvester_dir)
    else:
        _download(transformation, path, timeout=timeout)
    try:
        os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    except OSError as exc:
        raise PilotError(errors.CHMODTRF, str(exc)) from None
    return f"./{shlex.quote(name)}"


def _download(url: str, path: str, *, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(path, "wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out)
    except (OSError, ValueError) as exc:
        raise PilotError(errors.TRFDOWNLOADFAILURE, f"{url}: {exc}") from None
    logger.info("downloaded transformation %s", url)
