"""Magenta's 90-class monophonic melody encoding, and conversions events <-> notes <-> MIDI.

An *events* array holds one integer per 16th-note step:

====== ==============================================
index  meaning
====== ==============================================
0      no event: hold the sounding note, or stay silent
1      note off: release the sounding note
2..89  note on for MIDI pitch ``index + 19`` (21..108)
====== ==============================================

This is note-seq's ``MelodyOneHotEncoding(21, 109)`` exactly, as used by MusicVAE's
``OneHotMelodyConverter`` and magenta.js's ``MelodyConverter``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NO_EVENT = 0
NOTE_OFF = 1
MIN_PITCH = 21
MAX_PITCH = 108
N_CLASSES = MAX_PITCH - MIN_PITCH + 1 + 2  # 90
PITCH_OFFSET = MIN_PITCH - 2  # pitch = event + 19
STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16
DEFAULT_QPM = 120.0
SECONDS_PER_STEP = 60.0 / DEFAULT_QPM / STEPS_PER_QUARTER  # 0.125: a 16th note at 120 qpm
DEFAULT_VELOCITY = 80


def pitch_to_event(pitch):
    """MIDI pitch (21..108) -> event index (2..89)."""
    return np.asarray(pitch) - PITCH_OFFSET


def event_to_pitch(event):
    """Event index (2..89) -> MIDI pitch (21..108)."""
    return np.asarray(event) + PITCH_OFFSET


def events_to_notes(events) -> np.ndarray:
    """Notes of an events window, as note-seq's ``Melody.to_sequence`` plays them.

    A note lasts until the next NOTE_OFF, the next onset, or the end of the window.

    Returns
    -------
    np.ndarray, shape=(n_notes, 3), int64
        Columns ``pitch, start_step, end_step``.
    """
    ev = np.asarray(events, dtype=np.int64)
    onsets = np.flatnonzero(ev >= 2)
    if onsets.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    boundaries = np.flatnonzero(ev >= 1)  # any note-on or note-off ends the sounding note
    pos = np.searchsorted(boundaries, onsets, side="right")
    ends = np.where(pos < boundaries.size, boundaries[np.minimum(pos, boundaries.size - 1)], ev.size)
    return np.stack([event_to_pitch(ev[onsets]), onsets, ends], axis=1)


def notes_to_events(notes, n_steps: int) -> np.ndarray:
    """Inverse of :func:`events_to_notes` for monophonic, non-overlapping notes.

    ``notes`` has columns ``pitch, start_step, end_step``. A NOTE_OFF is written at a note's
    end unless another note starts there or the end is the window's end.
    """
    ev = np.zeros(n_steps, dtype=np.int64)
    for pitch, start, end in np.asarray(notes, dtype=np.int64).reshape(-1, 3):
        if not MIN_PITCH <= pitch <= MAX_PITCH:
            raise ValueError(f"pitch {pitch} is outside {MIN_PITCH}..{MAX_PITCH}")
        if 0 <= start < n_steps:
            ev[start] = pitch - PITCH_OFFSET
        if start < end < n_steps and ev[end] == NO_EVENT:
            ev[end] = NOTE_OFF
    return ev


def one_hot(events) -> np.ndarray:
    """Events of shape (..., T) -> float32 one-hot of shape (..., T, 90)."""
    ev = np.asarray(events, dtype=np.int64)
    return np.eye(N_CLASSES, dtype=np.float32)[ev]


def validate_events(events) -> np.ndarray:
    """Return events as an int64 array, or raise ValueError naming the bad value."""
    ev = np.asarray(events)
    if ev.ndim < 1 or ev.size == 0:
        raise ValueError("events must be a non-empty array of step events")
    if ev.dtype.kind not in "iu":
        raise ValueError(f"events must be integers, got dtype {ev.dtype}")
    bad = (ev < 0) | (ev >= N_CLASSES)
    if bad.any():
        raise ValueError(f"event {int(ev[bad].flat[0])} is outside 0..{N_CLASSES - 1}")
    return ev.astype(np.int64)


def events_to_midi(events, qpm: float = DEFAULT_QPM, velocity: int = DEFAULT_VELOCITY, program: int = 0):
    """A ``pretty_midi.PrettyMIDI`` playing the window at ``qpm`` (one step = a 16th note)."""
    import pretty_midi

    step_seconds = 60.0 / qpm / STEPS_PER_QUARTER
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    inst = pretty_midi.Instrument(program=program)
    for pitch, start, end in events_to_notes(events):
        inst.notes.append(pretty_midi.Note(velocity, int(pitch), start * step_seconds, end * step_seconds))
    pm.instruments.append(inst)
    return pm


def write_midi(events, path, qpm: float = DEFAULT_QPM, velocity: int = DEFAULT_VELOCITY, program: int = 0) -> Path:
    """Write one events window to a standard MIDI file and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    events_to_midi(events, qpm=qpm, velocity=velocity, program=program).write(str(path))
    return path


def piano_roll(events) -> np.ndarray:
    """Boolean piano roll of shape (88, T): row 0 = A0 (pitch 21)."""
    ev = np.asarray(events)
    roll = np.zeros((MAX_PITCH - MIN_PITCH + 1, ev.size), dtype=bool)
    for pitch, start, end in events_to_notes(ev):
        roll[pitch - MIN_PITCH, start:end] = True
    return roll
