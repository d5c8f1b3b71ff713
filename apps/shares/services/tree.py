"""The global-share tree in memory: leaves in tree order with their target fractions (jedi.md §8).

The tree is read from ``global_shares`` in one query and walked depth first, siblings ordered by
``rank`` then ``name`` (the model's ordering). A leaf's target is the product of ``value / 100``
along its path, so a leaf ``Production/MC`` with Production at 80 % and MC at 90 % of it targets
0.72 of the grid.

``DEFAULT_SHARES`` is the tree :func:`ensure_default_shares` installs when the table is empty:

* ``Test`` (0 %, matches the test labels): test jobs always dispatch first whatever their share
  of the grid (ranking.py), so they need no target of their own.
* ``Production`` 80 % (``managed``): ``Express`` 10 % (processingType ``express``) and ``MC`` 90 %
  (every other production task).
* ``Analysis`` 20 % (``user``/``panda``): ``Group Analysis`` 20 % (tasks with a working group) and
  ``User Analysis`` 80 % (the rest).

Tasks that match no leaf get :data:`UNDEFINED_SHARE`, which is not in the tree and so never has a
target: its jobs dispatch after every ranked share.

:func:`validate_tree` is what the admin and the loader check before saving: siblings' values sum
to at most 100, values lie in [0, 100], parents do not form a cycle, regular expressions compile.
"""

import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from apps.shares.models import GlobalShare

UNDEFINED_SHARE = "Undefined"
TEST_SHARE = "Test"
PATTERN_FIELDS = ("prodsourcelabel", "workinggroup", "campaign", "processingtype", "vo")
SHARE_FIELDS = ("value", "rank", *PATTERN_FIELDS, "queue_cap", "running_cap", "throttled")

# name, parent, value (% of parent), rank, patterns. Documented in the module docstring.
DEFAULT_SHARES: list[dict] = [
    {"name": TEST_SHARE, "value": 0.0, "rank": 0, "prodsourcelabel": "test|prod_test|ptest|install|rc_.*"},
    {"name": "Production", "value": 80.0, "rank": 1, "prodsourcelabel": "managed"},
    {"name": "Express", "parent": "Production", "value": 10.0, "rank": 0, "processingtype": "express"},
    {"name": "MC", "parent": "Production", "value": 90.0, "rank": 1},
    {"name": "Analysis", "value": 20.0, "rank": 2, "prodsourcelabel": "user|panda"},
    {"name": "Group Analysis", "parent": "Analysis", "value": 20.0, "rank": 0, "workinggroup": ".+"},
    {"name": "User Analysis", "parent": "Analysis", "value": 80.0, "rank": 1},
]


NOT_NULL = frozenset({"name", "value", "rank", "throttled"})
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "parent": str,
    "value": (int, float),
    "rank": int,
    **{name: str for name in PATTERN_FIELDS},
    "queue_cap": int,
    "running_cap": int,
    "throttled": bool,
}
_MAX_LENGTHS = {
    key: GlobalShare._meta.get_field("name" if key == "parent" else key).max_length
    for key in ("name", "parent", *PATTERN_FIELDS)
}


class ShareTreeError(ValueError):
    """The share tree (or a change to it) breaks a rule of :func:`validate_tree`."""


@dataclass(frozen=True)
class Leaf:
    """A leaf share with the nodes from the root down to it (itself last)."""

    name: str
    target: float  # fraction of the whole grid, 0..1
    path: tuple[GlobalShare, ...]

    @property
    def share(self) -> GlobalShare:
        return self.path[-1]


def _children_by_parent(shares: list[GlobalShare]) -> dict[int | None, list[GlobalShare]]:
    children: dict[int | None, list[GlobalShare]] = {}
    for share in shares:
        children.setdefault(share.parent_id, []).append(share)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.rank, s.name))
    return children


def leaves_of(shares: list[GlobalShare]) -> list[Leaf]:
    """The leaves of ``shares`` in tree order. Nodes unreachable from a root (a cycle) are left out."""
    children = _children_by_parent(shares)
    leaves: list[Leaf] = []

    def walk(node: GlobalShare, path: tuple[GlobalShare, ...], target: float) -> None:
        path = (*path, node)
        target *= max(node.value, 0.0) / 100.0
        below = children.get(node.id)
        if not below:
            leaves.append(Leaf(name=node.name, target=target, path=path))
            return
        for child in below:
            walk(child, path, target)

    for root in children.get(None, []):
        walk(root, (), 1.0)
    return leaves


def share_leaves() -> list[Leaf]:
    """The leaves of the stored tree in tree order (one query)."""
    return leaves_of(list(GlobalShare.objects.all()))


def leaf_targets() -> dict[str, float]:
    """Leaf name -> target fraction of the grid."""
    return {leaf.name: leaf.target for leaf in share_leaves()}


