"""Which global-share leaf a task belongs to (jedi.md §8; task submission sets ``Task.gshare``).

A leaf matches when every non-empty pattern (``prodsourcelabel``, ``workinggroup``, ``campaign``,
``processingtype``, ``vo``) of the leaf *and of its ancestors* matches the task's value in full
(``re.fullmatch``; a missing value counts as the empty string). Ancestors take part so a subtree
such as ``Analysis`` (``user|panda``) constrains all its leaves without repeating the pattern.
The first matching leaf in tree order (siblings by ``rank`` then ``name``) wins; no tree or no
match gives :data:`~apps.shares.services.tree.UNDEFINED_SHARE`.
"""

import re
from functools import lru_cache

from apps.shares.services.tree import PATTERN_FIELDS, UNDEFINED_SHARE, Leaf, share_leaves


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern | None:
    try:
        return re.compile(pattern)
    except re.error:
        # validate_tree refuses such patterns; one stored before that never matches anything.
        return None


def leaf_matches(leaf: Leaf, values: dict[str, str]) -> bool:
    for node in leaf.path:
        for name in PATTERN_FIELDS:
            pattern = getattr(node, name)
            if not pattern:
                continue
            compiled = _compiled(pattern)
            if compiled is None or compiled.fullmatch(values[name]) is None:
                return False
    return True


def match_leaf(leaves: list[Leaf], values: dict[str, str | None]) -> str:
    """The first leaf of ``leaves`` matching ``values`` (pattern field -> value), else Undefined."""
    cleaned = {name: values.get(name) or "" for name in PATTERN_FIELDS}
    for leaf in leaves:
        if leaf_matches(leaf, cleaned):
            return leaf.name
    return UNDEFINED_SHARE


def share_for(
    *,
    prodsourcelabel: str | None,
    workinggroup: str | None = None,
    campaign: str | None = None,
    processingtype: str | None = None,
    vo: str | None = None,
) -> str:
    """The name of the global-share leaf for a task with these attributes."""
    values = {
        "prodsourcelabel": prodsourcelabel,
        "workinggroup": workinggroup,
        "campaign": campaign,
        "processingtype": processingtype,
        "vo": vo,
    }
    return match_leaf(share_leaves(), values)
