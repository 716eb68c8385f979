"""From notes to melody windows, with exactly the rules of Magenta's ``OneHotMelodyConverter``.

The pipeline for one source (a MIDI file or a parsed score):

1. split on tempo and time-signature changes   (note-seq ``split_note_sequence_on_time_changes``)
2. keep notes with pitch 21..108 (and program 0..31 for 2 bars)   (magenta ``data.py`` OneHotMelodyConverter)
3. quantize at 4 steps per quarter, ``int(steps + 0.5)``   (note-seq ``quantize_note_sequence``)
4. drop pieces whose bar is not 16 steps (only 4/4, 2/2, 8/8 ... pass)
5. extract monophonic melodies per instrument   (note-seq ``melody_pipelines.extract_melodies`` with
   ``min_bars=1, gap_bars=1, max_steps_truncate=1600, ignore_polyphonic_notes=True, pad_end=True``)
6. slide a 32- or 256-step window with a 1-bar hop, de-duplicate within each piece, concatenate the pieces
   (magenta ``data.py`` ``LegacyEventListOneHotConverter._dedupe_and_sample`` runs per piece of
   ``split_process_and_combine``: a window found in two pieces is emitted twice).

Everything a source loses is counted under a named reason (see :data:`REASONS`), in the spirit of note-seq's
named errors, so a user can see why a file gave no windows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ._numba import njit
from .melody import DEFAULT_QPM, MAX_PITCH, MIN_PITCH, NO_EVENT, PITCH_OFFSET, STEPS_PER_BAR, STEPS_PER_QUARTER
from .noteseq import MAX_STEPS, REASONS, ExtractionError, NoteSeq, PieceRejected  # noqa: F401 (re-exported)

MAX_MELODY_STEPS = 16 * 100  # Magenta: max_bars=100
MEL_PROGRAMS = range(0, 32)  # Magenta data.MEL_PROGRAMS, used by the 2-bar configs


@dataclass
class Melody:
    """One extracted melody: raw events (-2 no event, -1 note off, pitch) from a bar-aligned start step."""

    instrument: int
    program: int
    start_step: int
    events: np.ndarray
    piece: int = 0
    qpm: float = DEFAULT_QPM

    def encoded(self) -> np.ndarray:
        """Events in the 90-class encoding."""
        ev = np.asarray(self.events, dtype=np.int64)
        return np.where(ev >= 0, ev - PITCH_OFFSET, ev + 2)


@dataclass
class ExtractResult:
    """Windows of one source. ``windows`` has shape (n, T); the ``info`` table has a row per window.

    The windows are Magenta's multiset: distinct within each piece (tempo / time-signature section, ``info``'s
    ``piece``), but a window that occurs in several pieces is there once per piece, as in Magenta's converter.
    """

    source: str
    windows: np.ndarray
    info: list  # dicts: instrument, program, piece, first_bar, qpm
    reasons: Counter
    n_melodies: int = 0
    details: dict = field(default_factory=dict)  # reason -> a detail (e.g. the parser's message)


# -- 1. splitting on time changes (note-seq sequences_lib.split_note_sequence_on_time_changes) ----------


def split_on_time_changes(ns: NoteSeq) -> list[tuple[NoteSeq, float]]:
    """Split where the tempo or the time signature really changes; each piece is shifted to start at 0.

    Returns ``[(piece, offset_seconds)]``; empty when the sequence has no duration.
    """
    total = ns.total_time
    changes = sorted(
        [("ts", t, (n, d)) for t, n, d in ns.time_signatures] + [("tempo", t, q) for t, q in ns.tempos],
        key=lambda c: c[1],
    )  # stable: time signatures before tempos at equal times, as note-seq's list concatenation
    changes = [c for c in changes if c[1] < total]
    current = {"ts": (4, 4), "tempo": DEFAULT_QPM}
    split_times = [0.0]
    for kind, t, value in changes:
        if value == current[kind]:
            continue
        if t > split_times[-1]:
            split_times.append(t)
        current[kind] = value
    if total > split_times[-1]:
        split_times.append(total)
    if len(split_times) < 2:
        return []
    return [(piece, start) for piece, start in zip(_extract_subsequences(ns, split_times), split_times[:-1])]


def _state_events(events, split_times):
    """note-seq's rule for carrying time signatures / tempos into subsequences."""
    n = len(split_times) - 1
    out = [[] for _ in range(n)]
    previous = None
    idx = -1
    for ev in sorted(events, key=lambda e: e[0]):
        t = ev[0]
        if t <= split_times[0]:
            previous = ev
            continue
        while idx < n and t > split_times[idx + 1]:
            idx += 1
            if idx == n:
                break
            if previous is not None:
                out[idx].append((0.0,) + tuple(previous[1:]))
        if idx == n:
            break
        if t < split_times[idx + 1]:
            out[idx].append((t - split_times[idx],) + tuple(ev[1:]))
        previous = ev
    while idx < n - 1:
        idx += 1
        if previous is not None:
            out[idx].append((0.0,) + tuple(previous[1:]))
    return out


