"""The embedded data-management catalogue (Rucio's vocabulary): datasets, files, replicas, rules.

* :class:`Dataset` — a dataset (holds files) or a container (holds datasets), by ``scope:name``.
* :class:`DataFile` — one file identified by ``scope:lfn`` with guid, size, adler32, events.
* :class:`DatasetFile` — membership of a file in a dataset (a file may be in several datasets).
* :class:`Replica` — a copy of a file on a storage endpoint (``apps.sites.StorageEndpoint`` name).
* :class:`Rule` — "keep a copy of this dataset on that endpoint" (replicate or stage from tape),
  with the state a transfer service (or the embedded rule agent) moves forward.

Everything outside this app goes through :mod:`apps.ddm.interface`, which a Rucio adapter can
implement as well.
"""

from django.db import models

from apps.core.timeutil import utcnow


class DatasetKind(models.TextChoices):
    DATASET = "dataset"
    CONTAINER = "container"


class DatasetState(models.TextChoices):
    OPEN = "open"
    CLOSED = "closed"
    FROZEN = "frozen"


class Dataset(models.Model):
    scope = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=DatasetKind.choices, default=DatasetKind.DATASET)
    state = models.CharField(max_length=16, choices=DatasetState.choices, default=DatasetState.OPEN)
    # Containers hold datasets; a dataset may belong to several containers.
    containers = models.ManyToManyField("self", symmetrical=False, related_name="members", blank=True)
    files = models.ManyToManyField("DataFile", through="DatasetFile", related_name="datasets")
    owner = models.CharField(max_length=128, blank=True, default="")
    creationtime = models.DateTimeField(default=utcnow)
    modificationtime = models.DateTimeField(default=utcnow)

    class Meta:
        db_table = "ddm_datasets"
        constraints = [models.UniqueConstraint(fields=["name"], name="ddm_dataset_name_uniq")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.name}"


class DataFile(models.Model):
    scope = models.CharField(max_length=64)
    lfn = models.CharField(max_length=255)
    guid = models.CharField(max_length=64, blank=True, default="")
    fsize = models.BigIntegerField(default=0)
    adler32 = models.CharField(max_length=8, blank=True, default="")
    nevents = models.BigIntegerField(null=True, blank=True)
    creationtime = models.DateTimeField(default=utcnow)

    class Meta:
        db_table = "ddm_files"
        constraints = [models.UniqueConstraint(fields=["scope", "lfn"], name="ddm_file_uniq")]
        indexes = [models.Index(fields=["lfn"], name="ddm_file_lfn_idx")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.lfn}"


class DatasetFile(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="attachments")
    file = models.ForeignKey(DataFile, on_delete=models.CASCADE, related_name="attachments")
    attached = models.DateTimeField(default=utcnow)

    class Meta:
        db_table = "ddm_dataset_files"
        constraints = [models.UniqueConstraint(fields=["dataset", "file"], name="ddm_dataset_file_uniq")]

    def __str__(self) -> str:
        return f"{self.file_id} in {self.dataset_id}"


class ReplicaState(models.TextChoices):
    AVAILABLE = "available"
    COPYING = "copying"
    UNAVAILABLE = "unavailable"


class Replica(models.Model):
    file = models.ForeignKey(DataFile, on_delete=models.CASCADE, related_name="replicas")
    endpoint = models.CharField(max_length=128)  # StorageEndpoint.name (string reference)
    state = models.CharField(max_length=16, choices=ReplicaState.choices, default=ReplicaState.AVAILABLE)
    pfn = models.CharField(max_length=1024, blank=True, default="")
    creationtime = models.DateTimeField(default=utcnow)
    modificationtime = models.DateTimeField(default=utcnow)

    class Meta:
        db_table = "ddm_replicas"
        constraints = [models.UniqueConstraint(fields=["file", "endpoint"], name="ddm_replica_uniq")]
        indexes = [models.Index(fields=["endpoint", "state"], name="ddm_replica_endpoint_idx")]

    def __str__(self) -> str:
        return f"{self.file_id}@{self.endpoint} {self.state}"


class RuleActivity(models.TextChoices):
    REPLICATE = "replicate"
    STAGE = "stage"


class RuleState(models.TextChoices):
    REPLICATING = "replicating"
    OK = "ok"
    STUCK = "stuck"
    SUSPENDED = "suspended"


class Rule(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="rules")
    endpoint = models.CharField(max_length=128)
    activity = models.CharField(max_length=16, choices=RuleActivity.choices, default=RuleActivity.REPLICATE)
    state = models.CharField(max_length=16, choices=RuleState.choices, default=RuleState.REPLICATING)
    locks_ok = models.IntegerField(default=0)
    locks_replicating = models.IntegerField(default=0)
    locks_stuck = models.IntegerField(default=0)
    requester = models.CharField(max_length=128, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    lifetime = models.IntegerField(null=True, blank=True)  # seconds
    creationtime = models.DateTimeField(default=utcnow)
    modificationtime = models.DateTimeField(default=utcnow)
    expires = models.DateTimeField(null=True, blank=True)
    # When the rule last entered ``stuck`` (kept while it stays stuck): what "stuck for too long" is measured from.
    stuck_since = models.DateTimeField(null=True, blank=True)
    # The rule agent's lease (apps/ddm/services/rules.py): a worker owns the rule while the lease runs.
    locked_by = models.CharField(max_length=100, blank=True, default="")
    lock_expires = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "ddm_rules"
        indexes = [models.Index(fields=["state", "modificationtime"], name="ddm_rule_state_idx")]
        # One rule per (dataset, endpoint, activity): create_rule returns the existing one.
        constraints = [
            models.UniqueConstraint(fields=["dataset", "endpoint", "activity"], name="ddm_rule_dataset_endpoint_uniq")
        ]

    def __str__(self) -> str:
        return f"rule {self.pk}: {self.dataset_id} -> {self.endpoint} {self.state}"
