"""The native backend: every catalog feature from events arrays, vectorized over windows with numpy.

The notes of all windows are pulled out at once as flat arrays sorted by (window, onset):
``row`` (window index), ``start``, ``end`` (steps), ``pitch``; per-window quantities are then
``np.bincount`` / ``reduceat`` reductions, and the pitch statistics one compiled pass over each
window's notes. Each jSymbolic formula mirrors
music21 10.5's ``features.jSymbolic`` extractor of the same id, including its tie-breaking, its
zero-instead-of-error cases and its floating-point operation order, so that the two backends agree
to ~1e-15 (tested against values produced by music21 itself).
"""

from __future__ import annotations

import numpy as np

from musicneurons._numba import njit
from musicneurons.melody import PITCH_OFFSET, SECONDS_PER_STEP

NO_NOTES = "no notes"
LT2_NOTES = "fewer than 2 notes"

# AR-VAE's per-beat metrical weights at 16th positions (their 24-tick grid at ticks 0, 1/4, 1/2, 3/4)
ARVAE_WEIGHTS = np.array([0.20, 1, 0.5, 1, 0.67, 1, 0.5, 1, 0.25, 1, 0.5, 1, 0.67, 1, 0.5, 1])
C_MAJOR_PCS = [0, 2, 4, 5, 7, 9, 11]
ARPEGGIO_INTERVALS = [0, 3, 4, 7, 10, 11, 12, 15, 16]
# music21's M15 list (it omits 36)
OCTAVES_M21 = [12, 24, 48, 60, 72, 84, 96, 108, 120]


class _Notes:
    """Flat note arrays of a batch of windows, shape=(n_notes,) each, sorted by (row, start)."""

    def __init__(self, ev: np.ndarray):
        n, t = ev.shape
        self.n_windows, self.n_steps = n, t
        idx = np.arange(t)
        nb = np.where(ev >= 1, idx, t)  # any onset or NOTE_OFF ends the sounding note
        suffix_min = np.minimum.accumulate(nb[:, ::-1], axis=1)[:, ::-1]
        next_boundary = np.concatenate([suffix_min[:, 1:], np.full((n, 1), t)], axis=1)
        self.row, self.start = np.nonzero(ev >= 2)
        self.pitch = ev[self.row, self.start] + PITCH_OFFSET
        self.end = next_boundary[self.row, self.start]
        self.dur = self.end - self.start
        self.count = np.bincount(self.row, minlength=n)
        self.first = np.concatenate([[0], np.cumsum(self.count)[:-1]])
        same = self.row[1:] == self.row[:-1]  # consecutive notes of one window
        self.int_row = self.row[1:][same]
        self.interval = (self.pitch[1:] - self.pitch[:-1])[same]  # signed, next minus previous
        self.ioi = (self.start[1:] - self.start[:-1])[same]  # inter-onset steps


def _seg_sum(rows, values, n):
    return np.bincount(rows, weights=values, minlength=n)


def _seg_reduce(ufunc, values, notes: _Notes, fill=np.nan):
    out = np.full(notes.n_windows, fill, dtype=np.float64)
    ne = notes.count > 0
    if ne.any():
        out[ne] = ufunc.reduceat(values, notes.first[ne])
    return out


def _pstdev(rows, x, n_windows):
    """Population std per window of integer samples ``x``; exact integer moments, NaN if empty."""
    k = np.bincount(rows, minlength=n_windows).astype(np.float64)
    s1 = _seg_sum(rows, x.astype(np.float64), n_windows)
    s2 = _seg_sum(rows, x.astype(np.float64) ** 2, n_windows)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (k * s2 - s1 * s1) / (k * k)
    return np.sqrt(np.maximum(var, 0.0))


