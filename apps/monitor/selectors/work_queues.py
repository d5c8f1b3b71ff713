"""Reads of ``/workQueues/`` (monitor.md §1 "Misc"): the work queues as this server has them.

Upstream JEDI assigns tasks to work queues; here the global-share leaves take that role (jedi.md §8):
a task is matched to a leaf by its label, working group, campaign and processing type, and the
throttler caps queued and running jobs per share. Each leaf is listed with its matching rules, its
caps and its non-final tasks and jobs (queued and running as the throttler counts them). The legacy
``workqueue_id`` that tasks may still carry is counted too. Four aggregate queries in all.
"""

from django.db.models import Count

from apps.jedi.models import Task
from apps.jedi.states import FINAL as TASK_FINAL
from apps.jobs.models import Job
from apps.jobs.states import DEFINED_GROUP, DISPATCHED, JobStatus
from apps.shares.models import GlobalShare
from apps.shares.services.tree import PATTERN_FIELDS, leaves_of

QUEUED = DEFINED_GROUP | {JobStatus.ACTIVATED, JobStatus.THROTTLED}
NOT_SPECIFIED = "Not specified"


def work_queues() -> list[dict]:
    """One row per global-share leaf in tree order, then shares that jobs or tasks carry but the tree lacks."""
    shares = list(GlobalShare.objects.select_related("parent"))
    leaves = leaves_of(shares)
    by_name = {share.name: share for share in shares}
    jobs: dict[str, dict[str, int]] = {}
    job_rows = Job.objects.filter(jobstatus__in=QUEUED | DISPATCHED).values("gshare", "jobstatus")
    for row in job_rows.annotate(n=Count("pandaid")).order_by():
        kind = "running" if row["jobstatus"] in DISPATCHED else "queued"
        counts = jobs.setdefault(row["gshare"] or NOT_SPECIFIED, {"queued": 0, "running": 0})
        counts[kind] += row["n"]
    tasks: dict[str, int] = {}
    task_rows = Task.objects.exclude(status__in=TASK_FINAL).values("gshare").annotate(n=Count("jeditaskid"))
    for row in task_rows.order_by():
        name = row["gshare"] or NOT_SPECIFIED
        tasks[name] = tasks.get(name, 0) + row["n"]
    rows = []
    for leaf in leaves:
        share = by_name[leaf.name]
        rows.append(
            {
                "name": share.name,
                "path": "/".join(node.name for node in leaf.path),
                "in_tree": True,
                "target": round(leaf.target * 100, 3),
                # A leaf matches a task when every rule along its path matches (apps/shares/services/matching.py).
                "rules": [
                    {"share": node.name, "field": field, "pattern": getattr(node, field)}
                    for node in leaf.path
                    for field in PATTERN_FIELDS
                    if getattr(node, field)
                ],
                "throttled": share.throttled,
                "queue_cap": share.queue_cap,
                "running_cap": share.running_cap,
                "tasks": tasks.get(share.name, 0),
                **jobs.get(share.name, {"queued": 0, "running": 0}),
            }
        )
    known = {leaf.name for leaf in leaves}
    for name in sorted((set(jobs) | set(tasks)) - known):
        rows.append(
            {
                "name": name,
                "path": name,
                "in_tree": False,
                "target": None,
                "rules": [],
                "throttled": None,
                "queue_cap": None,
                "running_cap": None,
                "tasks": tasks.get(name, 0),
                **jobs.get(name, {"queued": 0, "running": 0}),
            }
        )
    return rows


def legacy_work_queue_ids() -> list[dict]:
    """``workqueue_id`` values carried by non-final tasks, with their task count."""
    rows = (
        Task.objects.exclude(status__in=TASK_FINAL)
        .exclude(workqueue_id__isnull=True)
        .values("workqueue_id")
        .annotate(tasks=Count("jeditaskid"))
        .order_by("workqueue_id")
    )
    return list(rows)
