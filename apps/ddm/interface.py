"""The data-management interface JEDI, the Adder and the brokerage use (jedi.md, issue "DDM layer").

Everything outside ``apps.ddm`` calls :func:`ddm` and the methods of :class:`DataManagement`;
nothing else reads the ``ddm_*`` tables. The embedded implementation
(:mod:`apps.ddm.embedded`) is the default; ``settings.PANDA_DDM_BACKEND`` names another class with
the same methods (a Rucio adapter built on rucio-clients would map them one to one: ``list_files``,
``list_replicas``, ``add_dataset``/``attach_dids``, ``add_replication_rule``/``get_replication_rule``).

Names are DIDs: ``scope:name`` or a bare name (the scope is then the name's first dot-separated
field, or ``user.<name>`` for ``user.<name>.…``, as Rucio's default extract-scope does).
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class DDMError(Exception):
    """A data-management call failed; ``str()`` says why (unknown dataset, closed dataset, ...)."""


class UnknownDataset(DDMError):
    pass


@dataclass(frozen=True)
class FileInfo:
    scope: str
    lfn: str
    guid: str = ""
    fsize: int = 0
    adler32: str = ""
    nevents: int | None = None
    dataset: str = ""  # the dataset (not container) the file was found in


@dataclass(frozen=True)
class DatasetInfo:
    scope: str
    name: str
    kind: str  # "dataset" | "container"
    state: str  # "open" | "closed" | "frozen"
    nfiles: int = 0
    nbytes: int = 0


@dataclass(frozen=True)
class ReplicaInfo:
    endpoint: str
    state: str  # "available" | "copying" | "unavailable"
    is_tape: bool = False
    pfn: str = ""


@dataclass(frozen=True)
class RuleInfo:
    rule_id: int
    dataset: str
    endpoint: str
    activity: str  # "replicate" | "stage"
    state: str  # "replicating" | "ok" | "stuck" | "suspended"
    locks_ok: int = 0
    locks_replicating: int = 0
    locks_stuck: int = 0
    error: str = ""
    stuck_since: datetime | None = None  # when the rule entered ``stuck`` (None unless stuck)


@dataclass(frozen=True)
class OutputFile:
    """An output the Adder registers: the file plus where the pilot put it."""

    scope: str
    lfn: str
    guid: str
    fsize: int
    adler32: str = ""
    nevents: int | None = None
    endpoint: str = ""
    pfn: str = ""
    extra: dict = field(default_factory=dict)


class DataManagement(Protocol):
    # --- reading -------------------------------------------------------------------------
    def get_dataset(self, name: str) -> DatasetInfo:
        """The dataset or container; raises :class:`UnknownDataset`."""

    def list_files(self, name: str) -> list[FileInfo]:
        """Files of a dataset, or of every dataset of a container (sorted by lfn, no duplicates)."""

    def iter_files(self, name: str, *, chunk: int = 5000) -> Iterator[FileInfo]:
        """The files of :meth:`list_files`, same order, read ``chunk`` at a time: a dataset of 100,000
        files never sits in memory at once. Raises :class:`UnknownDataset` on the first ``next``."""

    def list_replicas(self, files: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[ReplicaInfo]]:
        """Replicas per ``(scope, lfn)``; files without replicas map to an empty list."""

    def dataset_locations(self, name: str) -> dict[str, tuple[int, int]]:
        """Per endpoint: (number of files, bytes) of the dataset/container available there."""

    # --- writing -------------------------------------------------------------------------
    def register_dataset(self, name: str, *, kind: str = "dataset", owner: str = "") -> DatasetInfo:
        """Create the dataset or container if missing (idempotent); returns it."""

    def attach(self, container: str, dataset: str) -> None:
        """Put a dataset into a container (both created if missing; idempotent)."""

    def register_outputs(self, dataset: str, files: Iterable[OutputFile]) -> int:
        """Create the files, attach them to ``dataset`` and add their replicas (idempotent); returns
        the number of files newly attached. Refused (DDMError) on a closed dataset."""

    def close_dataset(self, name: str) -> None:
        """No more files may be attached."""

    def open_dataset(self, name: str) -> None:
        """Files may be attached again to a closed dataset (a retried task writes into its outputs
        again); idempotent; refused (DDMError) for a frozen dataset."""

    def create_rule(
        self, dataset: str, endpoint: str, *, activity: str = "replicate", lifetime: int | None = None
    ) -> int:
        """Ask for a copy of ``dataset`` on ``endpoint``; returns the rule id (an existing rule for
        the same dataset, endpoint and activity is returned instead of a new one)."""

    def get_rule(self, rule_id: int) -> RuleInfo:
        """The rule's state; raises DDMError for an unknown id."""

    def list_rules(self, datasets: Iterable[str]) -> dict[str, list[RuleInfo]]:
        """The rules of many datasets at once, keyed by the names as given (an unknown dataset or one
        without rules maps to an empty list): what the Activator polls for hundreds of jobs."""


@cache
def _backend() -> DataManagement:
    path = getattr(settings, "PANDA_DDM_BACKEND", "apps.ddm.embedded.EmbeddedDDM")
    return import_string(path)()


def ddm() -> DataManagement:
    """The configured data-management implementation (one instance per process)."""
    return _backend()
