"""DID names: ``scope:name`` or a bare name whose scope is extracted as Rucio's default does.

* ``mc23:mc23.EVNT.e1`` -> (``mc23``, ``mc23.EVNT.e1``)
* ``mc23.EVNT.e1`` -> (``mc23``, ``mc23.EVNT.e1``): the first dot-separated field
* ``user.jdoe.test.001`` -> (``user.jdoe``, ...): ``user.<name>`` and ``group.<name>`` scopes take two fields
* a trailing ``/`` (PanDA's way of writing a container) is not part of the name.

Also the deterministic replica path of protocol.md §11.2, which is where a pilot looks for a file on a
deterministic endpoint and so where the rule agent puts the copies it makes.
"""

import hashlib

from apps.ddm.interface import DDMError

TWO_FIELD_SCOPES = ("user", "group")
SCOPE_MAX = 64
NAME_MAX = 255


def scope_extract(name: str) -> str:
    """The scope of a bare name (``user.jdoe.x`` -> ``user.jdoe``, ``mc23.EVNT.x`` -> ``mc23``)."""
    fields = name.split(".")
    if fields[0] in TWO_FIELD_SCOPES and len(fields) > 1:
        return ".".join(fields[:2])
    return fields[0]


def did_split(did: str) -> tuple[str, str]:
    """``(scope, name)`` of a DID; raises :class:`DDMError` for an empty or malformed one."""
    text = (did or "").strip()
    scope, sep, name = text.partition(":")
    if not sep:
        name, scope = scope, ""
    name = name.rstrip("/")
    if not sep and name:
        scope = scope_extract(name)
    if not name or not scope or ":" in name or any(c.isspace() for c in scope + name):
        raise DDMError(f"invalid data identifier {did!r}: expected 'scope:name' or a dotted name")
    if len(scope) > SCOPE_MAX or len(name) > NAME_MAX:
        raise DDMError(f"invalid data identifier {did!r}: scope longer than {SCOPE_MAX} or name than {NAME_MAX}")
    return scope, name


def did_has_scope(did: str) -> bool:
    """Whether the DID names its scope explicitly (``scope:name``)."""
    return ":" in (did or "")


def deterministic_path(scope: str, lfn: str) -> str:
    """``<scope dirs>/<h[0:2]>/<h[2:4]>/<lfn>``, h = md5 of ``<scope>:<lfn>``; the scope's dots become
    directories for ``user.``/``group.`` scopes (protocol.md §11.2)."""
    digest = hashlib.md5(f"{scope}:{lfn}".encode()).hexdigest()  # noqa: S324 - a layout hash, not security
    scope_dirs = scope.replace(".", "/") if scope.startswith(("user.", "group.")) else scope
    return f"{scope_dirs}/{digest[0:2]}/{digest[2:4]}/{lfn}"
