"""Pilot error codes (same numbers and names as PanDA pilot 3), payload-exit mapping and shell exit codes."""

from __future__ import annotations

import signal

# code -> (name, standard message). Messages are what the server shows as pilotErrorDiag.
_TABLE: dict[int, tuple[str, str]] = {
    1008: ("GENERALERROR", "General pilot error, consult batch log"),
    1098: ("NOLOCALSPACE", "Not enough local space"),
    1099: ("STAGEINFAILED", "Failed to stage-in file"),
    1100: ("REPLICANOTFOUND", "Replica not found"),
    1103: ("NOSUCHFILE", "No such file or directory"),
    1104: ("USERDIRTOOLARGE", "User work directory too large"),
    1106: ("STDOUTTOOBIG", "Payload log or stdout file too big"),
    1110: ("SETUPFAILURE", "Failed during payload setup"),
    1115: ("NFSSQLITE", "NFS SQLite locking problems"),
    1116: ("QUEUEDATA", "Pilot could not download queuedata"),
    1117: ("QUEUEDATANOTOK", "Pilot found non-valid queuedata"),
    1124: ("OUTPUTFILETOOLARGE", "Output file too large"),
    1133: ("NOSTORAGE", "Fetching default storage failed: no activity related storage defined"),
    1137: ("STAGEOUTFAILED", "Failed to stage-out file"),
    1141: ("PUTMD5MISMATCH", "md5sum mismatch on output file"),
    1143: ("CHMODTRF", "Failed to chmod transform"),
    1144: ("PANDAKILL", "This job was killed by panda server"),
    1145: ("GETMD5MISMATCH", "md5sum mismatch on input file"),
    1149: ("TRFDOWNLOADFAILURE", "Transform could not be downloaded"),
    1150: ("LOOPINGJOB", "Looping job killed by pilot"),
    1151: ("STAGEINTIMEOUT", "File transfer timed out during stage-in"),
    1152: ("STAGEOUTTIMEOUT", "File transfer timed out during stage-out"),
    1163: ("NOPROXY", "Grid proxy not valid"),
    1165: ("MISSINGOUTPUTFILE", "Local output file is missing"),
    1168: ("SIZETOOLARGE", "Total file size too large"),
    1171: ("GETADMISMATCH", "adler32 mismatch on input file"),
    1172: ("PUTADMISMATCH", "adler32 mismatch on output file"),
    1177: ("NOVOMSPROXY", "Voms proxy not valid"),
    1180: ("GETGLOBUSSYSERR", "Globus system error during stage-in"),
    1181: ("PUTGLOBUSSYSERR", "Globus system error during stage-out"),
    1186: ("NOSOFTWAREDIR", "Software directory does not exist"),
    1187: ("NOPAYLOADMETADATA", "Payload metadata does not exist"),
    1190: ("LFNTOOLONG", "LFN too long (exceeding limit of 255 characters)"),
    1191: ("ZEROFILESIZE", "File size cannot be zero"),
    1199: ("MKDIR", "Failed to create directory"),
    1200: ("KILLSIGNAL", "Job terminated by unknown kill signal"),
    1201: ("SIGTERM", "Job killed by signal: SIGTERM"),
    1202: ("SIGQUIT", "Job killed by signal: SIGQUIT"),
    1203: ("SIGSEGV", "Job killed by signal: SIGSEGV"),
    1204: ("SIGXCPU", "Job killed by signal: SIGXCPU"),
    1205: ("USERKILL", "Job killed by user"),
    1206: ("SIGBUS", "Job killed by signal: SIGBUS"),
    1207: ("SIGUSR1", "Job killed by signal: SIGUSR1"),
    1208: ("SIGINT", "Job killed by signal: SIGINT"),
    1211: ("MISSINGINSTALLATION", "Missing installation"),
    1212: ("PAYLOADOUTOFMEMORY", "Payload ran out of memory"),
    1213: ("REACHEDMAXTIME", "Reached batch system time limit"),
    1220: ("UNKNOWNPAYLOADFAILURE", "Job failed due to unknown reason (consult log file)"),
    1221: ("FILEEXISTS", "File already exists"),
    1223: ("BADALLOC", "Transform failed due to bad_alloc"),
    1224: ("ESRECOVERABLE", "Event service: recoverable error"),
    1228: ("ESFATAL", "Event service: fatal error"),
    1234: ("EXECUTEDCLONEJOB", "Clone job is already executed"),
    1235: ("PAYLOADEXCEEDMAXMEM", "Payload exceeded maximum allowed memory"),
    1236: ("FAILEDBYSERVER", "Failed by server"),
    1238: ("ESNOEVENTS", "Event service: no events"),
    1240: ("MESSAGEHANDLINGFAILURE", "Failed to handle message from payload"),
    1242: ("CHKSUMNOTSUP", "Query checksum is not supported"),
    1244: ("NORELEASEFOUND", "No release candidates found"),
    1246: ("NOUSERTARBALL", "User tarball could not be downloaded from PanDA server"),
    1247: ("BADXML", "Badly formed XML"),
    1300: ("NOTIMPLEMENTED", "The class or function is not implemented"),
    1301: ("UNKNOWNEXCEPTION", "An unknown pilot exception has occurred"),
    1302: ("CONVERSIONFAILURE", "Failed to convert object data"),
    1303: ("FILEHANDLINGFAILURE", "Failed during file handling"),
    1305: ("PAYLOADEXECUTIONFAILURE", "Failed to execute payload"),
    1306: ("SINGULARITYGENERALFAILURE", "Singularity/Apptainer: general failure"),
    1307: ("SINGULARITYNOLOOPDEVICES", "Singularity/Apptainer: No more available loop devices"),
    1308: ("SINGULARITYBINDPOINTFAILURE", "Singularity/Apptainer: Not mounting requested bind point"),
    1309: ("SINGULARITYIMAGEMOUNTFAILURE", "Singularity/Apptainer: Failed to mount image"),
    1310: ("PAYLOADEXECUTIONEXCEPTION", "Exception caught during payload execution"),
    1311: ("NOTDEFINED", "Not defined"),
    1312: ("NOTSAMELENGTH", "Not same length"),
    1313: ("NOSTORAGEPROTOCOL", "No protocol defined for storage endpoint"),
    1314: ("UNKNOWNCHECKSUMTYPE", "Unknown checksum type"),
    1315: ("UNKNOWNTRFFAILURE", "Unknown transform failure"),
    1316: ("RUCIOSERVICEUNAVAILABLE", "Rucio: Service unavailable"),
    1317: ("EXCEEDEDMAXWAITTIME", "Exceeded maximum waiting time"),
    1318: ("COMMUNICATIONFAILURE", "Failed to communicate with server"),
    1319: ("INTERNALPILOTPROBLEM", "An internal Pilot problem has occurred (consult Pilot log)"),
    1320: ("LOGFILECREATIONFAILURE", "Failed during creation of log file"),
    1321: ("RUCIOLOCATIONFAILED", "Failed to get client location for Rucio"),
    1322: ("RUCIOLISTREPLICASFAILED", "Failed to get replicas from Rucio"),
    1323: ("UNKNOWNCOPYTOOL", "Unknown copy tool"),
    1324: ("SERVICENOTAVAILABLE", "Service not available at the moment"),
    1325: ("SINGULARITYNOTINSTALLED", "Singularity: not installed"),
    1326: ("NOREPLICAS", "No matching replicas were found in list_replicas() output"),
    1327: ("UNREACHABLENETWORK", "Unable to stage-in file since network is unreachable"),
    1328: ("PAYLOADSIGSEGV", "SIGSEGV: Invalid memory reference or a segmentation fault"),
    1329: ("NONDETERMINISTICDDM", "Failed to construct SURL for non-deterministic ddm (update CRIC)"),
    1330: ("JSONRETRIEVALTIMEOUT", "JSON retrieval timed out"),
    1331: ("MISSINGINPUTFILE", "Input file is missing in storage element"),
    1332: ("BLACKHOLE", "Black hole detected in file system (consult Pilot log)"),
    1333: ("NOREMOTESPACE", "No space left on device"),
    1334: ("SETUPFATAL", "Setup failed with a fatal exception (consult Payload log)"),
    1335: ("MISSINGUSERCODE", "User code not available on PanDA server (resubmit task with --useNewCode)"),
    1336: ("JOBALREADYRUNNING", "Job is already running elsewhere"),
    1337: ("BADMEMORYMONITORJSON", "Memory monitor produced bad output"),
    1338: ("STAGEINAUTHENTICATIONFAILURE", "Authentication failure during stage-in"),
    1339: ("DBRELEASEFAILURE", "Local DBRelease handling failed (consult Pilot log)"),
    1340: ("SINGULARITYNEWUSERNAMESPACE", "Singularity/Apptainer: Failed invoking the NEWUSER namespace runtime"),
    1341: ("BADQUEUECONFIGURATION", "Bad queue configuration detected"),
    1342: ("MIDDLEWAREIMPORTFAILURE", "Failed to import middleware (consult Pilot log)"),
    1343: ("NOOUTPUTINJOBREPORT", "Found no output in job report"),
    1344: ("RESOURCEUNAVAILABLE", "Resource temporarily unavailable"),
    1345: ("SINGULARITYFAILEDUSERNAMESPACE", "Singularity/Apptainer: Failed to create user namespace"),
    1346: ("TRANSFORMNOTFOUND", "Transform not found"),
    1347: ("UNSUPPORTEDSL5OS", "Unsupported SL5 OS"),
    1348: ("SINGULARITYRESOURCEUNAVAILABLE", "Singularity/Apptainer: Resource temporarily unavailable"),
    1349: ("UNRECOGNIZEDTRFARGUMENTS", "Unrecognized transform arguments"),
    1350: ("EMPTYOUTPUTFILE", "Empty output file detected"),
    1351: ("UNRECOGNIZEDTRFSTDERR", "Unrecognized fatal error in transform stderr"),
    1352: ("STATFILEPROBLEM", "Failed to stat proc file for CPU consumption calculation"),
    1353: ("NOSUCHPROCESS", "CPU consumption calculation failed: No such process"),
    1354: ("GENERALCPUCALCPROBLEM", "General CPU consumption calculation problem (consult Pilot log)"),
    1355: ("COREDUMP", "Core dump detected"),
    1356: ("PREPROCESSFAILURE", "Pre-process command failed"),
    1357: ("POSTPROCESSFAILURE", "Post-process command failed"),
    1358: ("MISSINGRELEASEUNPACKED", "Missing release setup in unpacked container"),
    1359: ("PANDAQUEUENOTACTIVE", "PanDA queue is not active"),
    1360: ("IMAGENOTFOUND", "Image not found"),
    1361: ("REMOTEFILECOULDNOTBEOPENED", "Remote file could not be opened"),
    1362: ("XRDCPERROR", "Xrdcp was unable to open file"),
    1363: ("KILLPAYLOAD", "Raythena has decided to kill payload"),
    1364: ("MISSINGCREDENTIALS", "Unable to locate credentials for S3 transfer"),
    1365: ("NOCTYPES", "Python module ctypes not available on worker node"),
    1366: ("CHECKSUMCALCFAILURE", "Failure during checksum calculation"),
    1367: ("COMMANDTIMEDOUT", "Command timed out"),
    1368: ("REMOTEFILEOPENTIMEDOUT", "Remote file open timed out"),
    1369: ("FRONTIER", "Frontier error"),
    1370: ("VOMSPROXYABOUTTOEXPIRE", "VOMS proxy is about to expire"),
    1371: ("BADOUTPUTFILENAME", "Output file name contains illegal characters"),
    1372: ("APPTAINERNOTINSTALLED", "Apptainer: not installed"),
    1373: ("CERTIFICATEHASEXPIRED", "Certificate has expired"),
    1374: ("REMOTEFILEDICTDOESNOTEXIST", "Remote file open dictionary does not exist"),
    1375: ("LEASETIME", "Lease time is up"),
    1376: ("LOGCREATIONTIMEOUT", "Log file creation timed out"),
    1377: ("CVMFSISNOTALIVE", "CVMFS is not responding"),
    1378: ("LSETUPTIMEDOUT", "Lsetup command timed out during remote file open"),
    1379: ("PREEMPTION", "Job was preempted"),
    1380: ("ARCPROXYFAILURE", "General arcproxy failure"),
    1381: ("ARCPROXYLIBFAILURE", "Arcproxy failure while loading shared libraries"),
    1382: ("PROXYTOOSHORT", "Proxy is too short"),
    1383: ("STAGEOUTAUTHENTICATIONFAILURE", "Authentication failure during stage-out"),
    1384: ("QUEUENOTSETUPFORCONTAINERS", "Queue is not set up for containers"),
    1385: ("NOJOBSINPANDA", "No jobs in PanDA"),
    1386: ("PANDAQUEUENOTONLINE", "PanDA queue is not online"),
}

