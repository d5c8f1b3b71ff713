"""Data placement for the Setupper: where a job's inputs are, and dispatch blocks for the missing ones.

A job reads its inputs from its queue's read endpoints (``astorages["pr"]``, else ``read_lan`` or
``default``, in the queue record or its document; only endpoints that exist count). For an input
file with a scope the catalogue is asked where its replicas are (one bulk ``list_replicas`` call for a
whole batch of jobs):

* an ``available`` replica on a read endpoint: the file is there (``READY``);
* replicas, but none available on a read endpoint: it must be shipped (``DISPATCH``) in the job's
  dispatch block, the DDM dataset ``panda.<pandaid>.dis`` with a ``replicate`` rule to the first read
  endpoint, or a ``stage`` rule when some file has an available replica only on tape;
* no replica at all, no scope, or a queue without read endpoints: the catalogue does not know the
  file and its ``JobFile.status`` decides, as before data placement existed (``UNMANAGED``).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from apps.ddm.interface import DataManagement, OutputFile, ReplicaInfo, RuleInfo, ddm
from apps.jobs.models import JobFile
from apps.sites.models import PandaQueue, StorageEndpoint

READY = "ready"
DISPATCH = "dispatch"
UNMANAGED = "unmanaged"
READ_ACTIVITIES = ("pr", "read_lan", "default")
AVAILABLE = "available"
DISPATCH_OWNER = "panda"


def dispatch_block_name(pandaid: int) -> str:
    return f"panda.{pandaid}.dis"


def queues_read_endpoints(queues: Iterable[str]) -> dict[str, list[str]]:
    """Existing read endpoints per queue name (queues without any are left out)."""
    found: dict[str, list[str]] = {}
    for name, astorages, document in PandaQueue.objects.filter(name__in=set(queues)).values_list(
        "name", "astorages", "document"
    ):
        sources = [astorages or {}, (document or {}).get("astorages") or {}]
        for activity in READ_ACTIVITIES:
            names = next((s[activity] for s in sources if isinstance(s.get(activity), list) and s[activity]), None)
            if names:
                found[name] = [str(n) for n in names]
                break
    known = set(
        StorageEndpoint.objects.filter(name__in={n for names in found.values() for n in names}).values_list(
            "name", flat=True
        )
    )
    return {queue: [n for n in names if n in known] for queue, names in found.items() if set(names) & known}


@dataclass
class Placement:
    """Where a batch of jobs' input files are: per file row id, READY / DISPATCH / UNMANAGED."""

    outcome: dict[int, str]
    replicas: dict[tuple[str, str], list[ReplicaInfo]]
    read_endpoints: dict[str, list[str]]


def inputs_locate(
    files: list[JobFile], queue_of: dict[int, str | None], *, catalogue: DataManagement | None = None
) -> Placement:
    """Classify the input files of a batch of jobs (``queue_of``: pandaid -> computingsite)."""
    read_endpoints = queues_read_endpoints(q for q in queue_of.values() if q)
    managed = [f for f in files if f.scope and f.status != "cached" and read_endpoints.get(queue_of[f.job_id])]
    replicas = (catalogue or ddm()).list_replicas({(f.scope, f.lfn) for f in managed}) if managed else {}
    outcome = {f.row_id: UNMANAGED for f in files}
    for f in managed:
        found = replicas.get((f.scope, f.lfn)) or []
        if not found:
            continue
        here = set(read_endpoints[queue_of[f.job_id]])
        there = any(r.state == AVAILABLE and r.endpoint in here for r in found)
        outcome[f.row_id] = READY if there else DISPATCH
    return Placement(outcome=outcome, replicas=replicas, read_endpoints=read_endpoints)


def _needs_stage(replicas: list[ReplicaInfo]) -> bool:
    available = [r for r in replicas if r.state == AVAILABLE]
    return bool(available) and all(r.is_tape for r in available)


def dispatch_block_create(
    *, pandaid: int, files: list[JobFile], endpoint: str, replicas: dict, catalogue: DataManagement | None = None
) -> tuple[str, int]:
    """The job's dispatch block holding ``files`` and its rule to ``endpoint``; answers (name, rule id).

    Idempotent: an existing block (already closed) keeps its files and its rule is returned."""
    catalogue = catalogue or ddm()
    name = dispatch_block_name(pandaid)
    info = catalogue.register_dataset(name, owner=DISPATCH_OWNER)
    if info.state == "open":
        catalogue.register_outputs(name, [OutputFile(scope=f.scope, lfn=f.lfn, guid="", fsize=0) for f in files])
        catalogue.close_dataset(name)
    stage = any(_needs_stage(replicas.get((f.scope, f.lfn)) or []) for f in files)
    rule_id = catalogue.create_rule(name, endpoint, activity="stage" if stage else "replicate")
    return name, rule_id


def dispatch_rules(names: Iterable[str], *, catalogue: DataManagement | None = None) -> dict[str, RuleInfo]:
    """The rule of each dispatch block (one bulk call); blocks without a rule are left out."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rules = (catalogue or ddm()).list_rules(wanted)
    return {name: found[0] for name, found in rules.items() if found}
