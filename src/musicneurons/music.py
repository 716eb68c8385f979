"""Music in, music out: the formats people hold melodies in <-> MusicVAE's 90-class event windows.

In: a MIDI/ABC/MusicXML path, ``pretty_midi.PrettyMIDI``, note-seq ``NoteSequence``, ``muspy.Music``, a music21
``Stream``, or event arrays. Music objects go through Magenta's converter rules (:func:`~.extract.extract_sequence`),
so one object can give several windows; :class:`Windows` says which (source, first bar, tempo).
Out: :func:`from_events` turns windows into ``"events" | "pretty_midi" | "note_sequence" | "muspy" | "music21"``.
The optional libraries (note-seq, muspy) are imported only when used (extras ``musicneurons[notes]``, ``[muspy]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .extract import ExtractResult, NoteSeq, extract_sequence, window_steps
from .melody import DEFAULT_QPM, DEFAULT_VELOCITY, STEPS_PER_QUARTER, events_to_midi, events_to_notes, validate_events

FORMATS = ("events", "pretty_midi", "note_sequence", "muspy", "music21")


@dataclass
class Windows:
    """Event windows (N, T) and where each came from: ``source``, ``window`` (index within the source),
    ``first_bar`` (bar of the source's melody the window starts at, -1 for given events) and ``qpm``."""

    events: np.ndarray
    source: list = field(default_factory=list)
    window: np.ndarray = None
    first_bar: np.ndarray = None
    qpm: np.ndarray = None
    rejections: dict = field(default_factory=dict)  # source -> {reason: count} for music that gave no window

    def __len__(self):
        return len(self.events)


def _kind(obj) -> str:
    mod = type(obj).__module__.split(".")[0]
    name = type(obj).__name__
    if isinstance(obj, (str, Path)):
        return "path"
    if mod == "pretty_midi" and name == "PrettyMIDI":
        return "pretty_midi"
    if name == "NoteSequence" and hasattr(obj, "notes") and hasattr(obj, "tempos"):
        return "note_sequence"
    if mod == "muspy" and name == "Music":
        return "muspy"
    if mod == "music21":
        return "music21"
    if isinstance(obj, NoteSeq):
        return "noteseq"
    return "events"


def to_noteseq(music, name: str | None = None) -> NoteSeq:
    """Any supported music object (not events) -> NoteSeq, with the same reading rules as ``extract``."""
    kind = _kind(music)
    if kind == "noteseq":
        return music
    if kind == "path":
        from .sources import read_source

        return read_source(music)
    if kind == "pretty_midi":
        from .sources import noteseq_from_pretty_midi

        return noteseq_from_pretty_midi(music, name or "<PrettyMIDI>")
    if kind == "muspy":
        return _noteseq_from_muspy(music)
    if kind == "note_sequence":
        ns = music
        notes = [(n.pitch, n.start_time, n.end_time, n.velocity, n.program, n.instrument, n.is_drum) for n in ns.notes]
        tss = [(t.time, t.numerator, t.denominator) for t in ns.time_signatures]
        tempos = [(t.time, t.qpm) for t in ns.tempos]
        return NoteSeq.from_notes(notes, tss, tempos)
    if kind == "music21":
        from .sources import score_to_noteseq

        return score_to_noteseq(music, qpm=_music21_qpm(music))
    raise TypeError(f"cannot read music from {type(music).__name__}")


def _noteseq_from_muspy(music) -> NoteSeq:
    """Ticks -> seconds through the Music's own tempo map (``muspy.to_pretty_midi`` renders the seconds right but
    writes 120 qpm as the tempo, which would put Magenta's quantization grid in the wrong place)."""
    res = float(music.resolution)
    changes = sorted((int(t.time), float(t.qpm)) for t in music.tempos)
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0, DEFAULT_QPM))
    ticks = np.array([t for t, _ in changes], np.float64)
    sec_per_tick = np.array([60.0 / (q * res) for _, q in changes])
    cum = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * sec_per_tick[:-1])])

    def seconds(t):
        k = np.searchsorted(ticks, t, side="right") - 1
        return cum[k] + (t - ticks[k]) * sec_per_tick[k]

    rows = [(n.pitch, float(seconds(n.time)), float(seconds(n.time + n.duration)), n.velocity, track.program, k,
             track.is_drum) for k, track in enumerate(music.tracks) for n in track.notes]
    tss = [(float(seconds(t.time)), t.numerator, t.denominator) for t in music.time_signatures]
    tempos = [(float(seconds(t)), q) for t, q in changes]
    return NoteSeq.from_notes(rows, tss, tempos)


