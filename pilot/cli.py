"""Command line: the subset of pilot 3.11 options (pilot-harvester.md §3) plus a few of our own."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field


def str2bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("true", "t", "yes", "y", "1"):
        return True
    if lowered in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


@dataclass
class Args:
    queue: str
    pilot_user: str = "generic"
    workflow: str = "generic"
    workdir: str = ""
    cleanup: bool = True
    job_label: str = "ptest"
    version_tag: str = "PR"
    job_type: str = ""
    resource_type: str = ""
    getjob_requests: int = 2
    getjob_failures: int = 5
    allow_same_user: bool = True
    lifetime: int = 324000
    leasetime: int = 3600
    url: str = ""
    port: int = 25443
    queuedata_url: str = ""
    storagedata_url: str = ""
    update_server: bool = True
    update_worker_status: bool = True
    cvmfs_check: bool = True
    verify_proxy: bool = True
    verify_payload_proxy: bool = True
    token_renewal: bool = True
    base_urls: list[str] = field(default_factory=list)
    debug: bool = False
    harvester_workdir: str = ""
    harvester_datadir: str = ""
    harvester_eventstatusdump: str = ""
    harvester_workerattributes: str = ""
    harvester_submit_mode: str = "PULL"
    use_rucio_traces: bool = True
    stageout_attempts: int = 1
    capath: str = ""
    cacert: str = ""
    # our own options
    api: str = "v1"
    config: str = ""
    heartbeat: float | None = None
    ignored: list[str] = field(default_factory=list)

    @property
    def harvester(self) -> bool:
        """Harvester mode as pilot 3.11 decides it (util/harvester.py is_harvester_mode)."""
        if (self.harvester_workdir or self.harvester_datadir) and not self.update_server:
            return True
        if (self.harvester_eventstatusdump or self.harvester_workerattributes) and not self.update_server:
            return True
        has_ids = "HARVESTER_ID" in os.environ or "HARVESTER_WORKER_ID" in os.environ
        return has_ids and self.push

    @property
    def push(self) -> bool:
        return self.harvester_submit_mode.upper() == "PUSH"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pilot", description="PanDA pilot (generic workflow)")
    add = p.add_argument
    add("-q", "--queue", dest="queue", required=True, help="PanDA queue")
    add("--pilot-user", dest="pilot_user", required=True, help="pilot user plugin (generic)")
    add("-w", "--workflow", dest="workflow", default="generic", choices=["generic"])
    add("-a", "--workdir", dest="workdir", default="", help="parent of the pilot work dir (default: cwd)")
    add("--cleanup", dest="cleanup", type=str2bool, nargs="?", const=True, default=True)
    add("-j", "--joblabel", dest="job_label", default="ptest", help="prodSourceLabel for getJob")
    add("-i", "--versiontag", dest="version_tag", default="PR", choices=["PR", "RC", "RCM", "ALRB", "PT"])
    add("--job-type", dest="job_type", default="", help="sent as jobType")
    add("--resource-type", dest="resource_type", default="", help="sent as resourceType")
    add("-v", "--getjobrequests", dest="getjob_requests", type=int, default=2)
    add("-x", "--getjobfailures", dest="getjob_failures", type=int, default=None)
    add("--allow-same-user", dest="allow_same_user", type=str2bool, nargs="?", const=True, default=True)
    add("-l", "--lifetime", dest="lifetime", type=int, default=324000)
    add("-L", "--leasetime", dest="leasetime", type=int, default=3600)
    add("--url", dest="url", default="", help="PanDA server URL (no scheme: https)")
    add("-p", "--port", dest="port", type=int, default=25443)
    add("--queuedata-url", dest="queuedata_url", default="")
    add("--storagedata-url", dest="storagedata_url", default="")
    add("-z", "--noserverupdate", dest="update_server", action="store_false")
    add("-k", "--noworkerpilotstatusupdate", dest="update_worker_status", action="store_false")
    add("-b", "--nocvmfs", dest="cvmfs_check", action="store_false")
    add("-t", "--noproxyverification", dest="verify_proxy", action="store_false")
    add("-u", "--verifypayloadproxy", dest="verify_payload_proxy", action="store_false")
    add("-y", "--notokenrenewal", dest="token_renewal", action="store_false")
    add("-g", "--baseurls", dest="base_urls", default="", help="allowed transformation base URLs (comma list)")
    add("-d", "--debug", dest="debug", action="store_true")
    add("--harvester-workdir", dest="harvester_workdir", default="")
    add("--harvester-datadir", dest="harvester_datadir", default="")
    add("--harvester-eventstatusdump", dest="harvester_eventstatusdump", default="")
    add("--harvester-workerattributes", dest="harvester_workerattributes", default="")
    add(
        "--harvester-submit-mode",
        dest="harvester_submit_mode",
        default="PULL",
        type=str.upper,
        choices=["PULL", "PUSH"],
    )
    add("--use-rucio-traces", dest="use_rucio_traces", type=str2bool, nargs="?", const=True, default=True)
    add("--stageout-attempts", dest="stageout_attempts", type=int, default=1)
    add("--capath", dest="capath", default="")
    add("--cacert", dest="cacert", default="")
    add("-r", dest="obsolete_r", default=None, help=argparse.SUPPRESS)
    add("-s", dest="obsolete_s", default=None, help=argparse.SUPPRESS)
    add(
        "--api",
        dest="api",
        default="v1",
        choices=["v1", "legacy"],
        help="server API: v1 (/api/v1/pilot/*, default) or legacy (/server/panda/*, as pilot 3.11)",
    )
    add("--config", dest="config", default="", help="INI file with a [Pilot] section overriding timers")
    add("--heartbeat", dest="heartbeat", type=float, default=None, help="heartbeat period in s (default 1800)")
    return p


def parse_args(argv: list[str]) -> Args:
    parser = build_parser()
    ns, unknown = parser.parse_known_args(argv)
    values = vars(ns)
    values.pop("obsolete_r", None)
    values.pop("obsolete_s", None)
    base_urls = values.pop("base_urls") or os.environ.get("PANDA_BASE_URLS", "")
    failures = values.pop("getjob_failures")
    args = Args(**values, base_urls=[u.strip() for u in base_urls.split(",") if u.strip()], ignored=unknown)
    args.getjob_failures = failures if failures is not None else (12 if args.push else 5)
    return args
