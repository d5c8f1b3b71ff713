"""Legacy (pilot 3.11) parameter names -> v1 names (protocol.md §5.1, §6.1, §8.3).

The pilot builds every request with the legacy names; the v1 client renames them and drops what v1
does not declare, since a v1 endpoint answers an unknown parameter with an argument error.
"""

from __future__ import annotations

import time
from typing import Any

GETJOB_V1: dict[str, str] = {
    "siteName": "site_name",
    "computingElement": "computing_element",
    "prodSourceLabel": "prod_source_label",
    "node": "node",
    "mem": "memory",
    "diskSpace": "disk_space",
    "remaining_time": "remaining_time",
    "prodUserID": "prod_user_id",
    "getProxyKey": "get_proxy_key",
    "taskID": "task_id",
    "nJobs": "n_jobs",
    "background": "background",
    "resourceType": "resource_type",
    "harvester_id": "harvester_id",
    "worker_id": "worker_id",
    "schedulerID": "scheduler_id",
    "jobType": "job_type",
    "viaTopic": "via_topic",
    "timeout": "timeout",
}

UPDATEJOB_V1: dict[str, str] = {
    "jobId": "job_id",
    "state": "job_status",
    "attemptNr": "attempt_nr",
    "xml": "job_output_report",
    "metaData": "meta_data",
    "pilotLog": "pilot_log",
    "stdout": "stdout",
    "node": "node",
    "siteName": "site_name",
    "schedulerID": "scheduler_id",
    "pilotID": "pilot_id",
    "batchID": "batch_id",
    "transExitCode": "trans_exit_code",
    "pilotErrorCode": "pilot_error_code",
    "exeErrorCode": "exe_error_code",
    "pilotErrorDiag": "pilot_error_diag",
    "exeErrorDiag": "exe_error_diag",
    "cpuConsumptionTime": "cpu_consumption_time",
    "cpuConsumptionUnit": "cpu_consumption_unit",
    "cpuConversionFactor": "cpu_conversion_factor",
    "cpu_architecture_level": "cpu_architecture_level",
    "startTime": "start_time",
    "endTime": "end_time",
    "nEvents": "n_events",
    "nInputFiles": "n_input_files",
    "jobSubStatus": "job_sub_status",
    "jobMetrics": "job_metrics",
    "pilotTiming": "pilot_timing",
    "coreCount": "core_count",
    "meanCoreCount": "mean_core_count",
    "maxRSS": "max_rss",
    "maxVMEM": "max_vmem",
    "maxSWAP": "max_swap",
    "maxPSS": "max_pss",
    "avgRSS": "avg_rss",
    "avgVMEM": "avg_vmem",
    "avgSWAP": "avg_swap",
    "avgPSS": "avg_pss",
    "totRCHAR": "tot_rchar",
    "totWCHAR": "tot_wchar",
    "totRBYTES": "tot_rbytes",
    "totWBYTES": "tot_wbytes",
    "rateRCHAR": "rate_rchar",
    "rateWCHAR": "rate_wchar",
    "rateRBYTES": "rate_rbytes",
    "rateWBYTES": "rate_wbytes",
    "corruptedFiles": "corrupted_files",
    "grid": "grid",
    "source_site": "source_site",
    "destination_site": "destination_site",
    "timeout": "timeout",
}

WORKER_STATUS_V1: dict[str, str] = {
    "workerID": "worker_id",
    "harvesterID": "harvester_id",
    "status": "status",
    "node_id": "node_id",
}

_V1_TIMES = ("start_time", "end_time")


def to_v1(params: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in names and value is not None:
            out[names[key]] = value
    for key in _V1_TIMES:
        # v1 takes "%Y-%m-%d %H:%M:%S" (UTC); pilot 3.11 sends epoch seconds on the legacy path
        if isinstance(out.get(key), (int, float)):
            out[key] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(out[key]))
    return out
