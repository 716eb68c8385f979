"""The feature catalog: which symbolic-music features exist, what they mean, when they are undefined.

Every entry is a plain dict with the keys

``id``
    music21's id (``P10``, ``m17`` -- two melody ids are lower case in music21) for jSymbolic
    features, ``P20_0``..``P20_11`` for expanded vector features, ``mvae_*`` / ``arvae_*`` for
    the MusicVAE and AR-VAE attributes.
``name``, ``category``, ``meaning``
    music21's name, ``P`` (pitch), ``R`` (rhythm) or ``M`` (melody), and one line of meaning.
``source``
    ``music21.jSymbolic`` (computed by music21 in the reference backend and mirrored by the
    native backend), ``MusicVAE`` (Roberts et al. 2018) or ``AR-VAE`` (Pati & Lerch 2020).
``kind``
    ``scalar`` (one value) or ``vector`` (one column of an expanded histogram; off by default).
``constant``
    True when the value cannot vary between windows of this encoding (4/4, 120 qpm, 16th grid,
    no key signature); correlations with such columns are undefined. ``constant_reason`` says why.
``nan_when``
    when the feature is undefined (music21 raises) and the column holds NaN.
``note``
    anything else a user must know (duplicates, quirks inherited from music21).

Parity: every ``music21.jSymbolic`` entry (scalars and vector bins) of the native backend equals
music21 10.5.1 within 1e-9 (in practice <= 1e-15) with NaN in the same places, on the 3,774
windows of ``tests/fixtures/features/parity.npz``; no feature had to be excused. The MusicVAE and
AR-VAE attributes have no music21 counterpart; both backends compute them natively.

Left out, on purpose:

* instrumentation features (I1, I3, I6, I8, I11-I20): they need an ``Instrument`` in the stream
  and say nothing about a lone melody.
* texture features (T1-T3): music21 only counts voices in a ``Score``; on one line T1 is 0 and
  T2/T3 raise on every window.
* R31 (initial time signature, 2 values): always (4, 4).
* M1 (melodic interval histogram, 128 bins) and P19 (MIDI pitch histogram, 128 bins) are
  available as vector columns but off by default: 128 sparse columns each would dominate any
  correlation table; P20 and P21 (12 bins) are the compact pitch-class views.
"""

from __future__ import annotations

import json

_CONST_ENC = "every window is 4/4 at 120 qpm"

