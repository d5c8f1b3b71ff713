"""Global shares (jedi.md §8, §10.5): a tree of activities with target fractions.

Leaves are what jobs and tasks carry in ``gshare``. A leaf's target is the product of the
fractions (``value`` in percent of its parent) along its path. Matching a task to a leaf uses the
optional regular expressions on ``prodsourcelabel``, ``workinggroup``, ``campaign`` and
``processingtype``; the first match in tree order (``rank`` then name) wins. Editable in the admin.
"""

from django.db import models


class GlobalShare(models.Model):
    name = models.CharField(max_length=32, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    value = models.FloatField(default=0.0)  # percent of the parent
    rank = models.IntegerField(default=0)  # order among siblings when matching
    prodsourcelabel = models.CharField(max_length=100, blank=True, default="")  # regex
    workinggroup = models.CharField(max_length=100, blank=True, default="")
    campaign = models.CharField(max_length=100, blank=True, default="")
    processingtype = models.CharField(max_length=100, blank=True, default="")
    vo = models.CharField(max_length=16, blank=True, default="")
    # Throttling per share: None = generic threshold; explicit caps per share.
    queue_cap = models.IntegerField(null=True, blank=True)  # max queued jobs of this share
    running_cap = models.IntegerField(null=True, blank=True)
    throttled = models.BooleanField(default=True)  # whether the throttler applies

    class Meta:
        db_table = "global_shares"
        ordering = ["rank", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.value}%)"
