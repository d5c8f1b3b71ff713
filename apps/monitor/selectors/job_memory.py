"""Reads of ``/prmonplots/<pandaid>/`` (monitor.md §1 "Job", §5 per-job memory plots).

The pilot's memory monitor reports summaries only (updateJob ``maxRSS``, ``avgPSS``, ..., in kB, and
the I/O totals and rates, in kB and kB/s, plus the memory leak fit in ``jobMetrics``): the server
stores them on the job row and keeps no time series, so the page shows these values, not curves.
"""

from apps.jobs.models import Job

MEMORY_KINDS = (("rss", "RSS"), ("pss", "PSS"), ("vmem", "VMEM"), ("swap", "swap"))
IO_FIELDS = (
    ("totrchar", "characters read", "kB"),
    ("totwchar", "characters written", "kB"),
    ("totrbytes", "bytes read from storage", "kB"),
    ("totwbytes", "bytes written to storage", "kB"),
    ("raterchar", "read rate (characters)", "kB/s"),
    ("ratewchar", "write rate (characters)", "kB/s"),
    ("raterbytes", "read rate (storage)", "kB/s"),
    ("ratewbytes", "write rate (storage)", "kB/s"),
)
JOB_FIELDS = (
    "pandaid",
    "jobstatus",
    "computingsite",
    "jeditaskid",
    "minramcount",
    "minramunit",
    "corecount",
    "actualcorecount",
    "meancorecount",
    "memory_leak",
    "memory_leak_x2",
    "starttime",
    "endtime",
)


def job_memory(pandaid: int) -> dict | None:
    """The job's memory and I/O summary as the pilot last reported it; ``None`` when the job does not exist."""
    memory_fields = [f"{prefix}{kind}" for kind, _ in MEMORY_KINDS for prefix in ("max", "avg")]
    row = (
        Job.objects.filter(pandaid=pandaid)
        .values(*JOB_FIELDS, *memory_fields, *(field for field, _, _ in IO_FIELDS))
        .first()
    )
    if row is None:
        return None
    memory = [
        {"name": label, "max_kb": row.pop(f"max{kind}"), "avg_kb": row.pop(f"avg{kind}")}
        for kind, label in MEMORY_KINDS
    ]
    io = [{"name": label, "field": field, "value": row.pop(field), "unit": unit} for field, label, unit in IO_FIELDS]
    reported = any(m["max_kb"] is not None or m["avg_kb"] is not None for m in memory)
    return {"job": row, "memory": memory, "io": io, "reported": reported}
