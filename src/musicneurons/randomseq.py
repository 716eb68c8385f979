"""Random note sequences: the paper's "not music" inputs.

The paper's recipe for 2 bars: an integer number of note onsets uniform in 2..32, on the 16th-note grid,
exactly one note sounding at any time (each note lasts until the next onset), pitches uniform in MIDI
30..100, and a total duration uniform in 1..8 seconds.

Where the recipe is open, this module chooses (and :data:`RECIPE` records):

- the first onset is at step 0 (otherwise the window would start with silence, and "exactly one note at any
  time" would not hold); the other onsets are distinct steps drawn uniformly from 1..T-1;
- no NOTE_OFF is written: each note is held until the next onset, the last one until the window's end;
- the duration sets the tempo only: ``qpm = quarters * 60 / duration`` (60..480 qpm for 2 bars). It is stored
  per sequence (column ``qpm``) for MIDI rendering; the model never sees it, since MusicVAE's input is the
  step grid;
- the 16-bar variant scales the 2-bar one per bar: 16..256 onsets in 256 steps, durations 8..64 s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .melody import PITCH_OFFSET, STEPS_PER_BAR

RECIPE = {
    2: {"onsets": (2, 32), "pitch": (30, 100), "duration_s": (1.0, 8.0), "first_onset_step": 0},
    16: {"onsets": (16, 256), "pitch": (30, 100), "duration_s": (8.0, 64.0), "first_onset_step": 0},
}


def random_windows(n: int, bars: int = 2, seed: int = 0):
    """``n`` random windows -> (events (n, T) int64, n_onsets (n,), qpm (n,))."""
    if bars not in RECIPE:
        raise ValueError(f"bars must be one of {sorted(RECIPE)}, got {bars}")
    r = RECIPE[bars]
    T = bars * STEPS_PER_BAR
    rng = np.random.default_rng(seed)
    n_onsets = rng.integers(r["onsets"][0], r["onsets"][1] + 1, size=n)
    events = np.zeros((n, T), dtype=np.int64)
    # distinct onset steps: step 0 plus (k-1) of 1..T-1, by ranking random keys
    keys = rng.random((n, T - 1)).argsort(axis=1) + 1
    take = np.arange(T - 1)[None, :] < (n_onsets - 1)[:, None]
    pitches = rng.integers(r["pitch"][0], r["pitch"][1] + 1, size=(n, T))
    rows = np.repeat(np.arange(n), T - 1).reshape(n, T - 1)
    events[rows[take], keys[take]] = pitches[rows[take], keys[take]] - PITCH_OFFSET
    events[:, 0] = pitches[:, 0] - PITCH_OFFSET
    duration = rng.uniform(r["duration_s"][0], r["duration_s"][1], size=n)
    qpm = (T / 4) * 60.0 / duration
    return events, n_onsets, qpm


def random_table(n: int, bars: int = 2, seed: int = 0) -> pd.DataFrame:
    """The random sequences as a melody table (same columns as ``extract``'s, source ``random:<seed>/<i>``)."""
    events, n_onsets, qpm = random_windows(n, bars, seed)
    return pd.DataFrame({
        "source": [f"random:{seed}/{i}" for i in range(n)],
        "window": np.zeros(n, np.int64),
        "events": [e.tolist() for e in events],
        "n_onsets": n_onsets,
        "qpm": qpm,
    })
