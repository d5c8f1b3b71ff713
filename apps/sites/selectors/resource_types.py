"""Resource types as the APIs list them, and the type a job falls into (protocol.md §8.5)."""

from collections.abc import Callable
from typing import Any

from apps.sites.models import ResourceType


def resource_types_list() -> list[dict[str, Any]]:
    return [
        {
            "resource_name": rt.name,
            "mincore": rt.mincore,
            "maxcore": rt.maxcore,
            "minrampercore": rt.minrampercore,
            "maxrampercore": rt.maxrampercore,
        }
        for rt in ResourceType.objects.order_by("name")
    ]


def resource_type_matches(rt: ResourceType, *, cores: int, ram_per_core: float) -> bool:
    if rt.mincore is not None and cores < rt.mincore:
        return False
    if rt.maxcore is not None and cores > rt.maxcore:
        return False
    if rt.minrampercore is not None and ram_per_core < rt.minrampercore:
        return False
    return not (rt.maxrampercore is not None and ram_per_core > rt.maxrampercore)


def resource_type_classifier() -> Callable[..., str | None]:
    """Reads the resource types once; the returned function names the type of a job's cores and memory.

    ``minramcount`` is the job's total memory (MB); the first type by name whose windows hold
    ``cores`` and ``minramcount / cores`` wins, ``None`` when none does.
    """
    resource_types = list(ResourceType.objects.order_by("name"))

    def classify(*, corecount: int | None, minramcount: int | None) -> str | None:
        cores = corecount if corecount and corecount > 0 else 1
        ram_per_core = (minramcount or 0) / cores
        for rt in resource_types:
            if resource_type_matches(rt, cores=cores, ram_per_core=ram_per_core):
                return rt.name
        return None

    return classify


def resource_type_for_job(*, corecount: int | None, minramcount: int | None) -> str | None:
    return resource_type_classifier()(corecount=corecount, minramcount=minramcount)
