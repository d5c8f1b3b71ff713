"""Full job descriptions for ``job/get_description`` (protocol.md §10.2)."""

from typing import Any

from apps.jobs.models import Job, JobFile, JobMetadata, JobParameters
from apps.jobs.serialization import job_description

# Below every backend's limit on bound parameters in one IN list.
_CHUNK = 900


def jobs_describe(*, pandaids: list[int]) -> list[dict[str, Any] | None]:
    """One description per requested id, in request order; ``None`` for an id that matches no job."""
    wanted = list(dict.fromkeys(pandaids))
    jobs: dict[int, Job] = {}
    files: dict[int, list[JobFile]] = {}
    params: dict[int, str] = {}
    metadata: dict[int, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        jobs.update((job.pandaid, job) for job in Job.objects.filter(pandaid__in=chunk))
        for jobfile in JobFile.objects.filter(job_id__in=chunk).order_by("row_id"):
            files.setdefault(jobfile.job_id, []).append(jobfile)
        params.update(JobParameters.objects.filter(job_id__in=chunk).values_list("job_id", "jobparameters"))
        metadata.update(JobMetadata.objects.filter(job_id__in=chunk).values_list("job_id", "metadata"))
    return [
        job_description(
            jobs[pandaid],
            files=files.get(pandaid, []),
            job_parameters=params.get(pandaid),
            metadata=metadata.get(pandaid),
        )
        if pandaid in jobs
        else None
        for pandaid in pandaids
    ]
