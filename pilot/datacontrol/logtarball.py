"""The log tarball ``tarball_PandaJob_<id>_<queue>``, named as the job's logFile; it always exists."""

from __future__ import annotations

import logging
import os
import tarfile

from pilot.jobcontrol.jobspec import Job

logger = logging.getLogger(__name__)

MAX_MEMBER_SIZE = 1024**3  # larger files (stray data) are left out of the log


def create_log_tarball(*, job: Job, queue: str, pilot_log: str) -> str:
    """Tar the job dir (without inputs, outputs and the log itself) plus the pilot log."""
    spec = job.logdata[0]
    path = os.path.join(job.workdir, spec.lfn)
    top = f"tarball_PandaJob_{job.jobid}_{queue}"
    excluded = {f.lfn for f in job.indata + job.outdata + job.logdata}
    with tarfile.open(path, "w:gz") as tar:
        for root, dirs, files in os.walk(job.workdir):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                relative = os.path.relpath(full, job.workdir)
                if relative in excluded or os.path.islink(full):
                    continue
                try:
                    if os.path.getsize(full) > MAX_MEMBER_SIZE:
                        logger.warning("leaving %s (too large) out of the log tarball", relative)
                        continue
                    tar.add(full, arcname=f"{top}/{relative}", recursive=False)
                except OSError as exc:
                    logger.warning("could not add %s to the log tarball: %s", relative, exc)
        if pilot_log and os.path.isfile(pilot_log):
            tar.add(pilot_log, arcname=f"{top}/{os.path.basename(pilot_log)}", recursive=False)
    logger.info("created log tarball %s", path)
    return path
