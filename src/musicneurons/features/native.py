"""The native backend: every catalog feature from events arrays, vectorized over windows with numpy.

The notes of all windows are pulled out at once as flat arrays sorted by (window, onset):
``row`` (window index), ``start``, ``end`` (steps), ``pitch``; per-window quantities are then
``np.bincount`` / ``reduceat`` reductions and (N, 128) histograms. Each jSymbolic formula mirrors
music21 10.5's ``features.jSymbolic`` extractor of the same id, including its tie-breaking, its
zero-instead-of-error cases and its floating-point operation order, so that the two backends agree
to ~1e-15 (tested against values produced by music21 itself).
"""

from __future__ import annotations

import numpy as np

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
    hist, pch, pc1 = _pitch_features(nt, v)
    ih, tot, no_arp, no_turn = _melody_features(nt, v)
    _rhythm_features(nt, v)
    if vectors:
        _vector_features(nt, hist, pch, pc1, ih, tot, v)
    _attribute_features(nt, pch, v)
    return v, _nan_reasons(nt, tot, no_arp, no_turn, vectors)


def _pitch_features(nt: _Notes, v: dict):
    """Pitch statistics (P1-P16, P22) into ``v``; returns the pitch and pitch-class histograms and each window's
    most common pitch class, which the vectors and attributes reuse."""
    n, t = nt.n_windows, nt.n_steps
    cnt = nt.count.astype(np.float64)
    none = nt.count == 0
    hist = np.bincount(nt.row * 128 + nt.pitch, minlength=n * 128).reshape(n, 128)
    pch = np.bincount(nt.row * 12 + nt.pitch % 12, minlength=n * 12).reshape(n, 12)
    # first appearance (local note index) of each (window, pitch): music21's Counter insertion order
    keys, first_idx = np.unique(nt.row * 128 + nt.pitch, return_index=True)
    first_local = np.full(n * 128, t + 1, dtype=np.int64)
    first_local[keys] = first_idx - nt.first[nt.row[first_idx]]
    first_local = first_local.reshape(n, 128)
    # Counter.most_common: highest count, earliest first appearance on ties
    score = np.where(hist > 0, hist * (t + 2) - first_local, -1)
    rows = np.arange(n)
    p_max = score.argmax(axis=1)
    score[rows, p_max] = -1
    p_sec = score.argmax(axis=1)
    c_max, c_sec = hist[rows, p_max], hist[rows, p_sec]
    two_pitches = (c_max > 0) & (c_sec > 0)

    v["P1"] = _div(c_max, cnt)
    pc1, pcc1, pc2, pcc2 = _top2(pch)
    v["P2"] = _div(pcc1, cnt)
    v["P3"] = np.where(two_pitches, _div(c_sec, np.maximum(c_max, 1)), 0.0)
    v["P4"] = _div(pcc2, pcc1)
    v["P5"] = np.where(two_pitches, np.abs(p_sec - p_max), 0).astype(np.float64)
    v["P6"] = np.abs(pc1 - pc2).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        common = (hist > 0) & (hist / cnt[:, None] >= 0.09)
    v["P7"] = common.sum(axis=1).astype(np.float64)
    v["P8"] = (hist > 0).sum(axis=1).astype(np.float64)
    v["P9"] = (pch > 0).sum(axis=1).astype(np.float64)
    present = hist > 0
    hi = 127 - present[:, ::-1].argmax(axis=1)
    lo = present.argmax(axis=1)
    v["P10"] = np.where(none, np.nan, hi - lo)
    v["P11"] = np.where(none, 0, p_max).astype(np.float64)
    v["P12"] = _div(_seg_sum(nt.row, nt.pitch.astype(np.float64), n), cnt)
    v["P13"] = _div(hist[:, :55].sum(axis=1), cnt)
    v["P14"] = _div(hist[:, 55:73].sum(axis=1), cnt)
    v["P15"] = _div(hist[:, 73:].sum(axis=1), cnt)
    v["P16"] = pc1.astype(np.float64)
    v["P22"] = np.zeros(n)
    return hist, pch, pc1


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
