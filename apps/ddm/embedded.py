"""The embedded data-management implementation: :class:`EmbeddedDDM` on the ``ddm_*`` tables.

It is what :func:`apps.ddm.interface.ddm` returns by default. Every method does a bounded number
of queries whatever the size of the data: containers expand with one query per nesting level, file
and replica lists are read in chunked IN queries, counts and sizes are aggregated by the database,
and outputs are registered with ``bulk_create(ignore_conflicts=True)`` followed by one re-read, so
a second registration of the same files changes nothing.

Rules are only recorded here; the embedded transfer service that satisfies them is
:mod:`apps.ddm.services.rules`.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Collate

from apps.core.timeutil import utcnow
from apps.ddm.interface import (
    DatasetInfo,
    DDMError,
    FileInfo,
    OutputFile,
    ReplicaInfo,
    RuleInfo,
    UnknownDataset,
)
from apps.ddm.models import (
    DataFile,
    Dataset,
    DatasetFile,
    DatasetKind,
    DatasetState,
    Replica,
    ReplicaState,
    Rule,
    RuleActivity,
    RuleState,
)
from apps.ddm.names import did_has_scope, did_split
from apps.ddm.selectors.catalogue import chunk_size, dataset_file_ids, dataset_get, datasets_expand, in_chunks
from apps.sites.models import StorageEndpoint


def _did(dataset: Dataset) -> str:
    return f"{dataset.scope}:{dataset.name}"


def rule_info(rule: Rule) -> RuleInfo:
    return RuleInfo(
        rule_id=rule.pk,
        dataset=_did(rule.dataset),
        endpoint=rule.endpoint,
        activity=rule.activity,
        state=rule.state,
        locks_ok=rule.locks_ok,
        locks_replicating=rule.locks_replicating,
        locks_stuck=rule.locks_stuck,
        error=rule.error,
        stuck_since=rule.stuck_since,
    )


def _files_in(dataset_ids: list[int]):
    """The DatasetFile rows of the datasets, as a subquery when the ids fit in one IN list."""
    return DatasetFile.objects.filter(dataset_id__in=dataset_ids).values("file_id")


class EmbeddedDDM:
    """The default :class:`~apps.ddm.interface.DataManagement`; stateless, one instance per process."""

    # --- reading ---------------------------------------------------------------------------
    def get_dataset(self, name: str) -> DatasetInfo:
        return self._info(dataset_get(name))

    def list_files(self, name: str) -> list[FileInfo]:
        dataset_ids = datasets_expand(dataset_get(name))
        columns = (
            "file__scope",
            "file__lfn",
            "file__guid",
            "file__fsize",
            "file__adler32",
            "file__nevents",
            "dataset__scope",
            "dataset__name",
        )
        rows = []
        for chunk in in_chunks(dataset_ids):
            rows.extend(DatasetFile.objects.filter(dataset_id__in=chunk).values_list(*columns))
        # A file in several datasets of a container is listed once, with the first dataset by name.
        rows.sort(key=lambda row: (row[1], row[0], row[6], row[7]))
        files: dict[tuple[str, str], FileInfo] = {}
        for scope, lfn, guid, fsize, adler32, nevents, ds_scope, ds_name in rows:
            if (scope, lfn) not in files:
                files[(scope, lfn)] = FileInfo(
                    scope=scope,
                    lfn=lfn,
                    guid=guid,
                    fsize=fsize,
                    adler32=adler32,
                    nevents=nevents,
                    dataset=f"{ds_scope}:{ds_name}",
                )
        return list(files.values())

    def iter_files(self, name: str, *, chunk: int = 5000) -> Iterator[FileInfo]:
        """Pages of ``chunk`` rows by (lfn, scope) after the last file seen (keyset), each the exact
        prefix of :meth:`list_files`' order: the first rows of every chunk of dataset ids, merged.
        A file's rows in later datasets (by name) fall behind the page's end or are skipped by the
        strict ``>`` of the next page, so each file comes once, with its first dataset."""
        if chunk < 1:
            raise ValueError(f"chunk must be positive, got {chunk}")
        dataset_ids = datasets_expand(dataset_get(name))
        # Byte order on every database, the same as Python's sort of the merged chunks.
        lfn, scope = (
            (Collate(F("file__lfn"), "C"), Collate(F("file__scope"), "C"))
            if connection.vendor == "postgresql"
            else (F("file__lfn"), F("file__scope"))
        )
        base = DatasetFile.objects.annotate(lfn_key=lfn, scope_key=scope)
        order = ("lfn_key", "scope_key", "dataset__scope", "dataset__name")
        columns = ("file__scope", "file__lfn", "file__guid", "file__fsize", "file__adler32", "file__nevents")
        last: tuple[str, str] | None = None
        while True:
            rows: list[tuple] = []
            for ids in in_chunks(dataset_ids):
                page = base.filter(dataset_id__in=ids)
                if last is not None:
                    page = page.filter(Q(lfn_key__gt=last[0]) | Q(lfn_key=last[0], scope_key__gt=last[1]))
                rows.extend(page.order_by(*order).values_list(*columns, "dataset__scope", "dataset__name")[:chunk])
            if not rows:
                return
            rows.sort(key=lambda row: (row[1], row[0], row[6], row[7]))
            for scope_, lfn_, guid, fsize, adler32, nevents, ds_scope, ds_name in rows[:chunk]:
                if (lfn_, scope_) == last:
                    continue
                last = (lfn_, scope_)
                yield FileInfo(
                    scope=scope_,
                    lfn=lfn_,
                    guid=guid,
                    fsize=fsize,
                    adler32=adler32,
                    nevents=nevents,
                    dataset=f"{ds_scope}:{ds_name}",
                )
            if len(rows) < chunk:
                return

    def list_replicas(self, files: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[ReplicaInfo]]:
        result: dict[tuple[str, str], list[ReplicaInfo]] = {}
        by_scope: dict[str, list[str]] = defaultdict(list)
        for item in files:
            if not (isinstance(item, tuple | list) and len(item) == 2 and all(isinstance(v, str) for v in item)):
                raise DDMError(f"list_replicas takes (scope, lfn) pairs, got {item!r}")
            key = (item[0], item[1])
            if key not in result:
                result[key] = []
                by_scope[key[0]].append(key[1])
        if not result:
            return result
        tape = set(StorageEndpoint.objects.filter(is_tape=True).values_list("name", flat=True))
        for scope, lfns in by_scope.items():
            for chunk in in_chunks(lfns):
                rows = (
                    Replica.objects.filter(file__scope=scope, file__lfn__in=chunk)
                    .order_by("file__lfn", "endpoint")
                    .values_list("file__lfn", "endpoint", "state", "pfn")
                )
                for lfn, endpoint, state, pfn in rows:
                    result[(scope, lfn)].append(
                        ReplicaInfo(endpoint=endpoint, state=state, is_tape=endpoint in tape, pfn=pfn)
                    )
        return result

    def dataset_locations(self, name: str) -> dict[str, tuple[int, int]]:
        dataset_ids = datasets_expand(dataset_get(name))
        available = Replica.objects.filter(state=ReplicaState.AVAILABLE)
        if len(dataset_ids) <= chunk_size():
            parts = [available.filter(file_id__in=_files_in(dataset_ids))]
        else:
            # Disjoint chunks of file ids: the per-chunk aggregates simply add up.
            parts = [available.filter(file_id__in=chunk) for chunk in in_chunks(dataset_file_ids(dataset_ids))]
        locations: dict[str, tuple[int, int]] = {}
        for part in parts:
            for row in part.values("endpoint").annotate(n=Count("pk"), nbytes=Sum("file__fsize")):
                n, nbytes = locations.get(row["endpoint"], (0, 0))
                locations[row["endpoint"]] = (n + row["n"], nbytes + (row["nbytes"] or 0))
        return dict(sorted(locations.items()))

    # --- writing ---------------------------------------------------------------------------
    def register_dataset(self, name: str, *, kind: str = DatasetKind.DATASET, owner: str = "") -> DatasetInfo:
        return self._info(self._ensure(name, kind=kind, owner=owner))

    def attach(self, container: str, dataset: str) -> None:
        with transaction.atomic():
            parent = self._ensure(container, kind=DatasetKind.CONTAINER)
            try:
                child = dataset_get(dataset)
            except UnknownDataset:
                child = self._ensure(dataset, kind=DatasetKind.DATASET)
            if parent.state != DatasetState.OPEN:
                raise DDMError(f"container {_did(parent)} is {parent.state}: nothing more may be attached")
            if child.pk == parent.pk or (
                child.kind == DatasetKind.CONTAINER and parent.pk in self._containers_below(child)
            ):
                raise DDMError(f"attaching {_did(child)} to {_did(parent)} would make a container hold itself")
            child.containers.add(parent)

    def register_outputs(self, dataset: str, files: Iterable[OutputFile]) -> int:
        target = dataset_get(dataset)
        if target.kind != DatasetKind.DATASET:
            raise DDMError(f"{_did(target)} is a container: files are attached to its datasets")
        if target.state != DatasetState.OPEN:
            raise DDMError(f"dataset {_did(target)} is {target.state}: no more files may be attached")
        unique: dict[tuple[str, str], OutputFile] = {}
        for f in files:
            if not f.scope or not f.lfn:
                raise DDMError(f"a file needs a scope and an lfn, got {f.scope!r}:{f.lfn!r}")
            unique.setdefault((f.scope, f.lfn), f)
        if not unique:
            return 0
        size = chunk_size()
        with transaction.atomic():
            DataFile.objects.bulk_create(
                [
                    DataFile(scope=f.scope, lfn=f.lfn, guid=f.guid, fsize=f.fsize, adler32=f.adler32, nevents=f.nevents)
                    for f in unique.values()
                ],
                ignore_conflicts=True,
                batch_size=size,
            )
            ids = self._file_ids(unique)
            attached = set()
            for chunk in in_chunks(ids.values()):
                attached.update(
                    DatasetFile.objects.filter(dataset=target, file_id__in=chunk).values_list("file_id", flat=True)
                )
            new = [DatasetFile(dataset=target, file_id=pk) for pk in ids.values() if pk not in attached]
            DatasetFile.objects.bulk_create(new, ignore_conflicts=True, batch_size=size)
            self._replicas_add(
                [(ids[key], f.endpoint, f.pfn) for key, f in unique.items() if f.endpoint],
            )
            if new:
                # New files under a satisfied rule need copies too (Rucio creates locks on attachment).
                Rule.objects.filter(dataset=target, state=RuleState.OK).update(
                    state=RuleState.REPLICATING, modificationtime=utcnow()
                )
        return len(new)

    def close_dataset(self, name: str) -> None:
        dataset = dataset_get(name)
        Dataset.objects.filter(pk=dataset.pk, state=DatasetState.OPEN).update(
            state=DatasetState.CLOSED, modificationtime=utcnow()
        )

    def open_dataset(self, name: str) -> None:
        dataset = dataset_get(name)
        if dataset.state == DatasetState.FROZEN:
            raise DDMError(f"dataset {_did(dataset)} is frozen: it cannot be opened again")
        Dataset.objects.filter(pk=dataset.pk, state=DatasetState.CLOSED).update(
            state=DatasetState.OPEN, modificationtime=utcnow()
        )

    def create_rule(
        self, dataset: str, endpoint: str, *, activity: str = RuleActivity.REPLICATE, lifetime: int | None = None
    ) -> int:
        if activity not in RuleActivity.values:
            raise DDMError(f"unknown rule activity {activity!r}: expected one of {', '.join(RuleActivity.values)}")
        if lifetime is not None and (not isinstance(lifetime, int) or lifetime <= 0):
            raise DDMError(f"a rule lifetime is a positive number of seconds, got {lifetime!r}")
        target = dataset_get(dataset)
        if not StorageEndpoint.objects.filter(name=endpoint).exists():
            raise DDMError(f"unknown storage endpoint {endpoint!r}")
        now = utcnow()
        with transaction.atomic():
            rule, _ = Rule.objects.get_or_create(
                dataset=target,
                endpoint=endpoint,
                activity=activity,
                defaults={
                    "lifetime": lifetime,
                    "expires": now + timedelta(seconds=lifetime) if lifetime else None,
                    "creationtime": now,
                    "modificationtime": now,
                },
            )
        return rule.pk

    def get_rule(self, rule_id: int) -> RuleInfo:
        rule = Rule.objects.select_related("dataset").filter(pk=rule_id).first() if isinstance(rule_id, int) else None
        if rule is None:
            raise DDMError(f"unknown rule {rule_id!r}")
        return rule_info(rule)

    def list_rules(self, datasets: Iterable[str]) -> dict[str, list[RuleInfo]]:
        wanted = {did: did_split(did) for did in datasets}
        result: dict[str, list[RuleInfo]] = {did: [] for did in wanted}
        by_name: dict[str, list[Rule]] = defaultdict(list)
        for chunk in in_chunks({name for _, name in wanted.values()}):
            for rule in Rule.objects.select_related("dataset").filter(dataset__name__in=chunk).order_by("pk"):
                by_name[rule.dataset.name].append(rule)
        for did, (scope, name) in wanted.items():
            explicit = did_has_scope(did)
            result[did] = [rule_info(r) for r in by_name[name] if not explicit or r.dataset.scope == scope]
        return result

    # --- helpers ---------------------------------------------------------------------------
    def _ensure(self, name: str, *, kind: str, owner: str = "") -> Dataset:
        if kind not in DatasetKind.values:
            raise DDMError(f"unknown dataset kind {kind!r}: expected dataset or container")
        scope, bare = did_split(name)
        with transaction.atomic():
            dataset, _ = Dataset.objects.get_or_create(
                name=bare, defaults={"scope": scope, "kind": kind, "owner": owner}
            )
        if did_has_scope(name) and dataset.scope != scope:
            raise DDMError(f"{bare} already exists in scope {dataset.scope}, not {scope}")
        if dataset.kind != kind:
            raise DDMError(f"{_did(dataset)} already exists as a {dataset.kind}, not a {kind}")
        return dataset

    def _info(self, dataset: Dataset) -> DatasetInfo:
        dataset_ids = datasets_expand(dataset)
        if len(dataset_ids) <= chunk_size():
            parts = [DataFile.objects.filter(pk__in=_files_in(dataset_ids))]
        else:
            parts = [DataFile.objects.filter(pk__in=chunk) for chunk in in_chunks(dataset_file_ids(dataset_ids))]
        nfiles = nbytes = 0
        for part in parts:
            totals = part.aggregate(n=Count("pk"), nbytes=Sum("fsize"))
            nfiles += totals["n"]
            nbytes += totals["nbytes"] or 0
        return DatasetInfo(
            scope=dataset.scope, name=dataset.name, kind=dataset.kind, state=dataset.state, nfiles=nfiles, nbytes=nbytes
        )

    def _containers_below(self, container: Dataset) -> set[int]:
        seen = {container.pk}
        level = [container.pk]
        while level:
            below = set(
                Dataset.objects.filter(containers__in=level, kind=DatasetKind.CONTAINER).values_list("pk", flat=True)
            )
            level = list(below - seen)
            seen |= below
        return seen

    def _file_ids(self, files: dict[tuple[str, str], OutputFile]) -> dict[tuple[str, str], int]:
        """Ids of the (now existing) files; refuses a file already catalogued with another GUID or size."""
        ids: dict[tuple[str, str], int] = {}
        by_scope: dict[str, list[str]] = defaultdict(list)
        for scope, lfn in files:
            by_scope[scope].append(lfn)
        for scope, lfns in by_scope.items():
            for chunk in in_chunks(lfns):
                rows = DataFile.objects.filter(scope=scope, lfn__in=chunk).values_list("lfn", "pk", "guid", "fsize")
                for lfn, pk, guid, fsize in rows:
                    wanted = files[(scope, lfn)]
                    if wanted.guid and guid and wanted.guid.lower() != guid.lower():
                        raise DDMError(f"{scope}:{lfn} is already catalogued with GUID {guid}, not {wanted.guid}")
                    if wanted.fsize and fsize and wanted.fsize != fsize:
                        raise DDMError(f"{scope}:{lfn} is already catalogued with {fsize} bytes, not {wanted.fsize}")
                    ids[(scope, lfn)] = pk
        return ids

    def _replicas_add(self, replicas: list[tuple[int, str, str]]) -> None:
        """Available replicas for ``(file id, endpoint, pfn)``; an existing one becomes available."""
        if not replicas:
            return
        now = utcnow()
        Replica.objects.bulk_create(
            [
                Replica(file_id=pk, endpoint=endpoint, pfn=pfn, state=ReplicaState.AVAILABLE, modificationtime=now)
                for pk, endpoint, pfn in replicas
            ],
            ignore_conflicts=True,
            batch_size=chunk_size(),
        )
        by_endpoint: dict[str, list[int]] = defaultdict(list)
        for pk, endpoint, _ in replicas:
            by_endpoint[endpoint].append(pk)
        for endpoint, pks in by_endpoint.items():
            for chunk in in_chunks(pks):
                Replica.objects.filter(endpoint=endpoint, file_id__in=chunk).exclude(
                    state=ReplicaState.AVAILABLE
                ).update(state=ReplicaState.AVAILABLE, modificationtime=now)