def _extract_subsequences(ns: NoteSeq, split_times: list[float]) -> list[NoteSeq]:
    order = np.argsort(ns.start, kind="stable")
    starts = ns.start[order]
    bounds = np.asarray(split_times)
    # subsequence index of each note: last split time <= start
    idx = np.searchsorted(bounds, starts, side="right") - 1
    keep = (starts >= bounds[0]) & (idx < len(bounds) - 1)
    tss = _state_events(ns.time_signatures, split_times)
    tempos = _state_events(ns.tempos, split_times)
    pieces = []
    for k in range(len(split_times) - 1):
        sel = order[keep & (idx == k)]
        piece = ns.take(sel)
        piece.start = piece.start - split_times[k]
        piece.end = np.minimum(piece.end, split_times[k + 1]) - split_times[k]
        piece.time_signatures = tss[k]
        piece.tempos = tempos[k]
        pieces.append(piece)
    return pieces


# -- 3. quantization (note-seq sequences_lib.quantize_note_sequence) -----------------------------------


def _single(events, default, label):
    if not events:
        return default
    first = sorted(events, key=lambda e: e[0])[0]
    if first[0] != 0 and tuple(first[1:]) != tuple(default):
        raise PieceRejected(f"multiple {label}", f"implicit change at {first[0]:.3f}s")
    for ev in events[1:]:
        if tuple(ev[1:]) != tuple(events[0][1:]):
            raise PieceRejected(f"multiple {label}")
    return tuple(events[0][1:])


def quantize(piece: NoteSeq, steps_per_quarter: int = STEPS_PER_QUARTER):
    """Quantized (start_step, end_step) arrays and steps per bar of a piece with one tempo and meter.

    Raises ``PieceRejected`` with Magenta's reason for pieces the converter drops.
    """
    num, den = _single(piece.time_signatures, (4, 4), "time signatures")
    if den <= 0 or (den & (den - 1)) != 0:
        raise PieceRejected("bad time signature", f"{num}/{den}")
    if num == 0:
        raise PieceRejected("bad time signature", f"{num}/{den}")
    (qpm,) = _single(piece.tempos, (DEFAULT_QPM,), "tempos")
    steps_per_second = steps_per_quarter * qpm / 60.0
    start = np.trunc(piece.start * steps_per_second + 0.5).astype(np.int64)
    end = np.trunc(piece.end * steps_per_second + 0.5).astype(np.int64)
    end = np.where(end == start, end + 1, end)
    if (start < 0).any() or (end < 0).any():
        raise PieceRejected("negative time")
    if end.size and end.max() > MAX_STEPS:  # before any per-step allocation (a 745-byte file can ask for 32 GB)
        raise PieceRejected("duration too long", f"a note ends at step {int(end.max())} > {MAX_STEPS} "
                                                  f"(~{MAX_STEPS // (steps_per_quarter * 4)} bars)")
    steps_per_bar = steps_per_quarter * ((4.0 / den) * num)
    return start, end, steps_per_bar, qpm


# -- 5. melody extraction (note-seq melodies_lib.Melody.from_quantized_sequence) -------------------------


