"""Brokerage decisions: which queues (or nuclei) were kept for a task and why each other was rejected.

One row per decision (job brokerage for a chunk of a task, or task/nucleus brokerage). ``rejected``
maps candidate name -> reason text (``"maxrss=2000 < ramCount×corecount=4000 MB"``); ``chosen`` lists
the kept candidates with their weights. The monitor's "why is it not running?" panel and the
``task/get_details`` API read the newest decision of a task.
"""

from django.db import models

from apps.core.timeutil import utcnow


class DecisionKind(models.TextChoices):
    JOB = "job"
    TASK = "task"


class BrokerageDecision(models.Model):
    jeditaskid = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=DecisionKind.choices, default=DecisionKind.JOB)
    creationtime = models.DateTimeField(default=utcnow)
    # [{"queue": "X", "weight": 0.5}, ...] best first; empty when nothing passed.
    chosen = models.JSONField(default=list, blank=True)
    # {"QUEUE_A": "reason", ...}
    rejected = models.JSONField(default=dict, blank=True)
    summary = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        db_table = "brokerage_decisions"
        indexes = [models.Index(fields=["jeditaskid", "-creationtime"], name="brokerage_task_idx")]

    def __str__(self) -> str:
        return f"{self.kind} brokerage of {self.jeditaskid}: {self.summary}"
