"""Where each PanDA queue sits: its site and region (cloud), read in one query for a whole page."""

from dataclasses import dataclass

from apps.sites.models import PandaQueue

NOT_SPECIFIED = "Not specified"


@dataclass(frozen=True)
class QueuePlace:
    queue: str
    site: str
    region: str
    status: str
    type: str


def queue_places() -> dict[str, QueuePlace]:
    """Every known queue by name; a queue's region is the ``cloud`` of its document (the jobs list's ``region``)."""
    rows = PandaQueue.objects.values_list("name", "site__name", "cloud", "status", "type")
    return {
        name: QueuePlace(name, site, cloud or NOT_SPECIFIED, status, queue_type)
        for name, site, cloud, status, queue_type in rows
    }


def place_of(places: dict[str, QueuePlace], queue: str) -> QueuePlace:
    """A queue the jobs name but the configuration does not know stands for its own site."""
    return places.get(queue) or QueuePlace(queue, queue, NOT_SPECIFIED, "unknown", "")
