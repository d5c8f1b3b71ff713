"""Job updates Harvester sends on a pilot's behalf (``pilot/update_jobs_bulk``, protocol.md §6.5).

Without server access the pilot writes its updateJob dictionary (pilot 3.11's camelCase names) into
``worker_attributes.json``; Harvester renames the keys to the v1 ones and sends them in bulk. The
final update gets the job output report built from ``event_status.dump.json`` (the files the pilot
transferred) and the job report from ``jobReport.json``.
"""

from __future__ import annotations

import os
from typing import Any

from harvester.states import pilot_error_for_exit

# legacy (pilot 3.11) name -> v1 name of update_job (protocol.md §6.1)
LEGACY_TO_V1 = {
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
}
JOB_STATES = ("running", "starting", "holding", "transferring", "finished", "failed")
FINAL_STATES = ("finished", "failed")
HARVESTER_KILLED = 1144  # PANDAKILL: what a killed job reports


def update_from_attributes(pandaid: int, attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The v1 update of ``worker_attributes.json``; None when it names no state we can send."""
    state = attributes.get("jobStatus") or attributes.get("state")
    if state not in JOB_STATES:
        return None
    update: dict[str, Any] = {}
    for key, value in attributes.items():
        name = LEGACY_TO_V1.get(key)
        if name and value not in (None, "", "NULL"):
            update[name] = value
    update["job_id"] = pandaid
    update["job_status"] = state
    return update


def output_report(job: dict[str, Any], staged: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The job output report (protocol.md §7) of the files the pilot transferred.

    ``staged`` are the entries of ``event_status.dump.json``; the endpoint of each file is the one
    the job assigned to it (``ddmEndPointOut``, aligned with ``outFiles``).
    """
    out_files = str(job.get("outFiles") or "").split(",")
    endpoints = str(job.get("ddmEndPointOut") or "").split(",")
    endpoint_of = dict(zip(out_files, endpoints, strict=False))
    report = {}
    for entry in staged:
        path = str(entry.get("path") or "")
        lfn = os.path.basename(path)
        if not lfn:
            continue
        record: dict[str, Any] = {"guid": entry.get("guid"), "fsize": entry.get("fsize")}
        checksum = str(entry.get("chksum") or "")
        if checksum.startswith("md5:"):
            record["md5sum"] = checksum[4:]
        else:
            record["adler32"] = checksum.removeprefix("ad:")
        record["surl"] = "file://" + path if path.startswith("/") else path
        endpoint = endpoint_of.get(lfn)
        if endpoint and endpoint != "NULL":
            record["endpoint"] = endpoint
        report[lfn] = record
    return report


def worker_lost_update(pandaid: int, attempt_nr: int, *, worker_status: str, diag: str, exit_code: int | None) -> dict:
    """The final ``failed`` update of a job whose worker ended without the pilot's final word."""
    update: dict[str, Any] = {
        "job_id": pandaid,
        "job_status": "failed",
        "attempt_nr": attempt_nr,
        "pilot_error_diag": f"worker {worker_status} without a final job state: {diag}"[:250],
    }
    if worker_status in ("cancelled", "missed"):
        update["job_sub_status"] = worker_status
    if exit_code is not None:
        code = pilot_error_for_exit(exit_code)
        if code > 0:
            update["pilot_error_code"] = code
    return update