def validate_tree(shares: list[GlobalShare]) -> None:
    """Raise :class:`ShareTreeError` unless ``shares`` form a valid tree (see module docstring)."""
    by_id = {share.id: share for share in shares if share.id is not None}
    names = [share.name for share in shares]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ShareTreeError(f"duplicate share names: {', '.join(duplicates)}")
    for share in shares:
        if not 0.0 <= share.value <= 100.0:
            raise ShareTreeError(f"share {share.name}: value {share.value} is not a percentage in [0, 100]")
        for cap in ("queue_cap", "running_cap"):
            if getattr(share, cap) is not None and getattr(share, cap) < 0:
                raise ShareTreeError(f"share {share.name}: {cap} must not be negative")
        for name in PATTERN_FIELDS:
            try:
                re.compile(getattr(share, name) or "")
            except re.error as exc:
                raise ShareTreeError(f"share {share.name}: {name} is not a regular expression: {exc}") from exc
        seen = {share.id}
        parent_id = share.parent_id
        while parent_id is not None:
            if parent_id in seen:
                raise ShareTreeError(f"share {share.name}: its parents form a cycle")
            seen.add(parent_id)
            parent = by_id.get(parent_id)
            if parent is None:
                break
            parent_id = parent.parent_id
    for parent_id, siblings in _children_by_parent(shares).items():
        total = sum(s.value for s in siblings)
        if total > 100.0 + 1e-9:
            where = "top-level shares" if parent_id is None else f"children of {by_id[parent_id].name}"
            raise ShareTreeError(f"{where} sum to {total:g} %, more than 100 %")


def shares_with_change(candidate: GlobalShare) -> list[GlobalShare]:
    """The stored tree with ``candidate`` added or replacing its stored version (for validation)."""
    shares = [share for share in GlobalShare.objects.all() if share.id != candidate.id or candidate.id is None]
    return [*shares, candidate]


@transaction.atomic
def shares_load(definitions: list[dict], *, replace: bool = False) -> int:
    """Create or update shares from ``definitions`` (dicts as in :data:`DEFAULT_SHARES`).

    Parents may come before or after their children in the list. With ``replace`` shares not in
    ``definitions`` are deleted. The whole tree is validated before anything is committed; a bad
    tree raises :class:`ShareTreeError` and changes nothing. Returns the number of shares written.
    """
    names = set()
    for index, item in enumerate(definitions):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ShareTreeError(f"share #{index}: a share needs a non-empty 'name'")
        unknown = set(item) - {"name", "parent", *SHARE_FIELDS}
        if unknown:
            raise ShareTreeError(f"share {item['name']}: unknown keys {', '.join(sorted(unknown))}")
        for key, value in item.items():
            if value is None:
                if key in NOT_NULL:
                    raise ShareTreeError(f"share {item['name']}: {key} cannot be null")
                continue
            expected = _FIELD_TYPES[key]
            if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
                raise ShareTreeError(f"share {item['name']}: {key}={value!r} has the wrong type")
            limit = _MAX_LENGTHS.get(key)
            if limit is not None and len(value) > limit:
                raise ShareTreeError(f"share {item['name']}: {key} is longer than {limit} characters")
        if item["name"] in names:
            raise ShareTreeError(f"share {item['name']} is defined twice")
        names.add(item["name"])
    existing = {share.name: share for share in GlobalShare.objects.select_for_update()}
    shares: dict[str, GlobalShare] = {}
    for item in definitions:
        share = existing.get(item["name"]) or GlobalShare(name=item["name"])
        for name in SHARE_FIELDS:
            default = GlobalShare._meta.get_field(name).get_default()
            value = item.get(name, default)
            if name in PATTERN_FIELDS and value is None:
                value = ""
            setattr(share, name, value)
        share.parent = None
        share.save()
        shares[share.name] = share
    for item in definitions:
        parent = item.get("parent")
        if parent:
            # With replace, a parent outside the definitions is about to be deleted.
            target = shares.get(parent) or (None if replace else existing.get(parent))
            if target is None:
                raise ShareTreeError(f"share {item['name']}: unknown parent {parent}")
            shares[item["name"]].parent = target
            shares[item["name"]].save(update_fields=["parent"])
    if replace:
        stale = [share for name, share in existing.items() if name not in names]
        # Children first: the parent relation is PROTECT.
        for share in sorted(stale, key=lambda s: -_depth(s, existing)):
            share.delete()
    stored = list(GlobalShare.objects.all())
    validate_tree(stored)
    return len(definitions)


def _depth(share: GlobalShare, by_name: dict[str, GlobalShare]) -> int:
    by_id = {s.id: s for s in by_name.values()}
    depth, parent_id, seen = 0, share.parent_id, set()
    while parent_id is not None and parent_id not in seen and parent_id in by_id:
        seen.add(parent_id)
        depth += 1
        parent_id = by_id[parent_id].parent_id
    return depth


def ensure_default_shares() -> bool:
    """Install :data:`DEFAULT_SHARES` when no share exists. Returns whether it did."""
    if GlobalShare.objects.exists():
        return False
    try:
        shares_load(DEFAULT_SHARES)
    except IntegrityError:
        # Another process installed them at the same moment (unique share names).
        return False
    return True
