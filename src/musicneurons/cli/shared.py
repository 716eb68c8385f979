"""What several commands share: the progress switch (``--quiet``), melody tables and devices with their errors
as :class:`UserError`."""

from __future__ import annotations

import sys

from ..tables import TableError
from .errors import UserError

_QUIET = False


def _progress() -> bool:
    """Progress bars on stderr when it is a terminal, unless ``--quiet``."""
    return sys.stderr.isatty() and not _QUIET


def read_table(path):
    """The library's :func:`musicneurons.tables.read_table`, its errors as one line."""
    from ..tables import read_table as _read

    try:
        return _read(path)
    except TableError as e:
        raise UserError(str(e)) from None


def _device(name: str) -> str:
    from ..model.checkpoint import resolve_device

    try:
        resolve_device(name)
    except ValueError as e:
        raise UserError(str(e)) from None
    return name