@njit(cache=True)
def _melody_events(pitch, start, end, velocity, is_drum, order, mel_start, gap):
    """note-seq's ``Melody._add_note`` loop over notes sorted by (start, -pitch): the raw events, before the
    final NOTE_OFF is stripped and the melody padded. -2 no event, -1 note off, >= 0 pitch."""
    buf = np.empty(256, np.int64)
    n = 0
    last_on = -1
    for idx in range(order.size):
        i = order[idx]
        if is_drum[i] or velocity[i] == 0:
            continue
        s = start[i] - mel_start
        e = end[i] - mel_start
        if n > 0:
            if s == last_on:
                continue  # keep the highest note of a chord (sorted by pitch descending)
            if s - (n - 1) >= gap:  # the last event is always a NOTE_OFF: a gap of a bar or more ends it
                break
        if s >= e:
            raise ValueError("bad note")
        # set_length(e + 1), then write: a later onset truncates the melody
        if n <= e:
            if e + 1 > buf.size:
                grown = np.empty(max(2 * buf.size, e + 1), np.int64)
                grown[:n] = buf[:n]
                buf = grown
            buf[n:e + 1] = -2
        n = e + 1
        buf[s] = pitch[i]
        buf[s + 1:e] = -2
        buf[e] = -1
        last_on = s
    return buf[:n].copy()


def melody_from_quantized(pitch, start, end, velocity, is_drum, search_start: int, steps_per_bar: int = STEPS_PER_BAR,
                          gap_bars: float = 1.0):
    """One melody of one instrument from ``search_start`` on, exactly as note-seq extracts it.

    Inputs are the instrument's notes (any order). Returns ``(start_step, events)`` with raw events as an int64
    array (-2 no event, -1 note off, >=0 pitch), or ``(0, empty)`` when no note is found.
    """
    sel = np.flatnonzero(start >= search_start)
    if sel.size == 0:
        return 0, np.zeros(0, np.int64)
    order = sel[np.lexsort((-pitch[sel], start[sel]))]
    first = int(start[order[0]])
    mel_start = first - (first - search_start) % steps_per_bar
    events = _melody_events(pitch, start, end, velocity, is_drum, order, mel_start, int(gap_bars * steps_per_bar))
    if events.size == 0:
        return 0, events
    if events[-1] == -1:  # strip the final NOTE_OFF ...
        events = events[:-1]
    pad = -events.size % steps_per_bar
    if pad:
        # ... but note-seq's Melody.set_length ends a sustained note when it extends a melody on the right,
        # so the NOTE_OFF comes back unless the melody already ended on a bar line.
        padded = np.full(events.size + pad, -2, np.int64)
        padded[:events.size] = events
        marks = np.flatnonzero(events != -2)
        if marks.size and events[marks[-1]] != -1:
            padded[events.size] = -1
        events = padded
    return mel_start, events


def extract_melodies(pitch, start, end, velocity, program, instrument, is_drum, steps_per_bar: int = STEPS_PER_BAR):
    """All melodies of a quantized piece (note-seq ``extract_melodies`` with MusicVAE's settings)."""
    melodies = []
    for inst in sorted(set(instrument.tolist())):
        m = instrument == inst
        p, s, e, v, d = pitch[m], start[m], end[m], velocity[m], is_drum[m]
        prog = int(program[m][0])
        search = 0
        while True:
            mel_start, events = melody_from_quantized(p, s, e, v, d, search, steps_per_bar)
            mel_end = mel_start + len(events)
            search = mel_end + (0 - mel_end) % steps_per_bar
            if events.size == 0:
                break
            if len(events) < steps_per_bar:  # min_bars = 1
                continue
            if len(events) > MAX_MELODY_STEPS:
                events = events[:MAX_MELODY_STEPS - MAX_MELODY_STEPS % steps_per_bar]
            if not (events >= 0).any():  # min_unique_pitches = 1
                continue
            melodies.append(Melody(int(inst), prog, mel_start, events))
    return melodies


def melody_windows(encoded: np.ndarray, n_steps: int) -> np.ndarray:
    """Every ``n_steps`` window of an encoded melody with a 1-bar hop: shape (n_windows, n_steps), possibly
    (0, n_steps). NOTE_OFFs before a window's first note become NO_EVENT, because Magenta slices a melody with
    ``Melody.__getitem__``, which rebuilds a Melody through ``_from_event_list`` (note-seq melodies_lib.py:117)."""
    if encoded.size < n_steps:
        return np.zeros((0, n_steps), np.int64)
    wins = np.lib.stride_tricks.sliding_window_view(encoded, n_steps)[::STEPS_PER_BAR].copy()
    before_first_onset = ~np.logical_or.accumulate(wins >= 2, axis=1)  # only NO_EVENT/NOTE_OFF there
    wins[before_first_onset] = NO_EVENT
    return wins


