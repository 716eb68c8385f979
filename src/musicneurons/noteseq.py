"""What a source becomes once read: :class:`NoteSeq` (notes in seconds, tempos, meters), and the closed set of
reasons a source, a piece of it or a melody can give no window (:data:`REASONS`), raised as
:class:`ExtractionError` (a whole source) or :class:`PieceRejected` (one tempo/meter section of it).

Readers (:mod:`.sources`) produce a ``NoteSeq``; the extractor (:mod:`.extract`) turns it into windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Every reason a file, a piece of a file or a melody can yield no window, with its meaning. Closed: the errors
#: below refuse any other reason, so a rejection table never holds a reason this list does not explain.
REASONS = {
    "file not found": "the path does not exist or is not a file",
    "empty file": "the file has zero bytes",
    "file too large": "the file is larger than the size limit",
    "parse error": "the MIDI/score reader could not parse the file",
    "no notes": "the file holds no notes at all",
    "no melodic notes": "no notes left after the pitch-range (21..108), program and drum filters",
    "multiple time signatures": "a piece holds a time-signature change (Magenta splits on changes, so this means an "
                                "implicit change from the default 4/4 after time 0)",
    "multiple tempos": "a piece holds a tempo change (as above, from the default 120 qpm after time 0)",
    "not 16 steps per bar": "a piece's time signature does not give 16 sixteenths per bar (e.g. 3/4, 6/8)",
    "bad time signature": "a time signature with numerator 0 or a denominator that is not a power of 2",
    "negative time": "a note starts or ends before time 0",
    "duration too long": "a note ends after 2**20 steps (65,536 bars): rejected before allocating the melody",
    "melody shorter than window": "melodies were found but none is as long as the window",
}

MAX_STEPS = 2**20  # quantized steps a piece may reach (about 36 hours at 120 qpm)


def _known(reason: str) -> str:
    if reason not in REASONS:
        raise ValueError(f"unknown rejection reason {reason!r}: add it to musicneurons.noteseq.REASONS")
    return reason


class ExtractionError(ValueError):
    """A source that cannot be read at all; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, source, reason: str, detail: str = ""):
        self.source, self.reason, self.detail = str(source), _known(reason), detail
        super().__init__(f"{source}: {reason}" + (f" ({detail})" if detail else ""))


class PieceRejected(ValueError):
    """One piece (a section with one tempo and meter) that Magenta's converter drops; ``reason`` in :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = _known(reason), detail
        super().__init__(reason + (f" ({detail})" if detail else ""))


@dataclass
class NoteSeq:
    """A minimal NoteSequence: notes in seconds plus tempo and time-signature events.

    Note arrays all have shape (n_notes,). ``instrument`` is the reader's instrument index (note-seq uses
    the index of the pretty_midi Instrument).
    """

    pitch: np.ndarray
    start: np.ndarray
    end: np.ndarray
    velocity: np.ndarray
    program: np.ndarray
    instrument: np.ndarray
    is_drum: np.ndarray
    time_signatures: list = field(default_factory=list)  # [(time, numerator, denominator)]
    tempos: list = field(default_factory=list)  # [(time, qpm)]

    @property
    def total_time(self) -> float:
        return float(self.end.max()) if self.end.size else 0.0

    def take(self, mask) -> "NoteSeq":
        return NoteSeq(
            self.pitch[mask], self.start[mask], self.end[mask], self.velocity[mask], self.program[mask],
            self.instrument[mask], self.is_drum[mask], list(self.time_signatures), list(self.tempos),
        )

    @staticmethod
    def from_notes(notes, time_signatures=(), tempos=()) -> "NoteSeq":
        """Build from rows ``(pitch, start_s, end_s[, velocity, program, instrument, is_drum])``."""
        rows = [tuple(n) + (100, 0, 0, False)[len(n) - 3:] for n in notes]
        cols = list(zip(*rows)) if rows else [[]] * 7
        return NoteSeq(
            np.asarray(cols[0], dtype=np.int64), np.asarray(cols[1], dtype=np.float64),
            np.asarray(cols[2], dtype=np.float64), np.asarray(cols[3], dtype=np.int64),
            np.asarray(cols[4], dtype=np.int64), np.asarray(cols[5], dtype=np.int64),
            np.asarray(cols[6], dtype=bool), list(time_signatures), list(tempos),
        )