CODES: dict[str, int] = {name: code for code, (name, _) in _TABLE.items()}

GENERALERROR = 1008
NOLOCALSPACE = 1098
STAGEINFAILED = 1099
REPLICANOTFOUND = 1100
NOSUCHFILE = 1103
USERDIRTOOLARGE = 1104
QUEUEDATA = 1116
QUEUEDATANOTOK = 1117
NOSTORAGE = 1133
STAGEOUTFAILED = 1137
PUTMD5MISMATCH = 1141
CHMODTRF = 1143
PANDAKILL = 1144
GETMD5MISMATCH = 1145
TRFDOWNLOADFAILURE = 1149
LOOPINGJOB = 1150
STAGEINTIMEOUT = 1151
STAGEOUTTIMEOUT = 1152
NOPROXY = 1163
MISSINGOUTPUTFILE = 1165
GETADMISMATCH = 1171
PUTADMISMATCH = 1172
LFNTOOLONG = 1190
MKDIR = 1199
KILLSIGNAL = 1200
SIGTERM = 1201
SIGQUIT = 1202
SIGSEGV = 1203
SIGXCPU = 1204
SIGBUS = 1206
SIGUSR1 = 1207
SIGINT = 1208
PAYLOADOUTOFMEMORY = 1212
REACHEDMAXTIME = 1213
BADALLOC = 1223
PAYLOADEXCEEDMAXMEM = 1235
NOTIMPLEMENTED = 1300
UNKNOWNEXCEPTION = 1301
FILEHANDLINGFAILURE = 1303
STDOUTTOOBIG = 1106
PAYLOADEXECUTIONFAILURE = 1305
PAYLOADEXECUTIONEXCEPTION = 1310
NOTSAMELENGTH = 1312
NOSTORAGEPROTOCOL = 1313
UNKNOWNCHECKSUMTYPE = 1314
UNKNOWNTRFFAILURE = 1315
COMMUNICATIONFAILURE = 1318
INTERNALPILOTPROBLEM = 1319
LOGFILECREATIONFAILURE = 1320
UNKNOWNCOPYTOOL = 1323
NONDETERMINISTICDDM = 1329
MISSINGINPUTFILE = 1331
BADQUEUECONFIGURATION = 1341
CHECKSUMCALCFAILURE = 1366
COMMANDTIMEDOUT = 1367
REMOTEFILEOPENTIMEDOUT = 1368
LEASETIME = 1375
CVMFSISNOTALIVE = 1377
LSETUPTIMEDOUT = 1378
PREEMPTION = 1379
NOJOBSINPANDA = 1385
PANDAQUEUENOTACTIVE = 1359
PANDAQUEUENOTONLINE = 1386

