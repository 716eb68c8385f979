"""Helpers for tests and benchmarks (as ``numpy.testing`` is for numpy): one Standard MIDI File writer and the
generated files built on it.

Everything here writes bytes directly, without mido or pretty_midi, so it can also write files that those
libraries refuse to write (bad headers, running status anywhere, tempo 0, ...). Imports numpy, the standard
library and the numpy-only :mod:`musicneurons.melody`; never the CLI.

Low level: :func:`vlq`, :func:`chunk`, :func:`track`, :func:`absolute_track`, :func:`smf` and the meta events
:func:`tempo` and :func:`time_signature`. Times are in ticks; ``division`` is ticks per quarter note.

High level: :func:`melody_midi` (an events window as the bytes pretty_midi writes for
:func:`musicneurons.melody.events_to_midi`), :func:`realistic_midi` (one seeded multi-track song) and
:func:`write_realistic_corpus` (a folder of them).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from musicneurons.melody import DEFAULT_QPM, DEFAULT_VELOCITY, STEPS_PER_QUARTER, events_to_notes

END_OF_TRACK = b"\x00\xff\x2f\x00"  # delta 0 + the end-of-track meta event


# ---------------------------------------------------------------------------------------------------------
# the byte writer


def vlq(n: int) -> bytes:
    """MIDI variable-length quantity of ``n`` (0..0x0FFFFFFF for a valid file; larger values give 5+ bytes)."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def chunk(kind: bytes, body: bytes) -> bytes:
    """One SMF chunk: the 4-byte ``kind`` (``b"MThd"``, ``b"MTrk"``), the body's length (uint32 BE), the body."""
    return kind + struct.pack(">I", len(body)) + body


def track(events, *, end_delta: int = 0, running_status: bool = False) -> bytes:
    """An ``MTrk`` chunk of ``events``, then end-of-track ``end_delta`` ticks after the last event.

    ``events``: iterable of ``(delta_ticks, message bytes)``; a message is written as given (status byte
    included) unless ``running_status``, which drops a channel message's status byte when it repeats the
    previous channel message's (as mido writes; meta and sysex events reset it).
    """
    body = bytearray()
    running = None
    for delta, msg in events:
        if running_status:
            status = msg[0]
            if status == running:
                msg = msg[1:]
            running = status if status < 0xF0 else None
        body += vlq(delta) + msg
    body += vlq(end_delta) + b"\xff\x2f\x00"
    return chunk(b"MTrk", bytes(body))


def absolute_track(abs_events, **kw) -> bytes:
    """An ``MTrk`` chunk of ``(tick, order, message bytes)`` events at absolute ticks.

    Events are sorted (stably) by ``(tick, order)``, so ``order`` decides what comes first on one tick (e.g.
    note-offs 0, program changes 1, note-ons 2). ``kw`` go to :func:`track`.
    """
    events, now = [], 0
    for tick, _, msg in sorted(abs_events, key=lambda e: (e[0], e[1])):
        events.append((tick - now, msg))
        now = tick
    return track(events, **kw)


def smf(tracks, fmt: int = 1, division: int = 480, n_tracks: int | None = None) -> bytes:
    """A Standard MIDI File: the ``MThd`` header, then the ``tracks`` (chunks) as given.

    ``fmt``: 0, 1 or 2; ``division``: ticks per quarter note (a negative SMPTE value as its uint16 bits);
    ``n_tracks``: the header's track count, ``len(tracks)`` unless given (to write a lying header).
    """
    n = len(tracks) if n_tracks is None else n_tracks
    return chunk(b"MThd", struct.pack(">HHH", fmt, n, division & 0xFFFF)) + b"".join(tracks)


def tempo(qpm: float) -> bytes:
    """Set-tempo meta event: ``int(60e6 / qpm)`` microseconds per quarter, clamped to 1..0xFFFFFF."""
    us = max(1, min(0xFFFFFF, int(60_000_000 / qpm)))
    return b"\xff\x51\x03" + us.to_bytes(3, "big")


def time_signature(num: int, den_pow: int) -> bytes:
    """Time-signature meta event ``num / 2**den_pow`` (24 clocks per click, 8 32nds per quarter)."""
    return b"\xff\x58\x04" + bytes([num & 0xFF, den_pow & 0xFF, 24, 8])


# ---------------------------------------------------------------------------------------------------------
# generated files


def melody_midi(events, qpm: float = DEFAULT_QPM, velocity: int = DEFAULT_VELOCITY, program: int = 0) -> bytes:
    """The bytes ``events_to_midi(events, qpm, velocity, program).write(f)`` writes, without pretty_midi.

    ``events``: one melody window, shape (T,), Magenta's 90-class events at 16th-note steps. The file is what
    pretty_midi 0.2 writes for it: format 1, 220 ticks per quarter, a timing track (tempo, 4/4) and one track
    on channel 0 (program change, notes as note-on / velocity-0 note-on, running status), each track ending one
    tick after its last event; seconds are rounded to ticks the way pretty_midi does.
    """
    resolution = 220
    tick_scale = 60.0 / (qpm * resolution)  # seconds per tick, as PrettyMIDI(initial_tempo=qpm)
    step_seconds = 60.0 / qpm / STEPS_PER_QUARTER
    us = int(6e7 / (60.0 / (tick_scale * resolution)))
    timing = track([(0, b"\xff\x51\x03" + us.to_bytes(3, "big")), (0, time_signature(4, 2))], end_delta=1)

    def tick(seconds: float) -> int:
        return int(round(seconds / tick_scale)) if seconds > 0 else 0

    abs_events = [(0, 6 << 16, bytes([0xC0, program]))]
    for pitch, start, end in events_to_notes(events):
        p = int(pitch)
        abs_events.append((tick(start * step_seconds), (10 << 16) + p * 256 + velocity, bytes([0x90, p, velocity])))
        abs_events.append((tick(end * step_seconds), (10 << 16) + p * 256, bytes([0x90, p, 0])))
    return smf([timing, absolute_track(abs_events, end_delta=1, running_status=True)], fmt=1, division=resolution)


