"""Start-up, the workflow, shutdown, exit code (pilot-harvester.md §1)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import time
from types import FrameType

from pilot import __version__, errors, harvester
from pilot.cli import Args, parse_args
from pilot.comm.credentials import find_credentials
from pilot.comm.server import PandaServer, server_base_url
from pilot.context import PilotContext
from pilot.errors import PilotError
from pilot.info.queuedata import load_queuedata
from pilot.info.storage import load_storagedata
from pilot.jobcontrol.spool import SPOOL_DIR
from pilot.jobcontrol.updater import flush_spool
from pilot.logsetup import setup_logging
from pilot.monitor.pilotmonitor import PilotMonitor
from pilot.settings import Settings
from pilot.util.kill import become_subreaper
from pilot.util.workernode import node_name
from pilot.workflow import run_generic

logger = logging.getLogger("pilot")

CVMFS_PROBE = "/cvmfs/atlas.cern.ch/repo/sw"


def make_pilot_home(args: Args) -> tuple[str, str, bool]:
    """(PILOT_HOME, base dir, created): ``<-a>/PanDA_Pilot3_<pid>_<epoch>`` or the current directory."""
    if args.workdir:
        base = os.path.abspath(args.workdir)
        home = os.path.join(base, f"PanDA_Pilot3_{os.getpid()}_{int(time.time())}")
        try:
            os.makedirs(home)
        except OSError as exc:
            raise PilotError(errors.MKDIR, f"{home}: {exc}") from None
        return home, base, True
    cwd = os.getcwd()
    return cwd, cwd, False


def export_environment(ctx: PilotContext) -> None:
    args = ctx.args
    base = server_base_url(args.url, args.port)
    os.environ.update(
        {
            "PILOT_HOME": ctx.pilot_home,
            "PILOT_WORK_DIR": ctx.pilot_home,
            "PILOT_SOURCE_DIR": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            "PILOT_USER": args.pilot_user,
            "PILOT_VERSION": __version__,
            "PANDA_SERVER_URL": base,
            "QUEUEDATA_SERVER_URL": args.queuedata_url,
            "STORAGEDATA_SERVER_URL": args.storagedata_url,
            "PILOT_JOB_STATE": "",
            "SERVER_UPDATE": "NOT_DONE",
        }
    )


def default_document_urls(args: Args) -> None:
    """Without explicit URLs, read the documents from the same server (pilot 3.11 would ask CERN)."""
    base = server_base_url(args.url, args.port)
    if not args.queuedata_url and base:
        args.queuedata_url = f"{base}/cache/schedconfig/{{pandaqueue}}.all.json"
    if not args.storagedata_url and base:
        args.storagedata_url = f"{base}/cache/ddmendpoints.json"


def install_signal_handlers(ctx: PilotContext) -> None:
    on_kubernetes = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))

    def handler(signum: int, _frame: FrameType | None) -> None:
        code = errors.signal_error_code(signum)
        if signum == signal.SIGTERM and on_kubernetes:
            code = errors.PREEMPTION
        logger.warning("pilot received signal %s: aborting", signal.Signals(signum).name)
        ctx.set_exit_error(code)
        ctx.abort.set()
        run = ctx.current
        if run is not None:
            run.kill.trip(code)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGXCPU, signal.SIGBUS):
        signal.signal(sig, handler)


def check_cvmfs(args: Args) -> None:
    if not args.cvmfs_check or os.environ.get("NO_CVMFS_OK"):
        return
    if not os.path.isdir(CVMFS_PROBE):
        raise PilotError(errors.CVMFSISNOTALIVE, f"{CVMFS_PROBE} is not available (use -b to skip this check)")


def worker_status(ctx: PilotContext, status: str) -> None:
    args = ctx.args
    harvester_id, worker_id = os.environ.get("HARVESTER_ID"), os.environ.get("HARVESTER_WORKER_ID")
    if not (harvester_id and worker_id) or not args.update_worker_status or not args.update_server:
        return
    if ctx.server is None:
        return
    site = ctx.queuedata.resource if ctx.queuedata else args.queue
    if ctx.server.update_worker_status(
        worker_id=worker_id, harvester_id=harvester_id, status=status, site=site, node=node_name()
    ):
        ctx.server_contact()


def startup(ctx: PilotContext) -> None:
    args = ctx.args
    if args.ignored:
        logger.warning("ignoring unknown options: %s", " ".join(args.ignored))
    check_cvmfs(args)
    default_document_urls(args)
    if args.update_server:
        base = server_base_url(args.url, args.port)
        if not base:
            raise PilotError(errors.COMMUNICATIONFAILURE, "no server URL (--url) and no -z")
        creds = find_credentials(pilot_home=ctx.pilot_home, capath=args.capath, cacert=args.cacert)
        if not creds.present:
            # pilot 3.11 silently never asks for a job in this case; we stop loudly
            raise PilotError(errors.NOPROXY, "no credential: set OIDC_AUTH_TOKEN (token file) or X509_USER_PROXY")
        ctx.server = PandaServer(base_url=base, api=args.api, creds=creds, settings=ctx.settings)
        logger.info(
            "server %s (%s API), credential: %s",
            base,
            args.api,
            "token " + creds.token_path if creds.token_path else "x509 " + creds.proxy_path,
        )
    worker_status(ctx, "started")
    ctx.queuedata = load_queuedata(queue=args.queue, pilot_home=ctx.pilot_home, url=args.queuedata_url)
    ctx.queuedata.validate()
    os.environ["PILOT_SITENAME"] = ctx.queuedata.resource
    ctx.storage = load_storagedata(pilot_home=ctx.pilot_home, url=args.storagedata_url)
    if ctx.server is not None and ctx.queuedata.catchall_flag("curlgetjob") and args.api == "legacy":
        ctx.server.legacy_style = "form"
        logger.info("queue catchall has curlgetjob: legacy calls are form posts")


def shutdown(ctx: PilotContext) -> None:
    if ctx.args.update_server and ctx.server is not None:
        remaining = flush_spool(ctx, max_wait=0)
        if remaining:
            ctx.set_exit_error(errors.COMMUNICATIONFAILURE)
    worker_status(ctx, "finished")
    if ctx.args.harvester:
        harvester.kill_worker(ctx.pilot_home)


def _keep_home(ctx: PilotContext) -> bool:
    """PILOT_HOME holds files someone still needs: outputs left for an agent, Harvester files."""
    keep = ("output.list", harvester.KILL_WORKER, harvester.WORKER_ATTRIBUTES, harvester.EVENT_STATUS, SPOOL_DIR)
    return any(os.path.exists(os.path.join(ctx.pilot_home, name)) for name in keep)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.load(args.config or None)
    except (OSError, ValueError) as exc:
        print(f"pilot: bad configuration: {exc}", file=sys.stderr)
        return errors.shell_exit_code(errors.GENERALERROR)
    try:
        pilot_home, base_dir, created = make_pilot_home(args)
    except PilotError as exc:
        print(f"pilot: {exc.diag}", file=sys.stderr)
        return errors.shell_exit_code(exc.code)
    pilot_log = os.path.join(pilot_home, "pilotlog.txt")
    setup_logging(pilot_log, debug=args.debug)
    ctx = PilotContext(args=args, settings=settings, pilot_home=pilot_home, base_dir=base_dir, pilot_log=pilot_log)
    export_environment(ctx)
    install_signal_handlers(ctx)
    become_subreaper()
    logger.info("pilot %s starting: queue=%s workdir=%s pid=%d", __version__, args.queue, pilot_home, os.getpid())
    monitor = PilotMonitor(ctx)
    try:
        startup(ctx)
        flush_spool(ctx, max_wait=0)
        monitor.start()
        run_generic(ctx)
    except PilotError as exc:
        logger.error("pilot failed: %s", exc.diag)
        ctx.set_exit_error(exc.code)
    except Exception as exc:
        logger.exception("unexpected pilot failure")
        ctx.set_exit_error(errors.UNKNOWNEXCEPTION)
        del exc
    finally:
        monitor.stop.set()
        shutdown(ctx)
    if ctx.exit_error == errors.NOJOBSINPANDA and ctx.jobs_done:
        ctx.exit_error = 0
    code = errors.shell_exit_code(ctx.exit_error)
    logger.info("pilot done: %d job(s), pilot error %d, exit code %d", ctx.jobs_done, ctx.exit_error, code)
    if created and ctx.args.cleanup and not _keep_home(ctx):
        logging.shutdown()
        logging.getLogger().handlers.clear()
        shutil.rmtree(ctx.pilot_home, ignore_errors=True)
    return code
