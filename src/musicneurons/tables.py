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
    if not p.is_file():  # a folder, or a FIFO/device that would block the reader
        raise TableError(f"{p}: not a regular file ({'a folder' if p.is_dir() else 'a FIFO or device'})")
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
    keys = t.drop(columns=["events"])
    for col, v in check_keys({c: keys[c].to_numpy() for c in keys}, len(keys), p).items():
        keys[col] = v
    return arr, keys


def check_keys(keys: dict, n: int, name) -> dict:
    """The ``window`` and ``qpm`` arrays of ``keys`` (a table's or a latents file's), checked: one value per window
    (``source`` too), windows integers, tempos finite and > 0; returned as int64/float64 (TableError naming
    ``name`` otherwise)."""
    out = {}
    for col in KEY_COLUMNS:
        if col not in keys:
            continue
        v = np.asarray(keys[col])
        if v.shape != (n,):
            raise TableError(f"{name}: '{col}' must hold one value per window ({n}), got shape {v.shape}")
        if col == "source":
            continue
        ok = v.dtype.kind in "iuf"
        if ok and col == "window":
            ok = v.dtype.kind != "f" or bool(np.isfinite(v).all() and (v == np.round(v)).all())
        elif ok:
            good = np.isfinite(v) & (v > 0)
            if not good.all():
                i = int(np.argmin(good))
                raise TableError(f"{name}: 'qpm' must hold tempos > 0 (quarter notes a minute); row {i} holds {v[i]}")
        if not ok:
            what = "integers (window indices)" if col == "window" else "numbers (tempos, quarter notes a minute)"
            raise TableError(f"{name}: '{col}' must hold {what}, got {v.dtype} values like {v[:1].tolist()}")
        out[col] = v.astype(np.int64 if col == "window" else np.float64)
    return out


def read_events(path) -> np.ndarray:
    return read_table(path)[0]
