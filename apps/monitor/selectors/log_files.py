"""The job's log tarball on our storage, for ``/filebrowser/`` (monitor.md §6).

The tarball is found through the log file's registered location (``surl`` + ``endpoint`` from the
Adder) and the DDM replicas of its ``scope:lfn``. A location is used only when it resolves to a
regular file *inside* the local POSIX root of the named storage endpoint (apps/ddm/posix.py), so a
bad catalogue entry can never make the monitor read an arbitrary file. Members are read through
:mod:`tarfile` without extracting anything: a member name is only ever a key into the archive's
index, never a filesystem path, and at most :data:`MAX_TEXT_BYTES` of a member are read.
"""

import tarfile
from dataclasses import dataclass
from pathlib import Path

from apps.ddm.interface import ddm
from apps.ddm.posix import endpoint_local_root, pfn_path
from apps.jobs.models import FileType, JobFile
from apps.sites.models import StorageEndpoint

MAX_TARBALL_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 5000
MAX_TEXT_BYTES = 1024 * 1024
# The files the job page links directly (monitor.md §1 "Job": log links).
WELL_KNOWN = ("pilotlog.txt", "payload.stdout", "payload.stderr")


class LogUnavailable(Exception):
    """The log cannot be shown; ``str()`` says why (shown to the user as is)."""


@dataclass(frozen=True)
class LogTarball:
    lfn: str
    endpoint: str
    path: Path


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    is_file: bool


def _inside(path: Path, root: Path) -> Path | None:
    try:
        resolved = path.resolve(strict=True)
        resolved.relative_to(root.resolve(strict=True))
    except (OSError, ValueError):
        return None
    return resolved if resolved.is_file() else None


def job_log_tarball(pandaid: int) -> LogTarball:
    """Where the job's log tarball is on a local endpoint; :class:`LogUnavailable` with the reason otherwise."""
    log = JobFile.objects.filter(job_id=pandaid, type=FileType.LOG).values("lfn", "scope", "surl", "endpoint").first()
    if log is None:
        raise LogUnavailable(f"job {pandaid} has no log file")
    candidates: list[tuple[str, str]] = []
    if log["surl"] and log["endpoint"]:
        candidates.append((log["endpoint"], log["surl"]))
    if log["scope"]:
        for replica in ddm().list_replicas([(log["scope"], log["lfn"])]).get((log["scope"], log["lfn"]), []):
            if replica.pfn:
                candidates.append((replica.endpoint, replica.pfn))
    if not candidates:
        raise LogUnavailable(f"the log {log['lfn']} has not been registered on any storage yet")
    endpoints = {e.name: e for e in StorageEndpoint.objects.filter(name__in={name for name, _ in candidates})}
    for name, pfn in candidates:
        endpoint = endpoints.get(name)
        root = endpoint_local_root(endpoint) if endpoint else None
        path = pfn_path(pfn)
        if root is None or path is None:
            continue
        found = _inside(path, root)
        if found is not None:
            return LogTarball(lfn=log["lfn"], endpoint=name, path=found)
    raise LogUnavailable(f"the log {log['lfn']} is not on a storage endpoint this monitor can read")


def _open(tarball: LogTarball) -> tarfile.TarFile:
    if tarball.path.stat().st_size > MAX_TARBALL_BYTES:
        raise LogUnavailable(f"the log tarball is larger than {MAX_TARBALL_BYTES // (1024 * 1024)} MiB")
    try:
        return tarfile.open(tarball.path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise LogUnavailable(f"the log {tarball.lfn} is not a readable tarball: {exc}") from exc


def tarball_members(tarball: LogTarball) -> list[Member]:
    """The archive's entries in archive order (at most :data:`MAX_MEMBERS`)."""
    members = []
    with _open(tarball) as archive:
        try:
            for info in archive:
                members.append(Member(name=info.name, size=info.size, is_file=info.isfile()))
                if len(members) >= MAX_MEMBERS:
                    break
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise LogUnavailable(f"the log {tarball.lfn} is damaged: {exc}") from exc
    return members


def well_known_members(members: list[Member]) -> dict[str, str]:
    """basename -> member name of the pilot log and the payload's stdout/stderr, when present."""
    found: dict[str, str] = {}
    for member in members:
        base = member.name.rsplit("/", 1)[-1]
        if member.is_file and base in WELL_KNOWN and base not in found:
            found[base] = member.name
    return found


@dataclass(frozen=True)
class MemberText:
    name: str
    size: int
    text: str
    truncated: bool


def tarball_member_text(tarball: LogTarball, name: str) -> MemberText:
    """The first :data:`MAX_TEXT_BYTES` of the regular-file member called exactly ``name``, as text."""
    with _open(tarball) as archive:
        try:
            info = archive.getmember(name)
        except KeyError:
            raise LogUnavailable(f"{name} is not in the log tarball") from None
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise LogUnavailable(f"the log {tarball.lfn} is damaged: {exc}") from exc
        if not info.isfile():
            raise LogUnavailable(f"{name} is not a regular file")
        handle = archive.extractfile(info)
        data = handle.read(MAX_TEXT_BYTES + 1) if handle else b""
    if b"\x00" in data[:8192]:
        raise LogUnavailable(f"{name} is a binary file")
    return MemberText(
        name=name,
        size=info.size,
        text=data[:MAX_TEXT_BYTES].decode("utf-8", errors="replace"),
        truncated=len(data) > MAX_TEXT_BYTES,
    )
