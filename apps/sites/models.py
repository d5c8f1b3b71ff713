"""Sites, PanDA queues (the schedconfig record), storage endpoints and resource types.

A queue's full document (the CRIC-style JSON the pilot loads) is stored verbatim in
``document``; the fields the server filters on are copied into typed columns by ``save()``.
"""

from django.db import models


class SiteRole(models.TextChoices):
    """A production site's part in task brokerage: nuclei hold a task's output (jedi.md §10.4)."""

    NUCLEUS = "nucleus"
    SATELLITE = "satellite"
    NONE = "", "none"


class Site(models.Model):
    name = models.CharField(max_length=128, unique=True)
    cloud = models.CharField(max_length=50, blank=True, default="")
    tier = models.CharField(max_length=10, blank=True, default="")
    country = models.CharField(max_length=50, blank=True, default="")
    role = models.CharField(max_length=16, choices=SiteRole.choices, blank=True, default=SiteRole.NONE)

    def __str__(self) -> str:
        return self.name


class QueueStatus(models.TextChoices):
    ONLINE = "online"
    OFFLINE = "offline"
    TEST = "test"
    BROKEROFF = "brokeroff"
    PAUSED = "paused"


class QueueType(models.TextChoices):
    PRODUCTION = "production"
    ANALYSIS = "analysis"
    UNIFIED = "unified"


# document key -> (column, default); the columns are what the server filters on.
DOCUMENT_COLUMNS = {
    "status": ("status", QueueStatus.ONLINE),
    "state": ("state", "ACTIVE"),
    "type": ("type", QueueType.UNIFIED),
    "resource_type": ("resource_type", "grid"),
    "cloud": ("cloud", ""),
    "maxrss": ("maxrss", 0),
    "minrss": ("minrss", 0),
    "maxtime": ("maxtime", 0),
    "mintime": ("mintime", 0),
    "corecount": ("corecount", 1),
    "maxwdir": ("maxwdir", 0),
    "timefloor": ("timefloor", 0),
    "catchall": ("catchall", ""),
    "pilot_manager": ("pilot_manager", ""),
    "harvester": ("harvester", ""),
    "workflow": ("workflow", "pull"),
    "copytools": ("copytools", dict),
    "acopytools": ("acopytools", dict),
    "astorages": ("astorages", dict),
}


class PandaQueue(models.Model):
    name = models.CharField("nickname", max_length=128, unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="queues")
    status = models.CharField(max_length=16, choices=QueueStatus.choices, default=QueueStatus.ONLINE)
    state = models.CharField(max_length=16, default="ACTIVE")
    type = models.CharField(max_length=16, choices=QueueType.choices, default=QueueType.UNIFIED)
    resource_type = models.CharField(max_length=16, default="grid")
    cloud = models.CharField(max_length=50, blank=True, default="")
    maxrss = models.IntegerField(default=0)
    minrss = models.IntegerField(default=0)
    maxtime = models.IntegerField(default=0)
    mintime = models.IntegerField(default=0)
    corecount = models.IntegerField(default=1)
    maxwdir = models.IntegerField(default=0)
    timefloor = models.IntegerField(default=0)
    catchall = models.CharField(max_length=1000, blank=True, default="")
    pilot_manager = models.CharField(max_length=64, blank=True, default="")
    harvester = models.CharField(max_length=64, blank=True, default="")
    workflow = models.CharField(max_length=32, blank=True, default="pull")
    copytools = models.JSONField(default=dict, blank=True)
    acopytools = models.JSONField(default=dict, blank=True)
    astorages = models.JSONField(default=dict, blank=True)
    document = models.JSONField(default=dict, blank=True)
    last_modified = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.sync_columns_from_document()
        super().save(*args, **kwargs)

    @property
    def catchall_flags(self) -> set[str]:
        return {flag.strip() for flag in (self.catchall or "").split(",") if flag.strip()}

    def sync_columns_from_document(self) -> None:
        for key, (column, default) in DOCUMENT_COLUMNS.items():
            if key in self.document and self.document[key] is not None:
                setattr(self, column, self.document[key])
            elif getattr(self, column, None) is None:
                setattr(self, column, default() if callable(default) else default)


class QueueActivity(models.Model):
    """When a pilot last asked this queue for work; brokerage's "pilot seen" filter reads it."""

    queue = models.CharField(max_length=128)
    prodsourcelabel = models.CharField(max_length=20)
    last_getjob = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "prodsourcelabel"], name="queue_activity_uniq")]

    def __str__(self) -> str:
        return f"{self.queue}/{self.prodsourcelabel}"


class StorageEndpoint(models.Model):
    """A DDM endpoint (RSE) as the pilot's storage document describes it (protocol.md §11.2)."""

    name = models.CharField(max_length=128, unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="storage_endpoints")
    type = models.CharField(max_length=32, default="DATADISK")
    state = models.CharField(max_length=16, default="ACTIVE")
    is_deterministic = models.BooleanField(default=True)
    is_tape = models.BooleanField(default=False)
    rprotocols = models.JSONField(default=dict, blank=True)
    arprotocols = models.JSONField(default=dict, blank=True)
    resource = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name


class ResourceType(models.Model):
    """SCORE, MCORE, SCORE_HIMEM, ... (protocol.md §8.5); null bounds are unbounded."""

    name = models.CharField(max_length=56, unique=True)
    mincore = models.IntegerField(null=True, blank=True)
    maxcore = models.IntegerField(null=True, blank=True)
    minrampercore = models.IntegerField(null=True, blank=True)
    maxrampercore = models.IntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
