"""Reads for the job page (monitor.md §1 "Job"): the job, its files, side tables, status log and retry chain.

Each function does a fixed number of queries whatever the number of files, log rows or retries.
"""

from django.forms.models import model_to_dict

from apps.jedi.models import DatasetContent, JobRetryHistory
from apps.jobs.error_codes import job_errors
from apps.jobs.models import FileType, Job, JobFile, JobMetadata, JobParameters, JobStatusLog, JobText

FILE_FIELDS = (
    "row_id",
    "lfn",
    "type",
    "dataset",
    "scope",
    "guid",
    "fsize",
    "checksum",
    "status",
    "attemptnr",
    "destinationdblock",
    "destinationse",
    "endpoint",
    "datasetid",
    "fileid",
    "nevents",
    "modificationtime",
)
DSFILE_FIELDS = (
    "fileid",
    "dataset_id",
    "lfn",
    "scope",
    "type",
    "status",
    "attemptnr",
    "maxattempt",
    "failedattempt",
    "fsize",
    "nevents",
    "pandaid",
)
FILE_TYPE_ORDER = {FileType.INPUT: 0, FileType.PSEUDO_INPUT: 1, FileType.OUTPUT: 2, FileType.LOG: 3}
# A retry chain longer than this is cut (upstream caps retries far below it).
MAX_CHAIN = 200


def job_get(pandaid: int) -> Job | None:
    return Job.objects.filter(pandaid=pandaid).first()


def job_as_dict(job: Job) -> dict:
    """Every model field under its PanDA column name."""
    data = model_to_dict(job)
    data["pandaid"] = job.pandaid
    return data


def job_files(pandaid: int) -> list[dict]:
    """Input, output and log files (in that order), as dicts of :data:`FILE_FIELDS`."""
    rows = list(JobFile.objects.filter(job_id=pandaid).values(*FILE_FIELDS))
    rows.sort(key=lambda row: (FILE_TYPE_ORDER.get(row["type"], 9), row["row_id"]))
    return rows


def job_dataset_files(pandaid: int) -> list[dict]:
    """JEDI's view of the job's files (``dsfiles``): dataset contents last used by this job."""
    return list(DatasetContent.objects.filter(pandaid=pandaid).order_by("fileid").values(*DSFILE_FIELDS))


def job_side_texts(pandaid: int) -> dict:
    """Job parameters, metadata (job report) and the heartbeat texts (pilot log excerpt, stdout tail)."""
    texts = dict(JobText.objects.filter(job_id=pandaid).values_list("kind", "text"))
    return {
        "jobparameters": JobParameters.objects.filter(job_id=pandaid).values_list("jobparameters", flat=True).first()
        or "",
        "metadata": JobMetadata.objects.filter(job_id=pandaid).values_list("metadata", flat=True).first() or "",
        "pilotlog": texts.get(JobText.Kind.PILOT_LOG, ""),
        "stdout": texts.get(JobText.Kind.STDOUT, ""),
    }


def job_status_log(pandaid: int) -> list[dict]:
    """The job's state changes, oldest first, each with the time spent in the state it entered."""
    rows = list(
        JobStatusLog.objects.filter(pandaid=pandaid)
        .order_by("modificationtime", "id")
        .values("modificationtime", "oldstatus", "jobstatus", "computingsite", "reason")
    )
    for index, row in enumerate(rows):
        following = rows[index + 1] if index + 1 < len(rows) else None
        row["duration"] = (
            (following["modificationtime"] - row["modificationtime"]).total_seconds() if following else None
        )
    return rows


def job_relationships(pandaid: int, *, jeditaskid: int | None = None) -> dict:
    """The retry chain both ways: the attempts this job retried (``ancestors``) and its retries (``descendants``).

    One query reads every link of the chain: links are looked up by the chain's ``originpandaid``,
    which every link of one chain shares, within the job's task (the task index keeps it small).
    """
    scope = JobRetryHistory.objects.filter(jeditaskid=jeditaskid) if jeditaskid else JobRetryHistory.objects
    origin = (
        JobRetryHistory.objects.filter(newpandaid=pandaid).values_list("originpandaid", flat=True).first() or pandaid
    )
    links = list(
        scope.filter(originpandaid=origin)
        .order_by("ins_utc_tstamp", "id")
        .values("oldpandaid", "newpandaid", "relationtype", "ins_utc_tstamp")[:MAX_CHAIN]
    )
    if not links:
        links = list(
            JobRetryHistory.objects.filter(oldpandaid=pandaid)
            .order_by("ins_utc_tstamp", "id")
            .values("oldpandaid", "newpandaid", "relationtype", "ins_utc_tstamp")[:MAX_CHAIN]
        )
    parents = {link["newpandaid"]: link for link in links}
    children: dict[int, list[dict]] = {}
    for link in links:
        children.setdefault(link["oldpandaid"], []).append(link)
    ancestors, current, seen = [], pandaid, {pandaid}
    while current in parents and parents[current]["oldpandaid"] not in seen:
        link = parents[current]
        current = link["oldpandaid"]
        seen.add(current)
        ancestors.append({"pandaid": current, "relationtype": link["relationtype"], "time": link["ins_utc_tstamp"]})
    ancestors.reverse()
    descendants, frontier = [], [pandaid]
    while frontier:
        node = frontier.pop(0)
        for link in children.get(node, []):
            if link["newpandaid"] in seen:
                continue
            seen.add(link["newpandaid"])
            frontier.append(link["newpandaid"])
            descendants.append(
                {
                    "pandaid": link["newpandaid"],
                    "parent": node,
                    "relationtype": link["relationtype"],
                    "time": link["ins_utc_tstamp"],
                }
            )
    ids = [item["pandaid"] for item in ancestors + descendants]
    states = dict(Job.objects.filter(pandaid__in=ids).values_list("pandaid", "jobstatus")) if ids else {}
    for item in ancestors + descendants:
        item["jobstatus"] = states.get(item["pandaid"])
    return {"pandaid": pandaid, "ancestors": ancestors, "descendants": descendants}


def job_error_summary(job: Job) -> list[dict]:
    return job_errors(job)
