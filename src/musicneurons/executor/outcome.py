"""A partition's outcome as data: ``(True, result)`` or ``(False, error text)``, for every executor."""

from __future__ import annotations

import traceback
from pathlib import Path


def _error_text(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(e).__name__}: {e}{where}"[:500]


def _call(fn, item):
    """Run ``fn(item)`` and return ``(True, result)`` or ``(False, error text)``; never raises."""
    try:
        return True, fn(item)
    except Exception as e:  # a partition's failure is data for the retry loop, not a crash of the run
        return False, _error_text(e)