# -- the whole converter ---------------------------------------------------------------------------------


def window_steps(bars: int) -> int:
    if bars not in (2, 16):
        raise ValueError(f"bars must be 2 or 16, got {bars}")
    return bars * STEPS_PER_BAR


def extract_sequence(ns: NoteSeq, bars: int, source: str = "", valid_programs=None) -> ExtractResult:
    """Windows of a NoteSeq with MusicVAE's converter rules.

    ``valid_programs`` defaults to programs 0..31 for 2 bars and any program for 16 bars, as Magenta's
    ``cat-mel_2bar_*`` and ``hierdec-mel_16bar`` configs.
    """
    n_steps = window_steps(bars)
    if valid_programs is None and bars == 2:
        valid_programs = MEL_PROGRAMS
    reasons: Counter = Counter()
    details: dict = {}
    if ns.pitch.size == 0:
        reasons["no notes"] += 1
        return ExtractResult(source, np.zeros((0, n_steps), np.int64), [], reasons)
    kept: list[tuple[np.ndarray, dict]] = []  # Magenta's multiset, piece after piece
    n_melodies = 0
    any_melodic = False
    for k, (piece, offset) in enumerate(split_on_time_changes(ns)):
        keep = (piece.pitch >= MIN_PITCH) & (piece.pitch <= MAX_PITCH)
        if valid_programs is not None:
            keep &= np.isin(piece.program, np.asarray(list(valid_programs)))
        piece = piece.take(keep)
        try:
            start, end, spb, qpm = quantize(piece)
        except PieceRejected as e:
            reasons[e.reason] += 1
            if e.detail:
                details.setdefault(e.reason, f"piece {k}: {e.detail}")
            continue
        if spb != STEPS_PER_BAR:
            reasons["not 16 steps per bar"] += 1
            num, den = piece.time_signatures[0][1:] if piece.time_signatures else (4, 4)
            details.setdefault("not 16 steps per bar", f"piece {k}: {num}/{den} gives {spb:g} steps per bar")
            continue
        if not (~piece.is_drum & (piece.velocity > 0)).any():
            continue
        any_melodic = True
        # Magenta de-duplicates the windows of one piece (across its melodies and instruments) and then
        # concatenates the pieces' windows (data.py _dedupe_and_sample, split_process_and_combine). Within a
        # piece Magenta's order is a Python set's; ours is first occurrence (melody order, then bar).
        seen: set[bytes] = set()
        for mel in extract_melodies(piece.pitch, start, end, piece.velocity, piece.program, piece.instrument,
                                    piece.is_drum, STEPS_PER_BAR):
            n_melodies += 1
            wins = melody_windows(mel.encoded(), n_steps)
            for j, row in enumerate(wins):
                key = row.tobytes()
                if key not in seen:
                    seen.add(key)
                    kept.append((row, {
                        "instrument": mel.instrument, "program": mel.program, "piece": k,
                        "first_bar": mel.start_step // STEPS_PER_BAR + j,
                        "piece_offset_s": float(offset), "qpm": float(qpm),
                    }))
    if not kept:
        if n_melodies:
            reasons["melody shorter than window"] += 1
        elif not reasons or any_melodic:
            reasons["no melodic notes"] += 1
    windows = np.array([row for row, _ in kept], dtype=np.int64).reshape(-1, n_steps)
    return ExtractResult(source, windows, [info for _, info in kept], reasons, n_melodies, details)


def extract_file(path, bars: int = 2, valid_programs=None, max_bytes: int = 64 * 2**20) -> ExtractResult:
    """Windows of one file (MIDI, ABC, MusicXML, ...). Never raises on a bad file: see ``reasons``."""
    from .sources import display_path, read_source  # sources -> noteseq only: no cycle

    window_steps(bars)
    name = display_path(path)
    try:
        ns = read_source(path, max_bytes=max_bytes)
    except ExtractionError as e:
        return ExtractResult(name, np.zeros((0, bars * 16), np.int64), [], Counter({e.reason: 1}),
                             details={e.reason: e.detail})
    return extract_sequence(ns, bars, name, valid_programs)

