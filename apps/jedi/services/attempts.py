"""More attempts for a task's input files: ``increase_attempts`` and the file reset of ``retry``/``incexec``.

An input file record (jedi.md §7) is usable while ``attemptnr < maxattempt`` and, when
``maxfailure`` is set, ``failedattempt < maxfailure``; otherwise the job-completion feedback made
it ``failed``. Both operations here give such files new attempts and put them back to ``ready``
so the JobGenerator makes jobs from them again; the dataset counters follow (the file is no
longer ``used`` nor ``failed``).

* :func:`files_increase_attempts` (``task/increase_attempts``, and the retry of a still-active
  task): every tracked input file that is still ``ready`` or ``failed`` gets ``increase`` more
  attempts (``maxfailure`` too when set) — upstream's ``increaseAttemptNrPanda``.
* :func:`files_reset_for_retry` (TaskCommando ``retry``/``incexec``): ``failed`` files get
  ``maxattempt = attemptnr + <the task's maxAttempt>``. Files that hit their hard failure
  limit (``failedattempt >= maxfailure``) are reset only with ``ignore_hard_exhausted``.
* :func:`files_to_retry` (the ``retry`` acceptance): what a retry of a finished/failed task
  would run again: the failed files :func:`files_reset_for_retry` resets, plus the ``ready``
  files of its master datasets that no job ever took (left by a soft ``finish``, whose queued jobs
  were killed; as upstream, a retry re-runs a finished task's unprocessed files). ``ready`` rows
  of secondary datasets do not count: shared ones (``repeat``/``nosplit``) stay ``ready`` for good.
"""

import json
from collections import Counter

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Greatest

from apps.jedi.models import INPUT_TYPES, ContentStatus, DatasetContent, Task, TaskDataset, TaskParams

DEFAULT_MAX_ATTEMPT = 3


def _tracked_inputs(task: Task):
    return DatasetContent.objects.filter(task=task, keeptrack=1, dataset__type__in=INPUT_TYPES)


def _exhausted() -> Q:
    """Files out of attempts: the attempt limit or the failure limit was reached."""
    return Q(attemptnr__gte=F("maxattempt")) | Q(maxfailure__isnull=False, failedattempt__gte=F("maxfailure"))


def _uncount(reset: Counter) -> None:
    """Reset files are neither used nor failed any more."""
    for dataset_id, n in reset.items():
        TaskDataset.objects.filter(datasetid=dataset_id).update(
            nfilesused=Greatest(F("nfilesused") - n, 0), nfilesfailed=Greatest(F("nfilesfailed") - n, 0)
        )


def files_increase_attempts(task: Task, increase: int) -> tuple[int, int]:
    """Give ``increase`` more attempts to the task's unfinished inputs; ``(increased, reactivated)``."""
    if increase < 0:
        raise ValueError(f"increase must be a non-negative integer, got {increase}")
    files = _tracked_inputs(task)
    with transaction.atomic():
        # Still usable: the limits move up by `increase`.
        alive = files.filter(status=ContentStatus.READY).exclude(_exhausted())
        increased = alive.update(maxattempt=F("maxattempt") + increase, maxfailure=F("maxfailure") + increase)
        # Out of attempts (failed, or ready but exhausted): new limits from where the file stands.
        dead = files.filter(Q(status=ContentStatus.FAILED) | (Q(status=ContentStatus.READY) & _exhausted()))
        reset = Counter(dead.values_list("dataset_id", flat=True))
        reactivated = dead.update(
            status=ContentStatus.READY,
            proc_status=ContentStatus.READY,
            maxattempt=F("attemptnr") + increase,
            maxfailure=Case(When(maxfailure__isnull=True, then=Value(None)), default=F("failedattempt") + increase),
        )
        _uncount(reset)
    return increased + reactivated, reactivated


def task_max_attempt(task: Task) -> int:
    """The per-file attempt allowance of the task's parameters: ``maxAttempt`` (1 with ``disableAutoRetry``)."""
    raw = TaskParams.objects.filter(task=task).values_list("taskparams", flat=True).first()
    try:
        params = json.loads(raw) if raw else {}
    except ValueError:
        params = {}
    if not isinstance(params, dict):
        params = {}
    if params.get("disableAutoRetry"):
        return 1
    try:
        value = int(params.get("maxAttempt", DEFAULT_MAX_ATTEMPT))
    except (TypeError, ValueError):
        return DEFAULT_MAX_ATTEMPT
    return value if value > 0 else DEFAULT_MAX_ATTEMPT


def _retriable_failed(task: Task, *, ignore_hard_exhausted: bool):
    failed = _tracked_inputs(task).filter(status=ContentStatus.FAILED)
    if not ignore_hard_exhausted:
        failed = failed.exclude(maxfailure__isnull=False, failedattempt__gte=F("maxfailure"))
    return failed


def files_unprocessed(task: Task) -> int:
    """The ``ready`` files of the task's master input datasets: work no job took yet."""
    return _tracked_inputs(task).filter(status=ContentStatus.READY, dataset__masterid__isnull=True).count()


def files_to_retry(task: Task, *, ignore_hard_exhausted: bool = False) -> tuple[int, int]:
    """``(failed files a retry resets, unprocessed files it runs)``; see the module docstring."""
    failed = _retriable_failed(task, ignore_hard_exhausted=ignore_hard_exhausted).count()
    return failed, files_unprocessed(task)


def files_reset_for_retry(task: Task, *, ignore_hard_exhausted: bool = False) -> int:
    """Put the task's ``failed`` inputs back to ``ready`` with a fresh allowance; the number reset."""
    allowance = task_max_attempt(task)
    failed = _retriable_failed(task, ignore_hard_exhausted=ignore_hard_exhausted)
    with transaction.atomic():
        reset = Counter(failed.values_list("dataset_id", flat=True))
        n = failed.update(
            status=ContentStatus.READY,
            proc_status=ContentStatus.READY,
            maxattempt=F("attemptnr") + allowance,
            # Only files that had a failure limit get a new one (GREATEST ignores NULL on PostgreSQL).
            maxfailure=Case(
                When(maxfailure__isnull=True, then=Value(None)),
                default=Greatest(F("maxfailure"), F("failedattempt") + allowance),
            ),
        )
        _uncount(reset)
        if reset:
            TaskDataset.objects.filter(datasetid__in=list(reset)).exclude(status="toupdate").update(status="ready")
    return n