# id, name, category, meaning, nan_when, constant_reason, note
_JSYMBOLIC = [
    # ---- melody: intervals between consecutive notes (rests skipped) ----
    ("M2", "Average Melodic Interval", "M", "mean absolute interval between consecutive notes, semitones",
     "fewer than 2 notes", None, None),
    ("M3", "Most Common Melodic Interval", "M", "most frequent absolute interval, semitones (smallest on ties)",
     None, None, "0 when there are fewer than 2 notes (music21's behaviour)"),
    ("M4", "Distance Between Most Common Melodic Intervals", "M",
     "absolute difference between the two most frequent intervals, semitones", None, None,
     "0 with fewer than 2 notes; with one interval size it equals that size (music21 takes the "
     "second maximum of a zeroed histogram, i.e. bin 0)"),
    ("M5", "Most Common Melodic Interval Prevalence", "M", "fraction of intervals that are the most common one",
     "fewer than 2 notes", None, None),
    ("M6", "Relative Strength of Most Common Intervals", "M",
     "count of the 2nd most common interval / count of the most common one", "fewer than 2 notes", None, None),
    ("M7", "Number of Common Melodic Intervals", "M", "number of interval sizes making up at least 9% of intervals",
     "fewer than 2 notes", None, None),
    ("M8", "Amount of Arpeggiation", "M",
     "fraction of intervals that are unisons, 3rds, 5ths, 7ths, octaves or 10ths",
     "at least one interval but none of the arpeggiation sizes (music21 raises; jSymbolic would give 0)",
     None, "0 when there are fewer than 2 notes (music21 returns before its check)"),
    ("M9", "Repeated Notes", "M", "fraction of intervals that are unisons (repeated pitch)", None, None,
     "0 when there are fewer than 2 notes"),
    ("m10", "Chromatic Motion", "M", "fraction of intervals that are one semitone", "fewer than 2 notes", None, None),
    ("M11", "Stepwise Motion", "M", "fraction of intervals that are 1 or 2 semitones", "fewer than 2 notes",
     None, None),
    ("M12", "Melodic Thirds", "M", "fraction of intervals that are 3 or 4 semitones", "fewer than 2 notes", None, None),
    ("M13", "Melodic Fifths", "M", "fraction of intervals that are 7 semitones", "fewer than 2 notes", None, None),
    ("M14", "Melodic Tritones", "M", "fraction of intervals that are 6 semitones", "fewer than 2 notes", None, None),
    ("M15", "Melodic Octaves", "M", "fraction of intervals that are whole octaves (12, 24, ...)",
     "fewer than 2 notes", None, None),
    ("m17", "Direction of Motion", "M", "fraction of non-unison intervals that rise",
     "no rising or falling interval (fewer than 2 distinct consecutive pitches)", None, None),
    ("M18", "Duration of Melodic Arcs", "M", "non-unison intervals per change of direction",
     None, None, "0 when the melody never changes direction"),
    ("M19", "Size of Melodic Arcs", "M", "mean span in semitones of completed arcs between direction changes",
     None, None, "0 when the melody never changes direction; the last (unfinished) arc is not counted"),
    # ---- pitch ----
    ("P1", "Most Common Pitch Prevalence", "P", "fraction of notes on the most common MIDI pitch",
     "no notes", None, None),
    ("P2", "Most Common Pitch Class Prevalence", "P", "fraction of notes on the most common pitch class",
     "no notes", None, None),
    ("P3", "Relative Strength of Top Pitches", "P", "count of the 2nd most common pitch / count of the most common",
     None, None, "0 when fewer than 2 distinct pitches"),
    ("P4", "Relative Strength of Top Pitch Classes", "P",
     "count of the 2nd most common pitch class / count of the most common", "no notes", None, None),
    ("P5", "Interval Between Strongest Pitches", "P", "semitones between the two most common pitches",
     None, None, "ties broken by first appearance in time (music21's Counter order); 0 with < 2 distinct pitches"),
    ("P6", "Interval Between Strongest Pitch Classes", "P",
     "absolute difference of the two most common pitch-class numbers (0..11, not circular)", None, None,
     "ties go to the lower pitch class; with one pitch class the 2nd is taken as 0 (music21)"),
    ("P7", "Number of Common Pitches", "P", "number of pitches making up at least 9% of notes", None, None,
     "0 when there are no notes"),
    ("P8", "Pitch Variety", "P", "number of distinct MIDI pitches", None, None, None),
    ("P9", "Pitch Class Variety", "P", "number of distinct pitch classes", None, None, None),
    ("P10", "Range", "P", "highest minus lowest MIDI pitch, semitones", "no notes", None, None),
    ("P11", "Most Common Pitch", "P", "the most common MIDI pitch (first to appear on ties)", None, None,
     "0 when there are no notes"),
    ("P12", "Primary Register", "P", "mean MIDI pitch of the notes", "no notes", None, None),
    ("P13", "Importance of Bass Register", "P", "fraction of notes at MIDI pitch 54 or lower", "no notes", None,
     "close to constant (0) on real melodies, varies on random sequences"),
    ("P14", "Importance of Middle Register", "P", "fraction of notes at MIDI pitches 55..72", "no notes", None, None),
    ("P15", "Importance of High Register", "P", "fraction of notes at MIDI pitch 73 or higher", "no notes", None, None),
    ("P16", "Most Common Pitch Class", "P", "the most common pitch class, 0=C..11=B (lowest on ties)", None, None,
     "0 when there are no notes"),
    ("P22", "Quality", "P", "1 if the key signature says minor, else 0", None,
     "the stream has no key signature, so music21 always gives 0", None),
    # ---- rhythm (seconds at 120 qpm: one 16th step = 0.125 s) ----
    ("R15", "Note Density", "R", "notes per second up to the end of the last note", None, None,
     "0 when there are no notes"),
    ("R17", "Average Note Duration", "R", "mean note duration, seconds", "no notes", None, None),
    ("R18", "Variability of Note Duration", "R", "population standard deviation of note durations, seconds",
     "no notes", None, None),
    ("R19", "Maximum Note Duration", "R", "longest note, seconds", "no notes", None, None),
    ("R20", "Minimum Note Duration", "R", "shortest note, seconds", "no notes", None, None),
    ("R21", "Staccato Incidence", "R", "fraction of notes shorter than 0.1 s", "no notes",
     "the shortest possible note (one 16th at 120 qpm) lasts 0.125 s, so the value is always 0", None),
    ("R22", "Average Time Between Attacks", "R", "mean time between consecutive onsets, seconds",
     "fewer than 2 notes", None, None),
    ("R23", "Variability of Time Between Attacks", "R", "population std of times between onsets, seconds",
     "fewer than 2 notes", None, None),
    ("R24", "Average Time Between Attacks For Each Voice", "R", "R22 averaged over voices",
     "fewer than 2 notes", None, "identical to R22 on a single line"),
    ("R25", "Average Variability of Time Between Attacks For Each Voice", "R", "R23 averaged over voices",
     "fewer than 2 notes", None, "identical to R23 on a single line"),
    ("R30", "Initial Tempo", "R", "tempo of the first metronome mark, quarter notes per minute", None,
     _CONST_ENC, None),
    ("R32", "Compound Or Simple Meter", "R", "1 if the initial meter is compound", None, _CONST_ENC, None),
    ("R33", "Triple Meter", "R", "1 if the initial meter is triple", None, _CONST_ENC, None),
    ("R34", "Quintuple Meter", "R", "1 if the initial meter is quintuple", None, _CONST_ENC, None),
    ("R35", "Changes of Meter", "R", "1 if the time signature changes", None, _CONST_ENC, None),
    ("R36", "Duration", "R", "end of the last note, seconds (trailing silence not counted)", "no notes", None, None),
]

