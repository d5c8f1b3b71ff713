"""Merge jobs for ``mergeOutput`` tasks (jedi.md §9).

With ``mergeOutput`` the task's jobs write pre-merged files (``panda.um.<lfn>``) into their queue's
instance of the ``tmpl_output``/``tmpl_log`` datasets (see
:meth:`~apps.jedi.services.jobbuilder.JobBuilder._output_dataset`). Once no pre-merge job of a
queue is still in flight, the pre-merged files of the jobs that finished there are grouped —
``nFilesPerMergeJob`` producing jobs per merge job (default :data:`DEFAULT_FILES_PER_MERGE_JOB`),
or up to ``nGBPerMergeJob`` (and never more than :data:`MAX_MERGED_SIZE`) of pre-merged output —
and each group becomes one merge job at that queue: ``processingType=pmerge``, priority 5000,
``mergeSpec.transPath`` with the ``mergeSpec.jobParameters`` template, where
``${TRN_OUTPUT0}``/``${TRN_LOG0}`` list the pre-merged files and ``${OUTPUT0}``/``${LOG0}`` are the
final files (the task's output/log templates). A pre-merged file belongs to at most one merge job
(its ``pandaid`` is set only while still empty).
"""

import random
from collections import defaultdict

from apps.jedi.models import DatasetContent, DatasetType, Task, TaskDataset
from apps.jedi.services.jobbuilder import BUNCH_SIZE, FilesTaken, JobBuilder, JobSpecDraft, jobs_hand_over
from apps.jedi.splitter import GB, Chunk, Piece
from apps.jobs.models import Job
from apps.jobs.states import FINAL, JobStatus
from apps.sites.models import PandaQueue

DEFAULT_FILES_PER_MERGE_JOB = 50
MAX_MERGED_SIZE = 5 * GB


def _groups(producers: list[int], rows_of: dict[int, list[DatasetContent]], rules: dict) -> list[list[int]]:
    """Producing jobs grouped per merge job by ``nFilesPerMergeJob`` / ``nGBPerMergeJob`` (≤ 5 GB)."""
    per_job = rules.get("nFilesPerMergeJob") or rules.get("nMaxFilesPerMergeJob") or DEFAULT_FILES_PER_MERGE_JOB
    max_size = min(rules["nGBPerMergeJob"] * GB, MAX_MERGED_SIZE) if rules.get("nGBPerMergeJob") else MAX_MERGED_SIZE
    groups: list[list[int]] = []
    current: list[int] = []
    size = 0
    for pandaid in producers:
        produced = sum(row.fsize or 0 for row in rows_of[pandaid] if row.type == "output")
        if current and (len(current) >= per_job or size + produced > max_size):
            groups.append(current)
            current, size = [], 0
        current.append(pandaid)
        size += produced
    if current:
        groups.append(current)
    return groups


def mergeable(task: Task) -> dict[str, list[DatasetContent]]:
    """Per queue, the unmerged pre-merged files of finished jobs, when none of that queue's
    pre-merge jobs is still in flight."""
    instances = TaskDataset.objects.filter(
        task=task, type__in=(DatasetType.TMPL_OUTPUT, DatasetType.TMPL_LOG), templateid__isnull=False
    )
    by_site: dict[str, list[DatasetContent]] = defaultdict(list)
    rows = DatasetContent.objects.filter(
        dataset__in=instances, pandaid__isnull=True, outpandaid__isnull=False
    ).select_related("dataset")
    for row in rows.order_by("fileid"):
        by_site[row.dataset.site].append(row)
    result = {}
    for site, site_rows in by_site.items():
        producers = {row.outpandaid for row in site_rows}
        statuses = dict(Job.objects.filter(pandaid__in=producers).values_list("pandaid", "jobstatus"))
        if any(status not in FINAL for status in statuses.values()):
            continue
        ready = [row for row in site_rows if statuses.get(row.outpandaid) == JobStatus.FINISHED]
        if ready:
            result[site] = ready
    return result


def generate_merge_jobs(
    task: Task,
    *,
    rules: dict,
    template: str,
    merge_spec: dict,
    setup: bool = True,
    rng: random.Random | None = None,
) -> int:
    """Make the merge jobs that are due for ``task``; answers how many were made."""
    due = mergeable(task)
    if not due:
        return 0
    queues = {q.name: q for q in PandaQueue.objects.filter(name__in=list(due))}
    builder = JobBuilder(task, template=template, rules=rules, queues=queues, merge_spec=merge_spec, rng=rng)
    made = 0
    for site, rows in due.items():
        rows_of: dict[int, list[DatasetContent]] = defaultdict(list)
        for row in rows:
            rows_of[row.outpandaid].append(row)
        drafts = []
        for group in _groups(sorted(rows_of), rows_of, rules):
            members = [row for pandaid in group for row in rows_of[pandaid]]
            streams: dict[str, list[DatasetContent]] = defaultdict(list)
            for row in members:
                streams[row.dataset.streamname or "OUTPUT0"].append(row)
            chunk = Chunk(pieces=[Piece(row) for row in members])
            drafts.append(JobSpecDraft(chunk=chunk, site=site, merge=True, merge_inputs=dict(streams)))
        for start in range(0, len(drafts), BUNCH_SIZE):
            try:
                stored = builder.store(drafts[start : start + BUNCH_SIZE])
            except FilesTaken:
                break
            jobs_hand_over(stored.pandaids, setup=setup)
            made += len(stored.pandaids)
    return made
