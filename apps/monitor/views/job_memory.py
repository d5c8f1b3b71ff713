"""``/prmonplots/<pandaid>/`` (monitor.md §1 "Job"): a job's memory and I/O as its pilot reported them.

Only summary values are stored (selectors/job_memory.py), so the plot compares maximum and average
memory per kind, and the page says that time series are not recorded.
"""

from apps.monitor.plots import svg
from apps.monitor.selectors.job_memory import job_memory
from apps.monitor.views.common import respond
from apps.monitor.views.identity import not_found
from apps.monitor.views.readable import readable

NO_SERIES = (
    "The pilot reports memory and I/O summaries (maximum and average) with its heartbeats; no time series is "
    "recorded, so there are no curves over time."
)


@readable
def prmon_page(request, pandaid: int):
    data = job_memory(pandaid)
    if data is None:
        return not_found(request, f"job {pandaid} not found")
    chart = svg.bars(
        [
            (f"{label} {row['name']}", round(row[key] / 1024, 1))
            for row in data["memory"]
            for label, key in (("max", "max_kb"), ("avg", "avg_kb"))
            if row[key] is not None
        ],
        title=f"Memory of job {pandaid}",
        ylabel="MB",
    )
    warnings = [] if data["reported"] else ["The pilot has not reported memory values for this job (yet)."]
    context = {
        "title": f"Memory of job {pandaid}",
        "pandaid": pandaid,
        "warnings": warnings,
        "note": NO_SERIES,
        "chart": chart,
        **data,
    }
    json_data = {**data, "timeseries": None, "note": NO_SERIES, "warnings": warnings}
    return respond(request, "monitor/prmon.html", context, json_data=json_data)
