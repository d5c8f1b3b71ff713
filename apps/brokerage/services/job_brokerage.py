"""Job brokerage: which queues a chunk of a task may run on (jedi.md §10.1, analysis §10.3).

:func:`generic_job_brokerage` is the default ``job_broker`` plugin (apps/jedi/plugins.py);
:func:`production_job_brokerage` (§10.2, in job_brokerage_production.py) is the plugin for
``managed``/``test`` tasks. Both return a :class:`~apps.jedi.plugins.BrokerageResult` and record
a :class:`~apps.brokerage.models.BrokerageDecision` with every rejected queue's reason.

Generic: candidates (the task's ``site`` as a queue name — pre-assigned —, a site name or a
regular expression; else the queues of the task's cloud; else every queue), then the filters of
apps/brokerage/services/filters.py in the spec's order. The storage-space filter (§10.1 no. 4) is
not applied: storage endpoints carry no space information. Inputs are dispatched to the chosen
queue's storage, so the data filter (no. 10) only asks queues with ``disable_file_dispatch`` in
their ``catchall`` to hold every input on their read endpoints already. Analysis tasks (``tasktype=anal`` or
label ``user``) use analysis/unified queues, ``includedSite``/``excludedSite``, data locality, the
queue-full and task-failure filters, the §10.3 weight and keep the best 10.

Queues the task already has unfinished jobs on are always kept (if they pass the filters); then
the best by weight, ties in random order. The others that passed are recorded as rejected by
``rank``, so the explanation shows why a usable queue got no jobs.
"""

import random
from collections.abc import Sequence

from apps.brokerage.services.filters import ANALYSIS_FILTERS, GENERIC_FILTERS, Context, run_filters
from apps.brokerage.services.grid import queues_all
from apps.brokerage.services.job_brokerage_production import production_job_brokerage
from apps.brokerage.services.selection import (
    build_context,
    candidate_queues,
    is_analysis,
    rank,
    record_result,
    task_params,
)
from apps.jedi.models import DatasetContent, Task
from apps.jedi.plugins import BrokerageResult
from apps.sites.models import PandaQueue

GENERIC_TOP = 5
ANALYSIS_TOP = 10

__all__ = ["generic_job_brokerage", "production_job_brokerage"]


def generic_weight(queue: PandaQueue, context: Context) -> float:
    """§10.1: ``(nRunning + 1) / (nActivated + nDefined + 1) / (nDefined + 1)``."""
    running = context.count(queue, "running")
    activated = context.count(queue, "activated")
    defined = context.count(queue, "defined")
    return (running + 1) / (activated + defined + 1) / (defined + 1)


def analysis_weight(queue: PandaQueue, context: Context) -> float:
    """§10.3: ``(running + 1) / (activated + assigned + starting + defined + 1)``."""
    queued = context.count(queue, "activated", "assigned", "starting", "defined")
    return (context.count(queue, "running") + 1) / (queued + 1)


def generic_job_brokerage(
    task: Task, *, files: Sequence[DatasetContent], scout: bool, rng: random.Random | None = None
) -> BrokerageResult:
    """The queues a chunk (``files``) of ``task`` may run on, best first, with every rejection's reason."""
    analysis = is_analysis(task)
    label = "analysis brokerage" if analysis else "generic brokerage"
    candidates = candidate_queues(task, queues_all())
    if not candidates.queues:
        return record_result(task, candidates, [], {}, label=label)
    needs_data = analysis or any("disable_file_dispatch" in q.catchall_flags for q in candidates.queues)
    extra = {"params": task_params(task)} if analysis else {}
    context = build_context(task, files, scout=scout, candidates=candidates, needs_data=needs_data, **extra)
    kept, rejected = run_filters(candidates.queues, ANALYSIS_FILTERS if analysis else GENERIC_FILTERS, context)
    weight = analysis_weight if analysis else generic_weight
    chosen, dropped = rank(
        [q.name for q in kept],
        {q.name: weight(q, context) for q in kept},
        used=context.task_jobs.used,
        top=ANALYSIS_TOP if analysis else GENERIC_TOP,
        rng=rng,
    )
    rejected.update(dropped)
    return record_result(task, candidates, chosen, rejected, label=label)
