"""The reference backend: music21's own jSymbolic extractors on a documented Stream.

The conversion :func:`to_music21` is the single definition of what a window *is* for music21:

* a note lasts until the next NOTE_OFF, the next onset or the window's end (note-seq's
  ``Melody.to_sequence``, see :func:`musicneurons.melody.events_to_notes`);
* a flat ``music21.stream.Stream`` holds a 4/4 ``TimeSignature`` and a 120 qpm ``MetronomeMark``
  at offset 0, then the notes and, for every silence (leading, inner and trailing), a ``Rest``;
* offsets and quarterLengths are ``steps / 4`` (one step = a 16th note = 0.125 s).

Features are extracted music21's fast way: one shared ``DataInstance`` per window and
``f = F(); f.setData(di); f.extract()`` for every extractor. A feature that raises gives NaN
and the exception is recorded as the reason.
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

from musicneurons.melody import STEPS_PER_QUARTER, events_to_notes


def to_music21(events):
    """One events window (T,) -> a flat ``music21.stream.Stream`` (see the module docstring)."""
    from music21 import meter, note, stream, tempo

    ev = np.asarray(events, dtype=np.int64)
    if ev.ndim != 1:
        raise ValueError(f"to_music21 takes one window of shape (T,), got shape {ev.shape}")
    s = stream.Stream()
    s.coreInsert(0.0, meter.TimeSignature("4/4"))
    s.coreInsert(0.0, tempo.MetronomeMark(number=120))
    t = 0
    for pitch, start, end in events_to_notes(ev):
        if start > t:
            s.coreInsert(_ql(t), note.Rest(quarterLength=_ql(start - t)))
        s.coreInsert(_ql(start), note.Note(int(pitch), quarterLength=_ql(end - start)))
        t = end
    if t < ev.size:
        s.coreInsert(_ql(t), note.Rest(quarterLength=_ql(ev.size - t)))
    s.coreElementsChanged()
    return s


def _ql(steps):
    return Fraction(int(steps), STEPS_PER_QUARTER)


def _extractors(ids):
    from music21.features import jSymbolic

    by_id = {F.id: F for F in jSymbolic.featureExtractors}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise KeyError(f"music21 has no jSymbolic extractor with id {missing}")
    return [by_id[i] for i in ids]


def extract_window(events, ids, dims):
    """music21 values of one window.

    Parameters
    ----------
    events : array, shape=(T,)
    ids : list of str
        music21 extractor ids.
    dims : list of int
        number of columns each extractor fills (1 for scalars, the vector length otherwise).

    Returns
    -------
    values : np.ndarray, shape=(sum(dims),), float64
    reasons : list of (column_offset, id, reason) for every extractor that raised.
    """
    from music21.features import DataInstance

    di = DataInstance(to_music21(events))
    out = np.full(int(sum(dims)), np.nan)
    reasons = []
    col = 0
    for F, fid, d in zip(_extractors(ids), ids, dims):
        try:
            f = F()
            f.setData(di)
            vec = f.extract().vector
            if len(vec) != d:
                raise ValueError(f"{fid} gave {len(vec)} values, expected {d}")
            out[col:col + d] = np.asarray(vec, dtype=np.float64)
        except Exception as e:  # music21 raises many kinds; every one means "undefined here"
            reasons.append((col, fid, f"{type(e).__name__}: {e}"))
        col += d
    return out, reasons


def _extract_chunk(args):
    events, ids, dims = args
    vals, reasons = [], []
    for i, ev in enumerate(events):
        v, r = extract_window(ev, ids, dims)
        vals.append(v)
        reasons.extend((i, c, fid, msg) for c, fid, msg in r)
    return np.stack(vals) if vals else np.zeros((0, int(sum(dims)))), reasons


def extract_music21(events, ids, dims, workers: int = 1, progress: bool = True, chunk: int | None = None):
    """music21 values for many windows.

    Parameters
    ----------
    events : array, shape=(n_windows, T), int
    ids, dims : see :func:`extract_window`.
    workers : int
        processes (at most the CPU count); 1 runs in this process.
    chunk : int, optional
        windows per task; default 64, fewer when that would leave a worker idle.

    Returns
    -------
    values : np.ndarray, shape=(n_windows, sum(dims)), float64
    reasons : list of (window, column_offset, id, reason)
    """
    ev = np.asarray(events, dtype=np.int64)
    n = ev.shape[0]
    workers = max(1, min(int(workers), os.cpu_count() or 1))  # more processes than CPUs only cost memory
    if chunk is None:
        chunk = 64 if workers <= 1 else max(1, min(64, -(-n // (4 * workers))))
    starts = list(range(0, n, chunk))
    jobs = [(ev[s:s + chunk], list(ids), list(dims)) for s in starts]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="music21 features", unit="win")
    results = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(_extract_chunk(job))
            if bar is not None:
                bar.update(len(job[0]))
    else:
        import multiprocessing as mp

        from ..procs import die_with_parent

        with mp.get_context("spawn").Pool(workers, initializer=die_with_parent) as pool:
            for res, job in zip(pool.imap(_extract_chunk, jobs), jobs):
                results.append(res)
                if bar is not None:
                    bar.update(len(job[0]))
    if bar is not None:
        bar.close()
    width = int(sum(dims))
    values = np.concatenate([r[0] for r in results]) if results else np.zeros((0, width))
    reasons = [(s + i, c, fid, msg) for s, (_, rs) in zip(starts, results) for i, c, fid, msg in rs]
    return values, reasons
