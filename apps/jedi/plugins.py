"""JEDI's plugin points, chosen per VO and ``prodSourceLabel`` (jedi.md §1).

JEDI calls brokers without importing them: ``apps.brokerage`` sits to the right of ``apps.jedi`` in
the dependency order (it reads tasks, datasets and job statistics), so the JobGenerator and the
TaskBroker agent look the implementation up here by dotted path. ``settings.PANDA_JEDI_PLUGINS``
maps ``<kind>`` -> ``{"<vo>:<label>" | "<vo>" | "*:<label>" | "default": "dotted.path"}``, looked up in
that order.

Contracts:

* ``job_broker(task, *, files, scout) -> BrokerageResult``: the queues a chunk of ``task`` may run
  on. ``files`` are the input :class:`~apps.jedi.models.DatasetContent` rows about to be used
  (for data locality and the scratch-disk filter), ``scout`` whether they become scout jobs. The
  broker records its decision (apps.brokerage.models.BrokerageDecision) itself.
* ``task_broker(task) -> TaskBrokerageResult``: the nucleus for a production task.
"""

import random
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_PLUGINS = {
    "job_broker": {
        "default": "apps.brokerage.services.job_brokerage.generic_job_brokerage",
        # Production rules (jedi.md §10.2) for production labels, whatever the VO.
        "*:managed": "apps.brokerage.services.job_brokerage.production_job_brokerage",
        "*:test": "apps.brokerage.services.job_brokerage.production_job_brokerage",
    },
    "task_broker": {"default": "apps.brokerage.services.task_brokerage.nucleus_brokerage"},
}


@dataclass
class BrokerageResult:
    # (queue name, weight), best first; empty when every candidate was rejected.
    candidates: list[tuple[str, float]] = field(default_factory=list)
    # queue name -> why it was rejected
    rejected: dict[str, str] = field(default_factory=dict)
    decision_id: int | None = None

    def pick(self, rng: random.Random | None = None) -> str:
        """One queue, chosen randomly weighted by ``w`` (jedi.md §10.1)."""
        if not self.candidates:
            raise LookupError("no brokerage candidate")
        rng = rng or random
        names = [name for name, _ in self.candidates]
        weights = [max(weight, 1e-9) for _, weight in self.candidates]
        return rng.choices(names, weights=weights, k=1)[0]


@dataclass
class TaskBrokerageResult:
    nucleus: str | None
    rejected: dict[str, str] = field(default_factory=dict)
    decision_id: int | None = None


@cache
def _load(path: str):
    return import_string(path)


def plugin(kind: str, *, vo: str = "", label: str = ""):
    table = {**DEFAULT_PLUGINS.get(kind, {}), **getattr(settings, "PANDA_JEDI_PLUGINS", {}).get(kind, {})}
    # Most specific first; a VO's own entry beats a label wildcard ("*:<label>").
    for key in (f"{vo}:{label}", vo, f"*:{label}", "default"):
        if key in table:
            return _load(table[key])
    raise LookupError(f"no {kind} plugin configured")


def job_broker(task):
    return plugin("job_broker", vo=task.vo, label=task.prodsourcelabel)


def task_broker(task):
    return plugin("task_broker", vo=task.vo, label=task.prodsourcelabel)