# Stage-out errors a user job may retry: the pilot sends them negated (pilot-harvester.md §8.1).
RECOVERABLE_PUT_ERRORS = frozenset({1135, 1136, 1137, 1141, 1152, 1181})

MAX_DIAG_LENGTH = 256


def name(code: int) -> str:
    return _TABLE.get(abs(code), ("UNKNOWN", ""))[0]


def message(code: int) -> str:
    return _TABLE.get(abs(code), ("", f"unknown error code: {code}"))[1]


def diag(code: int, detail: str = "") -> str:
    """Standard message plus detail, cut to the 256 characters the pilot may send."""
    text = message(code)
    if detail:
        text = f"{text}: {detail}"
    return text[:MAX_DIAG_LENGTH]


class PilotError(Exception):
    """A failure that carries a pilot error code; raised anywhere, recorded once on the job."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(diag(code, detail))
        self.code = code
        self.detail = detail

    @property
    def diag(self) -> str:
        return diag(self.code, self.detail)


_SIGNAL_CODES: dict[int, int] = {
    signal.SIGTERM: SIGTERM,
    signal.SIGQUIT: SIGQUIT,
    signal.SIGSEGV: SIGSEGV,
    signal.SIGXCPU: SIGXCPU,
    signal.SIGUSR1: SIGUSR1,
    signal.SIGBUS: SIGBUS,
    signal.SIGINT: SIGINT,
}


def signal_error_code(signum: int) -> int:
    return _SIGNAL_CODES.get(signum, KILLSIGNAL)


def payload_exit_error(exit_code: int) -> int:
    """Pilot error for a transform exit code (pilot-harvester.md §8.1); 0 means no error."""
    if exit_code == 0:
        return 0
    if exit_code == 2:
        return LSETUPTIMEDOUT
    if exit_code == 3:
        return REMOTEFILEOPENTIMEDOUT
    if exit_code in (251, -1):
        return UNKNOWNTRFFAILURE
    if exit_code == COMMANDTIMEDOUT:
        return COMMANDTIMEDOUT
    return PAYLOADEXECUTIONFAILURE


# Apptainer/Singularity failures recognised in the payload stderr even when it exits 0.
_CONTAINER_STDERR: tuple[tuple[str, int], ...] = (
    ("Not mounting requested bind point", 1308),
    ("No more available loop devices", 1307),
    ("Failed to mount image", 1309),
    ("error: while mounting", 1309),
    ("Operation not permitted", 1306),
    ("Failed to create user namespace", 1345),
    ("Singularity is not installed", 1325),
    ("Apptainer is not installed", 1372),
)


def container_stderr_error(stderr: str) -> tuple[int, str]:
    for text, code in _CONTAINER_STDERR:
        if text in stderr:
            return code, text
    return 0, ""


_SHELL_EXIT: dict[int, int] = {
    1377: 64,
    1008: 65,
    1199: 66,
    1103: 67,
    1177: 68,
    1163: 68,
    1373: 68,
    1098: 69,
    1301: 70,
    1116: 71,
    1117: 72,
    1186: 73,
    1330: 74,
    1332: 75,
    1342: 76,
    1331: 77,
    1359: 78,
    1318: 79,
    1382: 80,
    1213: 81,
    1385: 82,
    1386: 83,
    1208: 130,
    1202: 131,
    1206: 135,
    1200: 137,
    1207: 138,
    1203: 139,
    1201: 143,
    1204: 152,
}

SITE_OFFLINE = -1


def shell_exit_code(code: int) -> int:
    """The exit status Harvester and wrappers expect for a pilot error (pilot-harvester.md §8.3)."""
    if code == 0:
        return 0
    if code == SITE_OFFLINE:
        return 64
    return _SHELL_EXIT.get(abs(code), 1)


def error_from_shell_exit(exit_code: int) -> int:
    """Inverse of :func:`shell_exit_code` (what Harvester does); unknown gives -1."""
    if exit_code == 0:
        return 0
    for code, shell in _SHELL_EXIT.items():
        if shell == exit_code and code not in (1163, 1373):
            return code
    return -1