def _div(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(a, dtype=np.float64) / np.asarray(b, dtype=np.float64)


def _top2(hist):
    """music21's ``histo.index(max)`` twice: first argmax, then argmax after zeroing it."""
    i1 = hist.argmax(axis=1)
    rows = np.arange(hist.shape[0])
    c1 = hist[rows, i1]
    h2 = hist.copy()
    h2[rows, i1] = 0
    i2 = h2.argmax(axis=1)
    return i1, c1, i2, h2[rows, i2]


def compute_native(events, vectors: bool = False):
    """All catalog features of a batch of windows.

    Parameters
    ----------
    events : array, shape=(n_windows, T), int
    vectors : bool
        also compute the expanded vector features (M1, P19, P20, P21).

    Returns
    -------
    values : dict id -> np.ndarray, shape=(n_windows,), float64
    reasons : dict id -> (mask, reason) for every feature that can be NaN; ``mask`` is a bool
        array of shape (n_windows,) marking the NaN windows, ``reason`` says why in words.
    """
    ev = np.asarray(events, dtype=np.int64)
    if ev.ndim != 2:
        raise ValueError(f"events must have shape (n_windows, T), got {ev.shape}")
    nt = _Notes(ev)
    v: dict[str, np.ndarray] = {}
    pch, pc1 = _pitch_features(nt, v)
    ih, tot, no_arp, no_turn = _melody_features(nt, v)
    _rhythm_features(nt, v)
    if vectors:
        _vector_features(nt, _pitch_histogram(nt), pch, pc1, ih, tot, v)
    _attribute_features(nt, pch, v)
    return v, _nan_reasons(nt, tot, no_arp, no_turn, vectors)


_PITCH_IDS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12", "P13", "P14", "P15", "P16")


@njit(cache=True)
def _pitch_kernel(first, count, pitch, n_steps):  # pragma: no cover - compiled
    """P1-P16 of every window (columns in :data:`_PITCH_IDS` order), its pitch-class histogram and its most common
    pitch class, one pass over each window's notes with one 128-bin histogram reused across windows (pitches
    must be in [0, 128): :func:`_pitch_features` checks)."""
    n = first.size
    out = np.full((n, 16), np.nan)
    pch = np.zeros((n, 12), np.int64)
    pc1 = np.zeros(n, np.int64)
    hist = np.zeros(128, np.int64)
    first_local = np.zeros(128, np.int64)
    for w in range(n):
        hist[:] = 0
        c = count[w]
        total = 0.0
        for k in range(c):
            p = pitch[first[w] + k]
            if hist[p] == 0:
                first_local[p] = k
            hist[p] += 1
            pch[w, p % 12] += 1
            total += p
        # Counter.most_common: highest count, earliest first appearance on ties (numpy's argmax of the score)
        best = -1
        second = -1
        s_best = -1
        s_second = -1
        for p in range(128):
            sc = hist[p] * (n_steps + 2) - first_local[p] if hist[p] > 0 else -1
            if sc > s_best:
                second, s_second = best, s_best
                best, s_best = p, sc
            elif sc > s_second:
                second, s_second = p, sc
        p_max = best if s_best >= 0 else 0  # no (second) pitch: numpy's argmax of all -1 is 0
        p_sec = second if s_second >= 0 else 0
        c_max, c_sec = hist[p_max], hist[p_sec]
        two = c_max > 0 and c_sec > 0
        # _top2 of the pitch classes: the first argmax, then the first argmax after zeroing it
        i1 = 0
        for q in range(12):
            if pch[w, q] > pch[w, i1]:
                i1 = q
        cc1 = pch[w, i1]
        i2 = 0
        best2 = -1
        for q in range(12):
            val = 0 if q == i1 else pch[w, q]
            if val > best2:
                best2, i2 = val, q
        cc2 = 0 if i2 == i1 else pch[w, i2]
        pc1[w] = i1
        n_common = 0
        n_pitch = 0
        lo, hi = 128, -1
        low = mid = high = 0
        for p in range(128):
            h = hist[p]
            if h > 0:
                n_pitch += 1
                if c > 0 and h / c >= 0.09:
                    n_common += 1
                lo = min(lo, p)
                hi = max(hi, p)
                if p < 55:
                    low += h
                elif p < 73:
                    mid += h
                else:
                    high += h
        n_pc = 0
        for q in range(12):
            if pch[w, q] > 0:
                n_pc += 1
        o = out[w]
        if c > 0:
            o[0] = c_max / c
            o[1] = cc1 / c
            o[11] = total / c
            o[12] = low / c
            o[13] = mid / c
            o[14] = high / c
            o[9] = hi - lo
        if cc1 > 0:
            o[3] = cc2 / cc1
        o[2] = c_sec / max(c_max, 1) if two else 0.0
        o[4] = abs(p_sec - p_max) if two else 0.0
        o[5] = abs(i1 - i2)
        o[6] = n_common
        o[7] = n_pitch
        o[8] = n_pc
        o[10] = p_max if c > 0 else 0.0
        o[15] = i1
    return out, pch, pc1


def _pitch_histogram(nt: _Notes) -> np.ndarray:
    """(n_windows, 128) note counts per MIDI pitch."""
    n = nt.n_windows
    return np.bincount(nt.row * 128 + nt.pitch, minlength=n * 128).reshape(n, 128)


def _pitch_features(nt: _Notes, v: dict):
    """Pitch statistics (P1-P16, P22) into ``v`` (:func:`_pitch_kernel`); returns the pitch-class histograms and
    each window's most common pitch class, which the vectors and attributes reuse."""
    if nt.pitch.size and not (0 <= nt.pitch.min() and nt.pitch.max() < 128):
        bad = int(nt.pitch.max() if nt.pitch.max() >= 128 else nt.pitch.min())
        raise ValueError(f"events encode MIDI pitch {bad}, outside 0-127 (event {bad - PITCH_OFFSET})")
    vals, pch, pc1 = _pitch_kernel(nt.first.astype(np.int64), nt.count.astype(np.int64),
                                   nt.pitch.astype(np.int64), int(nt.n_steps))
    for j, fid in enumerate(_PITCH_IDS):
        v[fid] = vals[:, j].copy()
    v["P22"] = np.zeros(nt.n_windows)
    return pch, pc1


def _melody_features(nt: _Notes, v: dict):
    """Melodic intervals (M2-M19, m10, m17) into ``v``; returns the interval histogram, the interval counts and
    the masks of the windows without an arpeggiation interval and without a rising or falling interval."""
    n = nt.n_windows
    absint = np.abs(nt.interval)
    ih = np.bincount(nt.int_row * 128 + absint, minlength=n * 128).reshape(n, 128)
    tot = ih.sum(axis=1).astype(np.float64)
    no_int = tot == 0
    i1, ic1, i2, ic2 = _top2(ih)
    v["M2"] = _div(_seg_sum(nt.int_row, absint.astype(np.float64), n), tot)
    v["M3"] = i1.astype(np.float64)
    v["M4"] = np.abs(i1 - i2).astype(np.float64)
    v["M5"] = _div(ic1, tot)
    v["M6"] = _div(_div(ic2, tot), _div(ic1, tot))
    with np.errstate(invalid="ignore", divide="ignore"):
        v["M7"] = np.where(no_int, np.nan, ((ih > 0) & (ih / tot[:, None] >= 0.09)).sum(axis=1))
    arp = ih[:, ARPEGGIO_INTERVALS].sum(axis=1)
    no_arp = (~no_int) & (arp == 0)
    v["M8"] = np.where(no_int, 0.0, np.where(arp == 0, np.nan, _div(arp, tot)))
    v["M9"] = np.where(no_int, 0.0, _div(ih[:, 0], tot))
    v["m10"] = _div(ih[:, 1], tot)
    v["M11"] = _div(ih[:, 1] + ih[:, 2], tot)
    v["M12"] = _div(ih[:, 3] + ih[:, 4], tot)
    v["M13"] = _div(ih[:, 7], tot)
    v["M14"] = _div(ih[:, 6], tot)
    v["M15"] = _div(ih[:, OCTAVES_M21].sum(axis=1), tot)
    rising = np.bincount(nt.int_row[nt.interval > 0], minlength=n)
    falling = np.bincount(nt.int_row[nt.interval < 0], minlength=n)
    v["m17"] = _div(rising, rising + falling)
    v["M18"], v["M19"] = _arcs(nt)
    return ih, tot, no_arp, (rising + falling) == 0


def _rhythm_features(nt: _Notes, v: dict):
    """Rhythm (R15-R36) into ``v``."""
    n = nt.n_windows
    cnt = nt.count.astype(np.float64)
    none = nt.count == 0
    dur_s = nt.dur * SECONDS_PER_STEP
    last_end = _seg_reduce(np.maximum, nt.end, nt, fill=np.nan)
    v["R15"] = np.where(none, 0.0, _div(cnt, last_end * SECONDS_PER_STEP))
    v["R17"] = _div(_seg_sum(nt.row, dur_s, n), cnt)
    v["R18"] = _pstdev(nt.row, nt.dur, n) * SECONDS_PER_STEP
    v["R19"] = _seg_reduce(np.maximum, dur_s, nt)
    v["R20"] = _seg_reduce(np.minimum, dur_s, nt)
    v["R21"] = _div(_seg_sum(nt.row, (dur_s < 0.10).astype(np.float64), n), cnt)
    n_ioi = np.bincount(nt.int_row, minlength=n)
    v["R22"] = _div(_seg_sum(nt.int_row, nt.ioi * SECONDS_PER_STEP, n), n_ioi)
    v["R23"] = np.where(n_ioi > 0, _pstdev(nt.int_row, nt.ioi, n) * SECONDS_PER_STEP, np.nan)
    v["R24"] = v["R22"].copy()
    v["R25"] = v["R23"].copy()
    v["R30"] = np.full(n, 120.0)
    for fid in ("R32", "R33", "R34", "R35"):
        v[fid] = np.zeros(n)
    v["R36"] = last_end * SECONDS_PER_STEP


def _vector_features(nt: _Notes, hist, pch, pc1, ih, tot, v: dict):
    """The expanded vector features (M1, P19, P20, P21) into ``v``."""
    cnt = nt.count.astype(np.float64)
    none = nt.count == 0
    no_int = tot == 0
    # normalised like music21: v * (1.0 / sum)
    rot = (np.arange(12)[None, :] + pc1[:, None]) % 12
    fifths = np.zeros_like(pch)
    fifths[:, (7 * np.arange(12)) % 12] = pch
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_cnt = (1.0 / cnt)[:, None]
        inv_tot = (1.0 / tot)[:, None]
        m1 = np.where(no_int[:, None], np.nan, ih * inv_tot)
        p19 = np.where(none[:, None], np.nan, hist * inv_cnt)
        p20 = np.where(none[:, None], np.nan, np.take_along_axis(pch, rot, axis=1) * inv_cnt)
        p21 = np.where(none[:, None], np.nan, fifths * inv_cnt)
    for name, arr in (("M1", m1), ("P19", p19), ("P20", p20), ("P21", p21)):
        for i in range(arr.shape[1]):
            v[f"{name}_{i}"] = arr[:, i]


def _attribute_features(nt: _Notes, pch, v: dict):
    """The MusicVAE and AR-VAE attributes into ``v`` (after the pitch and melody features they reuse)."""
    n, t = nt.n_windows, nt.n_steps
    cnt = nt.count.astype(np.float64)
    none = nt.count == 0
    lt2 = nt.count < 2
    v["mvae_c_diatonic"] = _div(pch[:, C_MAJOR_PCS].sum(axis=1), cnt)
    v["mvae_note_density"] = cnt / t
    v["mvae_avg_interval"] = v["M2"].copy()
    v["mvae_sync16"] = _div(_seg_sum(nt.row, (nt.start % 2 == 1).astype(np.float64), n), cnt)
    v["mvae_sync8"] = _div(_seg_sum(nt.row, (nt.start % 4 == 2).astype(np.float64), n), cnt)
    w = ARVAE_WEIGHTS[np.arange(t) % 16]
    v["arvae_rhythmic_complexity"] = _seg_sum(nt.row, w[nt.start], n) / w.sum()
    v["arvae_pitch_range"] = np.where(lt2, 0.0, v["P10"])
    first_pitch, last_pitch = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    first_pitch[~none] = nt.pitch[nt.first[~none]]
    last_pitch[~none] = nt.pitch[nt.first[~none] + nt.count[~none] - 1]
    v["arvae_note_density"] = cnt / t
    v["arvae_contour"] = np.where(lt2, 0.0, last_pitch - first_pitch).astype(np.float64)


def _nan_reasons(nt: _Notes, tot, no_arp, no_turn, vectors: bool) -> dict:
    """id -> (mask, reason) for every feature that can be NaN."""
    none = nt.count == 0
    lt2 = nt.count < 2
    no_int = tot == 0
    reasons = {}
    for fid in ("P1", "P2", "P4", "P10", "P12", "P13", "P14", "P15",
                "R17", "R18", "R19", "R20", "R21", "R36", "mvae_c_diatonic", "mvae_sync16", "mvae_sync8"):
        reasons[fid] = (none, NO_NOTES)
    for fid in ("M2", "M5", "M6", "M7", "m10", "M11", "M12", "M13", "M14", "M15",
                "R22", "R23", "R24", "R25", "mvae_avg_interval"):
        reasons[fid] = (lt2, LT2_NOTES)
    reasons["M8"] = (no_arp, "no arpeggiation interval among the melodic intervals")
    reasons["m17"] = (no_turn, "no rising or falling interval")
    if vectors:
        for name, mask, why in (("M1", no_int, LT2_NOTES), ("P19", none, NO_NOTES),
                                ("P20", none, NO_NOTES), ("P21", none, NO_NOTES)):
            for i in range(128 if name in ("M1", "P19") else 12):
                reasons[f"{name}_{i}"] = (mask, why)
    return reasons


def _arcs(nt: _Notes):
    """music21's M18 (Duration of Melodic Arcs) and M19 (Size of Melodic Arcs)."""
    n = nt.n_windows
    nz = nt.interval != 0
    d = nt.interval[nz]
    r = nt.int_row[nz]
    sign = np.sign(d)
    new_run = np.ones(d.size, dtype=bool)
    if d.size > 1:
        new_run[1:] = (r[1:] != r[:-1]) | (sign[1:] != sign[:-1])
    runs = np.bincount(r[new_run], minlength=n)
    changes = np.maximum(runs - 1, 0)
    non_unison = np.bincount(r, minlength=n)
    absd = np.abs(d).astype(np.float64)
    total = _seg_sum(r, absd, n)
    run_id = np.cumsum(new_run) - 1
    run_sum = np.bincount(run_id, weights=absd) if d.size else np.zeros(0)
    is_last = np.ones(d.size, dtype=bool)
    if d.size > 1:
        is_last[:-1] = r[1:] != r[:-1]
    last_run = np.zeros(n)
    last_run[r[is_last]] = run_sum[run_id[is_last]]
    has = changes > 0
    m18 = np.where(has, _div(non_unison, np.maximum(changes, 1)), 0.0)
    m19 = np.where(has, _div(total - last_run, np.maximum(changes, 1)), 0.0)
    return m18, m19