def realistic_midi(rng: np.random.Generator) -> tuple[bytes, int]:
    """One multi-track song drawn from ``rng``; returns ``(SMF bytes, number of notes)``.

    4-10 instruments (drums on channel 9, bass, chords, lead and more lines, each with a program change),
    500-3000 notes, a tempo of 70-170 qpm, 4/4; some songs humanized (note times jittered), some with a
    tempo change or two bars of 3/4. Format 1, 96-960 ticks per quarter. The same ``rng`` state gives the
    same bytes (the benchmarks' corpora rely on it).
    """
    tpq = int(rng.choice([96, 220, 384, 480, 480, 960]))
    step = tpq / 4
    n_inst = int(rng.integers(4, 11))
    target = int(rng.integers(500, 3001))
    roles = ["drums", "bass", "chords", "lead"] + list(rng.choice(["lead", "chords", "line", "line"], n_inst - 4))
    density = {"drums": 14, "bass": 5, "chords": 9, "lead": 6, "line": 5}  # notes per bar
    n_bars = max(4, int(round(target / sum(density[r] for r in roles))))
    humanize = rng.random() < 0.3
    conductor = [(0, 0, tempo(float(rng.integers(70, 171)))), (0, 0, time_signature(4, 2))]
    if rng.random() < 0.2:
        conductor.append((int(16 * step * int(rng.integers(1, n_bars))), 0, tempo(float(rng.integers(70, 171)))))
    if rng.random() < 0.15:
        bar = int(rng.integers(1, n_bars))
        conductor += [(int(16 * step * bar), 0, time_signature(3, 2)),
                      (int(16 * step * (bar + 2)), 0, time_signature(4, 2))]
    tracks, n_notes = [absolute_track(conductor)], 0
    for k, role in enumerate(roles):
        ch = 9 if role == "drums" else (k if k < 9 else k + 1) % 16
        ev = []
        if role != "drums":
            program = {"bass": rng.integers(32, 40), "chords": rng.choice([0, 4, 16, 24, 48, 88]),
                       "lead": rng.choice([0, 11, 25, 56, 65, 73, 80, 81]), "line": rng.integers(0, 96)}[role]
            ev.append((0, 1, bytes([0xC0 | ch, int(program)])))
        notes = []  # (pitch, start_step, end_step)
        if role == "drums":
            for s in range(0, 16 * n_bars, 2):
                notes.append((42, s, s + 1))
                if s % 8 == 0:
                    notes.append((36 if s % 16 == 0 else 38, s, s + 1))
        elif role == "bass":
            root = int(rng.integers(36, 48))
            for s in range(0, 16 * n_bars, 4):
                if rng.random() < 0.85:
                    notes.append((root + int(rng.choice([0, 0, 7, 5, 12, 3])), s, s + int(rng.choice([2, 3, 4]))))
        elif role == "chords":
            for s in range(0, 16 * n_bars, 8):
                root = int(rng.integers(52, 66))
                for iv in (0, 4, 7) if rng.random() < 0.6 else (0, 3, 7):
                    notes.append((root + iv, s, s + int(rng.choice([4, 6, 8]))))
        else:
            s, p = int(rng.integers(0, 8)), int(rng.integers(60, 80))
            while s < 16 * n_bars:
                d = int(rng.choice([1, 2, 2, 3, 4, 4, 6, 8]))
                if rng.random() < 0.15:
                    s += int(rng.choice([2, 4, 8, 12, 20]))
                    continue
                p = int(np.clip(p + rng.choice([-4, -2, -1, 0, 1, 2, 3, 5]), 48, 96))
                notes.append((p, s, s + d + (int(rng.integers(0, 2)) if role == "line" else 0)))
                s += d
        for p, a, b in notes:
            on, off = a * step, b * step
            if humanize:
                on += rng.normal(0, step / 6)
                off += rng.normal(0, step / 6)
            on = max(0, int(round(on)))
            off = max(on + 1, int(round(off)))
            vel = int(rng.integers(40, 121))
            ev += [(on, 2, bytes([0x90 | ch, p, vel])), (off, 0, bytes([0x80 | ch, p, 0]))]
        n_notes += len(notes)
        tracks.append(absolute_track(ev))
    return smf(tracks, fmt=1, division=tpq), n_notes


def write_realistic_corpus(folder, n_files: int, seed: int) -> tuple[list[Path], int]:
    """Write ``n_files`` :func:`realistic_midi` songs from ``default_rng(seed)`` as ``folder/song_0000.mid``...

    Returns ``(paths in order, total number of notes)``; creates ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths, n_notes = [], 0
    for i in range(n_files):
        data, n = realistic_midi(rng)
        path = folder / f"song_{i:04d}.mid"
        path.write_bytes(data)
        paths.append(path)
        n_notes += n
    return paths, n_notes
