"""Copytool plugins. A copytool moves one file between the job dir and a storage location.

Plugins register under the names a queue uses in ``copytools`` / ``acopytools``.
"""

from __future__ import annotations

from pilot import errors
from pilot.datacontrol.copytools.base import Copytool
from pilot.datacontrol.copytools.http import HttpCopytool
from pilot.datacontrol.copytools.mv import MvCopytool
from pilot.datacontrol.copytools.posix import PosixCopytool
from pilot.errors import PilotError

REGISTRY: dict[str, type[Copytool]] = {
    "mv": MvCopytool,
    "posix": PosixCopytool,
    "http": HttpCopytool,
    "https": HttpCopytool,
}


def get_copytool(name: str) -> type[Copytool]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise PilotError(errors.UNKNOWNCOPYTOOL, name) from None
