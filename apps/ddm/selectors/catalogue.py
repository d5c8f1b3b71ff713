"""Reads on the embedded catalogue shared by :mod:`apps.ddm.embedded` and the rule agent.

Lists of ids are sent in chunks (``in_chunks``) so that a dataset of 100,000 files never builds one
IN clause beyond what the database accepts (SQLite builds may cap bound parameters at 999).
"""

from collections.abc import Iterable, Iterator, Sequence

from django.db import connection

from apps.ddm.interface import UnknownDataset
from apps.ddm.models import Dataset, DatasetFile, DatasetKind
from apps.ddm.names import did_has_scope, did_split


def chunk_size() -> int:
    return 900 if connection.vendor == "sqlite" else 5000


def in_chunks(items: Iterable, size: int | None = None) -> Iterator[Sequence]:
    values = list(items)
    step = size or chunk_size()
    for start in range(0, len(values), step):
        yield values[start : start + step]


def dataset_get(did: str) -> Dataset:
    """The dataset or container named by ``did``; the name alone is unique, an explicit scope must match."""
    scope, name = did_split(did)
    candidates = Dataset.objects.filter(name=name)
    if did_has_scope(did):
        candidates = candidates.filter(scope=scope)
    dataset = candidates.first()
    if dataset is None:
        raise UnknownDataset(f"unknown dataset or container {did!r}")
    return dataset


def datasets_expand(dataset: Dataset) -> list[int]:
    """Ids of the datasets (not containers) under ``dataset``: itself, or its members at every level,
    one query per level of nesting; a container reached twice (or a cycle) is visited once."""
    if dataset.kind == DatasetKind.DATASET:
        return [dataset.pk]
    found: list[int] = []
    seen = {dataset.pk}
    level = [dataset.pk]
    while level:
        containers = []
        for chunk in in_chunks(level):
            for pk, kind in Dataset.objects.filter(containers__in=chunk).values_list("pk", "kind").distinct():
                if pk in seen:
                    continue
                seen.add(pk)
                (containers if kind == DatasetKind.CONTAINER else found).append(pk)
        level = containers
    return sorted(found)


def dataset_file_ids(dataset_ids: Sequence[int]) -> list[int]:
    """Ids of the files attached to any of the datasets, without duplicates, in id order."""
    ids: set[int] = set()
    for chunk in in_chunks(dataset_ids):
        ids.update(DatasetFile.objects.filter(dataset_id__in=chunk).values_list("file_id", flat=True))
    return sorted(ids)