def _music21_qpm(stream) -> float:
    from music21 import tempo

    marks = list(stream.recurse().getElementsByClass(tempo.MetronomeMark))
    qpm = marks[0].getQuarterBPM() if marks else None
    return float(qpm) if qpm else DEFAULT_QPM


def as_windows(music, bars: int) -> Windows:
    """Windows of ``bars`` bars from one music object, a list of them, or event arrays (N, T) / (T,).

    Event arrays are validated (integers in 0..89, T = bars * 16) and passed through unchanged.
    """
    n_steps = window_steps(bars)
    items = music if isinstance(music, (list, tuple)) and music and _kind(music[0]) != "events" else [music]
    if len(items) == 1 and _kind(items[0]) == "events":
        ev = validate_events(np.asarray(items[0]))
        ev = ev.reshape(1, -1) if ev.ndim == 1 else ev
        if ev.ndim != 2 or ev.shape[1] != n_steps:
            raise ValueError(f"{bars}-bar windows have {n_steps} steps, got events of shape {ev.shape}")
        n = len(ev)
        return Windows(ev, ["<events>"] * n, np.arange(n), np.full(n, -1), np.full(n, DEFAULT_QPM))
    parts, rejections = [], {}
    for k, item in enumerate(items):
        kind = _kind(item)
        if kind == "events":
            raise TypeError("mix of event arrays and music objects: pass one or the other")
        name = str(item) if kind == "path" else f"<{type(item).__name__} {k}>"
        if kind == "path":
            from .extract import extract_file

            res: ExtractResult = extract_file(item, bars)  # never raises: a bad file gives its reason
        else:
            res = extract_sequence(to_noteseq(item, name), bars, name)
        if not len(res.windows):
            rejections[name] = dict(res.reasons)
        parts.append((name, res))
    ev = np.concatenate([r.windows for _, r in parts]) if parts else np.zeros((0, n_steps), np.int64)
    src = [name for name, r in parts for _ in range(len(r.windows))]
    win = np.concatenate([np.arange(len(r.windows)) for _, r in parts]) if parts else np.zeros(0, np.int64)
    first = np.array([i["first_bar"] for _, r in parts for i in r.info], np.int64)
    qpm = np.array([i["qpm"] for _, r in parts for i in r.info], np.float64)
    return Windows(ev.astype(np.int64), src, win, first, qpm, rejections)


def from_events(events, as_: str = "pretty_midi", qpm: float = DEFAULT_QPM, velocity: int = DEFAULT_VELOCITY,
                program: int = 0):
    """One window (T,) -> one object of format ``as_``; windows (N, T) -> a list of them ("events": the array)."""
    if as_ not in FORMATS:
        raise ValueError(f"as_ must be one of {', '.join(FORMATS)}; got {as_!r}")
    ev = validate_events(events)
    if as_ == "events":
        return ev
    if ev.ndim == 2:
        qpms = np.broadcast_to(np.asarray(qpm, np.float64), (len(ev),))
        return [from_events(row, as_, float(q), velocity, program) for row, q in zip(ev, qpms)]
    if as_ == "pretty_midi":
        return events_to_midi(ev, qpm=qpm, velocity=velocity, program=program)
    if as_ == "muspy":
        import muspy

        return muspy.from_pretty_midi(events_to_midi(ev, qpm=qpm, velocity=velocity, program=program))
    step_s = 60.0 / qpm / STEPS_PER_QUARTER
    notes = events_to_notes(ev)
    if as_ == "note_sequence":
        import note_seq

        ns = note_seq.NoteSequence(ticks_per_quarter=note_seq.STANDARD_PPQ)
        ns.tempos.add(qpm=qpm)
        ns.time_signatures.add(numerator=4, denominator=4)
        for pitch, start, end in notes:
            ns.notes.add(pitch=int(pitch), start_time=start * step_s, end_time=end * step_s, velocity=velocity,
                         program=program)
        ns.total_time = len(ev) * step_s
        return ns
    from music21 import meter, note, stream, tempo  # as_ == "music21"

    part = stream.Part()
    part.insert(0, meter.TimeSignature("4/4"))
    part.insert(0, tempo.MetronomeMark(number=qpm))
    for pitch, start, end in notes:
        n = note.Note(int(pitch), quarterLength=(end - start) / STEPS_PER_QUARTER)
        n.volume.velocity = velocity
        part.insert(start / STEPS_PER_QUARTER, n)
    return part
