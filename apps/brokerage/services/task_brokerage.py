"""Task (nucleus) brokerage (jedi.md §10.4): the nucleus a production task's output goes to.

Nuclei are the sites with ``role = nucleus``; their storage endpoints are what the filters look
at. Applied in order: the task's cloud (when it has one), an ACTIVE disk endpoint, WAN read and
write allowed on one of them, and data locality (when some nucleus holds part of the task's
input, nuclei holding none of it are rejected). The free-space and transfer-backlog rules are not
applied: storage endpoints carry no space information and DDM no per-endpoint backlog; the
decision's summary says so.

Weight: the fraction of the input bytes on the nucleus's disk endpoints (``dataset_locations``
per input dataset), or 1 for every nucleus when none holds any. The best weight wins, ties in
random order. The decision is recorded with kind ``task``.
"""

import random

from apps.brokerage.models import DecisionKind
from apps.brokerage.services.decisions import decision_record, rejections_by_filter
from apps.ddm.interface import UnknownDataset, ddm
from apps.jedi.models import DatasetType, Task, TaskDataset
from apps.jedi.plugins import TaskBrokerageResult
from apps.sites.models import Site, SiteRole, StorageEndpoint

NOT_CHECKED = "free space and transfer backlog not checked (storage endpoints carry no space information)"
WAN_ACTIVITIES = ("read_wan", "write_wan")


def _size(n_bytes: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes:.0f} B"


def endpoint_activities(endpoint: StorageEndpoint) -> set[str]:
    """The activities any protocol of the endpoint serves (``rprotocols`` and ``arprotocols``)."""
    found = {activity for activity, items in (endpoint.arprotocols or {}).items() if items}
    for protocol in (endpoint.rprotocols or {}).values():
        for item in (protocol or {}).get("activities") or []:
            if isinstance(item, list) and item:
                found.add(item[0])
    return found


def _disk(site: Site) -> list[StorageEndpoint]:
    return [endpoint for endpoint in site.storage_endpoints.all() if not endpoint.is_tape]


def check_storage(site: Site) -> str | None:
    disks = _disk(site)
    if not disks:
        return "no disk storage endpoint"
    if any(endpoint.state == "ACTIVE" for endpoint in disks):
        return None
    return "no ACTIVE disk endpoint (" + ", ".join(f"{e.name} {e.state}" for e in disks) + ")"


def check_wan(site: Site) -> str | None:
    active = [endpoint for endpoint in _disk(site) if endpoint.state == "ACTIVE"]
    missing = {}
    for endpoint in active:
        lacking = [activity for activity in WAN_ACTIVITIES if activity not in endpoint_activities(endpoint)]
        if not lacking:
            return None
        missing[endpoint.name] = lacking
    details = ", ".join(f"{name} lacks {' and '.join(lacking)}" for name, lacking in missing.items())
    return f"no ACTIVE disk endpoint allows read_wan and write_wan ({details})"


def input_sizes(task: Task) -> tuple[dict[str, dict[str, int]], int]:
    """Per input dataset its bytes per endpoint (``dataset_locations``), and the total input bytes."""
    names = TaskDataset.objects.filter(task=task, type=DatasetType.INPUT).values_list("datasetname", flat=True)
    locations: dict[str, dict[str, int]] = {}
    total = 0
    for name in sorted(set(names)):
        try:
            info = ddm().get_dataset(name)
            places = ddm().dataset_locations(name)
        except UnknownDataset:
            continue
        locations[name] = {endpoint: n_bytes for endpoint, (_, n_bytes) in places.items()}
        total += info.nbytes or max(locations[name].values(), default=0)
    return locations, total


def local_bytes(site: Site, locations: dict[str, dict[str, int]]) -> int:
    """Input bytes on the site's disk endpoints (per dataset the best endpoint, not their sum)."""
    disks = {endpoint.name for endpoint in _disk(site)}
    return sum(max((n for name, n in places.items() if name in disks), default=0) for places in locations.values())


def nucleus_brokerage(task: Task, *, rng: random.Random | None = None) -> TaskBrokerageResult:
    """The nucleus for ``task`` (``None`` when every nucleus was rejected), with every rejection's reason."""
    rng = rng or random.Random()
    nuclei = list(Site.objects.filter(role=SiteRole.NUCLEUS).prefetch_related("storage_endpoints").order_by("name"))
    rejected: dict[str, str] = {}
    cloud = (task.cloud or "").strip()
    kept = []
    for site in nuclei:
        if cloud and cloud not in ("NA", "any") and site.cloud != cloud:
            rejected[site.name] = f"cloud: nucleus cloud {site.cloud or '(none)'} is not the task's cloud {cloud}"
        elif why := check_storage(site):
            rejected[site.name] = f"storage: {why}"
        elif why := check_wan(site):
            rejected[site.name] = f"wan: {why}"
        else:
            kept.append(site)
    locations, total = input_sizes(task) if kept else ({}, 0)
    here = {site.name: local_bytes(site, locations) for site in kept}
    holders = {name: n for name, n in here.items() if n}
    if holders:
        best = max(holders, key=holders.get)
        for site in kept:
            if not here[site.name]:
                rejected[site.name] = (
                    f"data: 0 B of {_size(total)} input on its disk endpoints ({best} holds {_size(holders[best])})"
                )
        kept = [site for site in kept if here[site.name]]
    weights = {site.name: (here[site.name] / total if holders and total else 1.0) for site in kept}
    order = [site.name for site in kept]
    rng.shuffle(order)
    order.sort(key=lambda name: weights[name], reverse=True)
    nucleus = order[0] if order else None
    decision = decision_record(
        task_id=task.jeditaskid,
        kind=DecisionKind.TASK,
        chosen=[{"nucleus": name, "weight": weights[name]} for name in order],
        rejected=rejected,
        summary=_summary(nuclei, nucleus, weights, rejected),
    )
    return TaskBrokerageResult(nucleus=nucleus, rejected=rejected, decision_id=decision.id)


def _summary(nuclei: list[Site], nucleus: str | None, weights: dict[str, float], rejected: dict[str, str]) -> str:
    if not nuclei:
        return "nucleus brokerage: no site has role nucleus"
    head = f"nucleus brokerage: {len(nuclei)} nuclei, "
    head += f"chose {nucleus} (weight {weights[nucleus]:.3g})" if nucleus else "none left"
    if rejected:
        head += f"; rejected {len(rejected)}: {rejections_by_filter(rejected)}"
    return f"{head}; {NOT_CHECKED}"
