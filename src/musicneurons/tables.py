"""Melody tables (Parquet: an ``events`` column of equal-length integer windows, plus optional keys)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class TableError(ValueError):
    """A file that is not a usable melody table; the message names the file and the reason."""


KEY_COLUMNS = ("source", "window", "qpm")  # what identifies a window of a melody table (when present)


def read_table(path):
    """A melody table -> (events (N, T) int64, keys DataFrame with the table's source/window/qpm columns)."""
    import pandas as pd
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.exists():
        raise TableError(f"{p}: no such file")
    try:
        names = pq.read_schema(p).names
        t = pd.read_parquet(p, columns=["events"] + [c for c in KEY_COLUMNS if c in names])
    except Exception as e:
        raise TableError(f"{p}: not a melody table with an 'events' column ({type(e).__name__})") from None
    if len(t) == 0:
        raise TableError(f"{p}: the table has no rows")
    ev = t["events"].to_list()
    lengths = {len(e) if hasattr(e, "__len__") else -1 for e in ev}
    if len(lengths) != 1 or -1 in lengths:
        raise TableError(f"{p}: windows have different lengths {sorted(lengths)}")
    try:
        arr = np.asarray(ev)
    except (ValueError, TypeError):
        raise TableError(f"{p}: the events column does not hold arrays of integers") from None
    from .melody import validate_events

    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        arr = arr.astype(np.int64)
    try:
        arr = validate_events(arr)
    except ValueError as e:
        raise TableError(f"{p}: {e}") from None
    return arr, t.drop(columns=["events"])


def read_events(path) -> np.ndarray:
    return read_table(path)[0]
