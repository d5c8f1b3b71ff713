"""The order in which getJob serves global shares (jedi.md §10.5, protocol.md §5.3).

``Test`` (and any leaf under a node named ``Test``) goes first. The other leaves follow by
under-pledge: a leaf's usage is the cores of its ``starting``/``running`` jobs over all such cores
of the grid, and its relative under-pledge is ``(target - usage) / target``; the most under its
target comes first, ties in tree order. Leaves with a zero target come after every leaf with a
target, in tree order. Jobs whose share is no leaf at all (none, or ``Undefined``) are not in the
ranking; dispatch serves them after every ranked share.

The ranking is one aggregate over the running jobs plus the tree, and getJob needs it on every
call, so each process keeps it for ``PANDA_SHARE_RANK_SECONDS`` (default 60 s): being up to a
minute late about the grid's usage is harmless next to a query per getJob.

The jobs table belongs to ``apps.jobs``, which sits to the right of ``shares`` (shares may not import
it), so the usage comes in as a function: ``apps.jobs.selectors.shares.share_usage``.
"""

import threading
import time
from collections.abc import Callable, Mapping

from django.conf import settings

from apps.shares.services.tree import TEST_SHARE, Leaf, share_leaves

Usage = Mapping[str | None, int]


def rank_leaves(leaves: list[Leaf], usage: Usage) -> list[str]:
    """Leaf names in dispatch order given their cores in use (pure: no database)."""
    total = sum(usage.values())
    tests, pledged, unpledged = [], [], []
    for order, leaf in enumerate(leaves):
        if any(node.name == TEST_SHARE for node in leaf.path):
            tests.append(leaf.name)
        elif leaf.target > 0:
            used = usage.get(leaf.name, 0) / total if total else 0.0
            pledged.append(((leaf.target - used) / leaf.target, order, leaf.name))
        else:
            unpledged.append(leaf.name)
    pledged.sort(key=lambda item: (-item[0], item[1]))
    return [*tests, *(name for _, _, name in pledged), *unpledged]


_cache: dict[str, tuple[float, list[str]]] = {}
_cache_lock = threading.Lock()


def share_ranking(*, usage: Callable[[], Usage]) -> list[str]:
    """Leaf names in dispatch order, recomputed at most every ``PANDA_SHARE_RANK_SECONDS`` per process.

    ``usage`` returns the cores in use per share name; it is only called when the cached ranking
    has expired and the tree is not empty.
    """
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get("ranking")
        if cached and cached[0] > now:
            return cached[1]
    leaves = share_leaves()
    ranking = rank_leaves(leaves, usage()) if leaves else []
    with _cache_lock:
        _cache["ranking"] = (now + settings.PANDA_SHARE_RANK_SECONDS, ranking)
    return ranking


def forget_share_ranking() -> None:
    """For tests, and after the tree changes in this process."""
    with _cache_lock:
        _cache.clear()
