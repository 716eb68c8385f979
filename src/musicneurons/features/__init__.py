"""Symbolic-music features of melody windows: music21's jSymbolic P/R/M features plus the
MusicVAE and AR-VAE attributes, from a trusted reference backend (music21) or a vectorized
native backend that gives the same numbers.

>>> df = compute_features(events)                      # (n_windows, T) int events -> DataFrame
>>> df, why = compute_features(events, return_reasons=True)   # why: window, feature, reason
>>> open("features.catalog.json", "w").write(catalog_json())
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from musicneurons.features.catalog import (
    catalog,
    catalog_json,
    feature_ids,
    jsymbolic_ids,
)
from musicneurons.features.music21_backend import extract_music21, to_music21
from musicneurons.features.native import compute_native
from musicneurons.melody import validate_events

__all__ = ["compute_features", "catalog", "catalog_json", "feature_ids", "to_music21"]

BACKENDS = ("native", "music21")
_VECTOR_DIMS = {"M1": 128, "P19": 128, "P20": 12, "P21": 12}


def _column_names(ids, dims):
    return [i if d == 1 else f"{i}_{k}" for i, d in zip(ids, dims) for k in range(d)]


def _m21_columns(vectors: bool) -> set:
    ids = jsymbolic_ids(vectors)
    return set(_column_names(ids, [_VECTOR_DIMS.get(i, 1) for i in ids]))


def compute_features(events, backend: str = "native", workers: int = 1, progress: bool = True,
                     vectors: bool = False, return_reasons: bool = False, chunk: int = 8192):
    """Catalog features of melody windows, one row per window in input order.

    Parameters
    ----------
    events : array, shape=(n_windows, T), int
        90-class melody events (see :mod:`musicneurons.melody`).
    backend : {"native", "music21"}
        ``native``: vectorized numpy (fast). ``music21``: music21's own extractors on
        :func:`to_music21` streams (the reference; ~3 ms per 2-bar window per process).
        The MusicVAE / AR-VAE attribute columns are not music21 features and are computed
        natively by both backends.
    workers : int
        processes for the music21 backend (the native backend runs in this process).
    progress : bool
        show a progress bar.
    vectors : bool
        add the expanded vector features (M1_0..M1_127, P19_*, P20_*, P21_*).
    return_reasons : bool
        also return a DataFrame (window, feature, reason) naming why each NaN cell is NaN.

    Returns
    -------
    pandas.DataFrame, shape=(n_windows, n_features), float64
        columns = :func:`feature_ids` ``(vectors)``; NaN where a feature is undefined.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    cols = feature_ids(vectors)
    raw = np.asarray(events)
    if raw.ndim != 2:
        raise ValueError(f"events must have shape (n_windows, T), got {raw.shape}")
    if raw.shape[0] == 0:
        df = pd.DataFrame({c: np.zeros(0) for c in cols}, columns=cols)
        return (df, pd.DataFrame(columns=["window", "feature", "reason"])) if return_reasons else df
    ev = validate_events(raw)
    n = ev.shape[0]
    data: dict[str, np.ndarray] = {}
    why: list[pd.DataFrame] = []  # window, feature, reason

    bar = None
    if progress and backend == "native" and n > chunk:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="native features", unit="win")
    parts = []
    own = _m21_columns(vectors) if backend == "music21" else set()  # music21 gives its own reasons
    for s in range(0, n, chunk):
        vals, nan_reasons = compute_native(ev[s:s + chunk], vectors=vectors)
        parts.append(vals)
        if return_reasons:
            for fid, (mask, reason) in nan_reasons.items():
                w = np.flatnonzero(mask)
                if w.size and fid not in own:
                    why.append(pd.DataFrame({"window": s + w, "feature": fid, "reason": reason}))
        if bar is not None:
            bar.update(min(chunk, n - s))
    if bar is not None:
        bar.close()
    for c in cols:
        data[c] = np.concatenate([p[c] for p in parts])

    if backend == "music21":
        ids = jsymbolic_ids(vectors)
        dims = [_VECTOR_DIMS.get(i, 1) for i in ids]
        values, m21_reasons = extract_music21(ev, ids, dims, workers=workers, progress=progress)
        names = _column_names(ids, dims)
        for j, name in enumerate(names):
            data[name] = values[:, j]
        if return_reasons and m21_reasons:
            dim_of = dict(zip(ids, dims))
            rows = [(w, name, msg) for w, c, fid, msg in m21_reasons for name in names[c:c + dim_of[fid]]]
            why.append(pd.DataFrame(rows, columns=["window", "feature", "reason"]))

    df = pd.DataFrame(np.column_stack([data[c] for c in cols]), columns=cols)
    if not return_reasons:
        return df
    reasons = pd.concat(why, ignore_index=True) if why else pd.DataFrame(columns=["window", "feature", "reason"])
    reasons = reasons.sort_values(["window", "feature"], kind="stable").reset_index(drop=True)
    return df, reasons