# vector features: id, name, category, n_bins, meaning of bin i
_VECTORS = [
    ("M1", "Melodic Interval Histogram", "M", 128, "fraction of intervals of {i} semitones"),
    ("P19", "Basic Pitch Histogram", "P", 128, "fraction of notes on MIDI pitch {i}"),
    ("P20", "Pitch Class Distribution", "P", 12,
     "fraction of notes {i} semitones above the most common pitch class"),
    ("P21", "Fifths Pitch Histogram", "P", 12, "fraction of notes on the pitch class {i} fifths above C"),
]

_ATTRIBUTES = [
    ("mvae_c_diatonic", "C Diatonic", "P", "MusicVAE",
     "fraction of notes whose pitch class is in the C major scale", "no notes", None),
    ("mvae_note_density", "Note Density", "R", "MusicVAE", "note onsets per 16th step", None,
     "same definition as arvae_note_density"),
    ("mvae_avg_interval", "Average Interval", "M", "MusicVAE",
     "mean absolute interval between consecutive notes, semitones", "fewer than 2 notes", "numerically equal to M2"),
    ("mvae_sync16", "16th Note Syncopation", "R", "MusicVAE",
     "fraction of notes starting between 8th-note boundaries (odd 16th steps)", "no notes", None),
    ("mvae_sync8", "8th Note Syncopation", "R", "MusicVAE",
     "fraction of notes starting on the off-beat 8th of a quarter (step % 4 == 2)", "no notes", None),
    ("arvae_rhythmic_complexity", "Rhythmic Complexity", "R", "AR-VAE",
     "metrical-weight sum of onsets / sum of weights, averaged over bars", None,
     "AR-VAE's per-beat weights (0.2|0.67|0.25|0.67 on beats, 0.5 on 8ths, 1 on 16ths) restricted to "
     "the 16th grid, normalised by the sum of the 16 weights of a bar"),
    ("arvae_pitch_range", "Pitch Range", "P", "AR-VAE", "highest minus lowest pitch, semitones", None,
     "0 with fewer than 2 notes (AR-VAE); AR-VAE divides by 26, a constant that does not change correlations"),
    ("arvae_note_density", "Note Density", "R", "AR-VAE", "note onsets per 16th step", None,
     "same definition as mvae_note_density"),
    ("arvae_contour", "Contour", "M", "AR-VAE", "sum of signed intervals (last minus first pitch), semitones", None,
     "0 with fewer than 2 notes (AR-VAE); AR-VAE divides by 26"),
]


NOMINAL_FEATURES = ("P16",)  # values are category labels (pitch classes 0..11), not quantities: phik bins
# them one bin per value instead of 10 uniform bins


def _build():
    out = []
    for fid, name, cat, meaning, nan_when, const, note in _JSYMBOLIC:
        out.append(dict(id=fid, name=name, category=cat, meaning=meaning, source="music21.jSymbolic",
                        kind="scalar", constant=const is not None, constant_reason=const,
                        nan_when=nan_when, note=note, scale="nominal" if fid in NOMINAL_FEATURES else "interval"))
    for fid, name, cat, n, meaning in _VECTORS:
        for i in range(n):
            out.append(dict(id=f"{fid}_{i}", name=f"{name} {i}", category=cat, meaning=meaning.format(i=i),
                            source="music21.jSymbolic", kind="vector", constant=False, constant_reason=None,
                            nan_when="no notes" if fid != "M1" else "fewer than 2 notes",
                            note=f"bin {i} of {fid}, normalised to sum 1 (music21 raises on an empty histogram)",
                            scale="interval"))
    for fid, name, cat, src, meaning, nan_when, note in _ATTRIBUTES:
        out.append(dict(id=fid, name=name, category=cat, meaning=meaning, source=src, kind="scalar",
                        constant=False, constant_reason=None, nan_when=nan_when, note=note, scale="interval"))
    return out


_CATALOG = _build()
VECTOR_IDS = tuple(v[0] for v in _VECTORS)


def catalog(vectors: bool = False) -> list[dict]:
    """All catalog entries (copies), scalar features first; vector bins only when ``vectors``."""
    return [dict(e) for e in _CATALOG if vectors or e["kind"] == "scalar"]


def catalog_json(vectors: bool = False) -> str:
    """The catalog as an indented JSON string, to write beside a feature table."""
    return json.dumps(catalog(vectors), indent=1)


def feature_ids(vectors: bool = False, source: str | None = None) -> list[str]:
    """Column ids in catalog order, optionally only those of one ``source``."""
    return [e["id"] for e in catalog(vectors) if source is None or e["source"] == source]


def jsymbolic_ids(vectors: bool = False) -> list[str]:
    """Ids of the music21 jSymbolic features (scalars, plus vector ids like ``P20`` when asked)."""
    ids = [e[0] for e in _JSYMBOLIC]
    return ids + list(VECTOR_IDS) if vectors else ids
