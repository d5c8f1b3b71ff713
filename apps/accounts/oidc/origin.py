"""The ``Origin`` header of API clients: ``<vo>``, ``<vo>.<role>`` or ``<vo>:<role>`` (iam.md §1)."""

import re
from typing import NamedTuple

# VO and role names as VOs spell them (atlas, panda_dev, usatlas-production); nothing else is a VO.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-.]*$")


class Origin(NamedTuple):
    vo: str
    role: str  # "" when the request names no role


class BadOrigin(ValueError):
    pass


def parse_origin(value: str | None) -> Origin | None:
    """``None`` when no VO is named; browsers' URL-style origins (``http://host``, ``null``) name none.

    The role is split off at ``:`` or else at the LAST ``.``: ``panda_dev.pilot`` -> (panda_dev, pilot).
    """
    if value is None:
        return None
    value = value.strip()
    if not value or value == "null" or "://" in value:
        return None
    if ":" in value:
        vo, role = value.split(":", 1)
    elif "." in value:
        vo, role = value.rsplit(".", 1)
    else:
        vo, role = value, ""
    if not _NAME.match(vo) or (role and not _NAME.match(role)):
        raise BadOrigin(f"invalid Origin {value!r}: expected <vo>, <vo>.<role> or <vo>:<role>")
    return Origin(vo, role)
