"""Exact values on hand-made windows, the catalog, the music21 conversion and the public API."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicneurons.features import catalog, catalog_json, compute_features, feature_ids, to_music21
from musicneurons.melody import NOTE_OFF, pitch_to_event

NAN = math.nan
W = 2 * (0.2 + 0.67 + 0.25 + 0.67 + 4 * 0.5 + 8 * 1)  # AR-VAE weight sum over 32 steps


def window(notes, t=32, offs=()):
    """Events from (pitch, start) onsets; notes last to the next onset / NOTE_OFF / end."""
    ev = np.zeros(t, dtype=np.int64)
    for p, s in notes:
        ev[s] = pitch_to_event(p)
    for s in offs:
        ev[s] = NOTE_OFF
    return ev


C_SCALE = window([(p, 4 * i) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])])
LONG_D = window([(62, 0)])
REPEATED_C = window([(60, 4 * i) for i in range(8)])
EMPTY = np.zeros(32, dtype=np.int64)

EXPECTED = {
    "c_scale": (C_SCALE, {
        "M2": 12 / 7, "M3": 2, "M4": 1, "M5": 5 / 7, "M6": 0.4, "M7": 2, "M8": NAN, "M9": 0, "m10": 2 / 7,
        "M11": 1, "M12": 0, "M13": 0, "M14": 0, "M15": 0, "m17": 1, "M18": 0, "M19": 0,
        "P1": 1 / 8, "P2": 2 / 8, "P3": 1, "P4": 0.5, "P5": 2, "P6": 2, "P7": 8, "P8": 8, "P9": 7, "P10": 12,
        "P11": 60, "P12": 66.25, "P13": 0, "P14": 1, "P15": 0, "P16": 0, "P22": 0,
        "R15": 2, "R17": 0.5, "R18": 0, "R19": 0.5, "R20": 0.5, "R21": 0, "R22": 0.5, "R23": 0,
        "R24": 0.5, "R25": 0, "R30": 120, "R32": 0, "R33": 0, "R34": 0, "R35": 0, "R36": 4,
        "mvae_c_diatonic": 1, "mvae_note_density": 0.25, "mvae_avg_interval": 12 / 7, "mvae_sync16": 0,
        "mvae_sync8": 0, "arvae_rhythmic_complexity": 2 * 1.79 / W, "arvae_pitch_range": 12,
        "arvae_note_density": 0.25, "arvae_contour": 12,
    }),
    "one_long_note": (LONG_D, {
        "M2": NAN, "M3": 0, "M4": 0, "M5": NAN, "M6": NAN, "M7": NAN, "M8": 0, "M9": 0, "m10": NAN,
        "M11": NAN, "M12": NAN, "M13": NAN, "M14": NAN, "M15": NAN, "m17": NAN, "M18": 0, "M19": 0,
        "P1": 1, "P2": 1, "P3": 0, "P4": 0, "P5": 0, "P6": 2, "P7": 1, "P8": 1, "P9": 1, "P10": 0,
        "P11": 62, "P12": 62, "P13": 0, "P14": 1, "P15": 0, "P16": 2,
        "R15": 0.25, "R17": 4, "R18": 0, "R19": 4, "R20": 4, "R21": 0, "R22": NAN, "R23": NAN,
        "R24": NAN, "R25": NAN, "R36": 4,
        "mvae_c_diatonic": 1, "mvae_note_density": 1 / 32, "mvae_avg_interval": NAN, "mvae_sync16": 0,
        "mvae_sync8": 0, "arvae_rhythmic_complexity": 0.2 / W, "arvae_pitch_range": 0, "arvae_contour": 0,
    }),
    "repeated_note": (REPEATED_C, {
        "M2": 0, "M3": 0, "M4": 0, "M5": 1, "M6": 0, "M7": 1, "M8": 1, "M9": 1, "m10": 0, "M11": 0,
        "M15": 0, "m17": NAN, "M18": 0, "M19": 0,
        "P1": 1, "P2": 1, "P3": 0, "P4": 0, "P5": 0, "P6": 0, "P7": 1, "P8": 1, "P10": 0, "P11": 60,
        "P12": 60, "P16": 0, "R15": 2, "R17": 0.5, "R22": 0.5, "R23": 0, "R36": 4,
        "arvae_contour": 0, "arvae_pitch_range": 0,
    }),
    "empty": (EMPTY, {
        "M2": NAN, "M3": 0, "M4": 0, "M5": NAN, "M8": 0, "M9": 0, "m17": NAN, "M18": 0, "M19": 0,
        "P1": NAN, "P2": NAN, "P3": 0, "P4": NAN, "P5": 0, "P6": 0, "P7": 0, "P8": 0, "P9": 0, "P10": NAN,
        "P11": 0, "P12": NAN, "P13": NAN, "P16": 0, "P22": 0,
        "R15": 0, "R17": NAN, "R18": NAN, "R19": NAN, "R22": NAN, "R30": 120, "R36": NAN,
        "mvae_c_diatonic": NAN, "mvae_note_density": 0, "mvae_sync16": NAN,
        "arvae_rhythmic_complexity": 0, "arvae_pitch_range": 0, "arvae_contour": 0,
    }),
}


@pytest.mark.parametrize("backend", ["native", "music21"])
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_exact_values_on_hand_made_windows(case, backend):
    ev, expected = EXPECTED[case]
    row = compute_features(ev[None], backend=backend, progress=False).iloc[0]
    for fid, want in expected.items():
        got = row[fid]
        if math.isnan(want):
            assert math.isnan(got), f"{case} {fid}: expected NaN, got {got}"
        else:
            assert got == pytest.approx(want, abs=1e-12), f"{case} {fid}"


@pytest.mark.parametrize("backend", ["native", "music21"])
def test_melodic_arcs_match_music21_docstring_example(backend):
    # music21's own example "c' d' e' d' c' d' e'2 c'2 c'2": M18 = 7/3, M19 = 4
    pitches = [72, 74, 76, 74, 72, 74, 76, 72, 72]
    starts = [0, 4, 8, 12, 16, 20, 24, 32, 40]
    row = compute_features(window(list(zip(pitches, starts)), t=48)[None], backend=backend, progress=False).iloc[0]
    assert row["M18"] == pytest.approx(7 / 3, abs=1e-12)
    assert row["M19"] == pytest.approx(4.0, abs=1e-12)


@pytest.mark.parametrize("backend", ["native", "music21"])
def test_vector_features_of_c_scale(backend):
    row = compute_features(C_SCALE[None], backend=backend, progress=False, vectors=True).iloc[0]
    p20 = np.array([row[f"P20_{i}"] for i in range(12)])
    np.testing.assert_allclose(p20, np.array([2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]) / 8, atol=1e-15)
    p21 = np.array([row[f"P21_{i}"] for i in range(12)])  # C G D A E B F# C# G# D# A# F
    np.testing.assert_allclose(p21, np.array([2, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1]) / 8, atol=1e-15)
    m1 = np.array([row[f"M1_{i}"] for i in range(128)])
    assert m1[1] == pytest.approx(2 / 7) and m1[2] == pytest.approx(5 / 7) and m1.sum() == pytest.approx(1)


def test_syncopation_and_rhythmic_complexity_count_onset_positions():
    ev = window([(60, 1), (62, 2), (64, 3), (65, 6), (67, 16)])  # odd: 1, 3; off-beat 8th: 2, 6
    row = compute_features(ev[None], progress=False).iloc[0]
    assert row["mvae_sync16"] == pytest.approx(2 / 5)
    assert row["mvae_sync8"] == pytest.approx(2 / 5)
    assert row["arvae_rhythmic_complexity"] == pytest.approx((1 + 0.5 + 1 + 0.5 + 0.2) / W)
    assert row["arvae_contour"] == 7 and row["arvae_pitch_range"] == 7


def test_note_off_shortens_notes_and_rests_do_not_break_intervals():
    ev = window([(60, 0), (67, 16)], offs=[2])  # C for 2 steps, rest, G to the end
    row = compute_features(ev[None], progress=False).iloc[0]
    assert row["R20"] == 2 * 0.125 and row["R19"] == 16 * 0.125
    assert row["M2"] == 7 and row["M13"] == 1  # the rest is skipped, as music21 does
    assert row["R36"] == 4.0 and row["R15"] == 2 / 4.0


def test_to_music21_stream_layout():
    from music21 import meter, note, tempo

    ev = window([(60, 2), (64, 8)], t=32, offs=[5])
    s = to_music21(ev)
    ts = list(s.getElementsByClass(meter.TimeSignature))
    mm = list(s.getElementsByClass(tempo.MetronomeMark))
    assert len(ts) == 1 and ts[0].ratioString == "4/4" and ts[0].offset == 0
    assert len(mm) == 1 and mm[0].getQuarterBPM() == 120 and mm[0].offset == 0
    got = [(type(e).__name__, float(e.offset), float(e.quarterLength), getattr(getattr(e, "pitch", None), "midi", None))
           for e in s.notesAndRests]
    assert got == [("Rest", 0.0, 0.5, None), ("Note", 0.5, 0.75, 60), ("Rest", 1.25, 0.75, None),
                   ("Note", 2.0, 6.0, 64)]
    assert s.highestTime == 8.0
    assert isinstance(to_music21(EMPTY).notesAndRests[0], note.Rest)
    with pytest.raises(ValueError, match="one window"):
        to_music21(np.zeros((2, 32), dtype=int))


def test_catalog_is_complete_and_flags_constants():
    cat = catalog()
    ids = [e["id"] for e in cat]
    assert len(ids) == len(set(ids))
    assert all(e["category"] in "PRM" and e["meaning"] and e["name"] for e in cat)
    assert not any(i[0] in "IT" for i in ids), "instrument/texture features are left out"
    constant = {e["id"] for e in cat if e["constant"]}
    assert constant == {"R21", "R30", "R32", "R33", "R34", "R35", "P22"}
    assert all(e["constant_reason"] for e in cat if e["constant"])
    assert {"m10", "m17", "P10", "R15", "M8"} <= set(ids)
    for attr in ("mvae_c_diatonic", "mvae_note_density", "mvae_avg_interval", "mvae_sync16", "mvae_sync8",
                 "arvae_rhythmic_complexity", "arvae_pitch_range", "arvae_note_density", "arvae_contour"):
        assert attr in ids
    vec = catalog(vectors=True)
    assert len(vec) == len(cat) + 128 + 128 + 12 + 12
    import json

    assert json.loads(catalog_json()) == cat


def test_every_music21_one_value_pmr_feature_is_in_the_catalog():
    from music21.features import jSymbolic

    ids = set(feature_ids())
    for F in jSymbolic.featureExtractors:
        f = F()
        if f.id[0].upper() in "PRM" and f.dimensions == 1:
            assert f.id in ids, f"{f.id} ({f.name}) missing from the catalog"


def test_columns_rows_and_reasons():
    ev = np.stack([C_SCALE, EMPTY, LONG_D])
    df, why = compute_features(ev, progress=False, return_reasons=True)
    assert list(df.columns) == feature_ids() and len(df) == 3
    assert df.dtypes.unique().tolist() == [np.float64]
    # every NaN cell has exactly one reason, and no reason points at a finite cell
    nan_cells = {(w, c) for w in range(3) for c in df.columns if np.isnan(df.iloc[w][c])}
    assert set(zip(why["window"], why["feature"])) == nan_cells
    assert why.set_index(["window", "feature"]).loc[(1, "P10"), "reason"] == "no notes"
    assert why.set_index(["window", "feature"]).loc[(0, "M8"), "reason"].startswith("no arpeggiation")


def test_music21_reasons_are_music21_exceptions():
    df, why = compute_features(np.stack([EMPTY, C_SCALE]), backend="music21", progress=False,
                               return_reasons=True)
    r = why.set_index(["window", "feature"])["reason"]
    assert r.loc[(0, "P10")].startswith("JSymbolicFeatureException")
    assert r.loc[(1, "M8")].startswith("JSymbolicFeatureException")
    assert np.isnan(df.loc[1, "M8"]) and not np.isnan(df.loc[1, "M2"])


def test_native_is_independent_of_batching():
    rng = np.random.default_rng(3)
    ev = np.zeros((40, 32), dtype=np.int64)
    for i in range(40):
        pos = rng.choice(32, size=rng.integers(0, 12), replace=False)
        ev[i, pos] = rng.integers(1, 90, size=pos.size)
    whole = compute_features(ev, progress=False, vectors=True)
    chunked = compute_features(ev, progress=False, vectors=True, chunk=7)
    single = [compute_features(e[None], progress=False, vectors=True) for e in ev]
    np.testing.assert_array_equal(whole.to_numpy(), chunked.to_numpy())
    np.testing.assert_array_equal(whole.to_numpy(), np.concatenate([s.to_numpy() for s in single]))


def test_bad_input_gives_one_clear_error():
    with pytest.raises(ValueError, match="outside 0..89"):
        compute_features(np.full((1, 32), 90), progress=False)
    with pytest.raises(ValueError, match="shape"):
        compute_features(np.zeros(32, dtype=int), progress=False)
    with pytest.raises(ValueError, match="backend"):
        compute_features(np.zeros((1, 32), dtype=int), backend="jsymbolic", progress=False)
    with pytest.raises(ValueError, match="integers"):
        compute_features(np.zeros((1, 32)), progress=False)


def _attributes_by_hand(ev):
    """The MusicVAE / AR-VAE attributes of one window, written plainly from the notes."""
    from musicneurons.melody import events_to_notes

    notes = events_to_notes(ev)
    t = ev.size
    pitches = [int(p) for p, _, _ in notes]
    starts = [int(s) for _, s, _ in notes]
    n = len(pitches)
    steps = [abs(b - a) for a, b in zip(pitches, pitches[1:])]
    weights = [0.20, 1, 0.5, 1, 0.67, 1, 0.5, 1, 0.25, 1, 0.5, 1, 0.67, 1, 0.5, 1]
    frac = (lambda k: k / n) if n else (lambda k: NAN)
    return {
        "mvae_c_diatonic": frac(sum(p % 12 in (0, 2, 4, 5, 7, 9, 11) for p in pitches)),
        "mvae_note_density": n / t,
        "mvae_avg_interval": sum(steps) / len(steps) if steps else NAN,
        "mvae_sync16": frac(sum(s % 2 == 1 for s in starts)),
        "mvae_sync8": frac(sum(s % 4 == 2 for s in starts)),
        "arvae_rhythmic_complexity": sum(weights[s % 16] for s in starts) / sum(weights[i % 16] for i in range(t)),
        "arvae_pitch_range": max(pitches) - min(pitches) if n > 1 else 0,
        "arvae_note_density": n / t,
        "arvae_contour": sum(b - a for a, b in zip(pitches, pitches[1:])),
    }


def test_attributes_match_a_plain_per_window_implementation():
    rng = np.random.default_rng(11)
    for t in (32, 256):
        ev = np.zeros((60, t), dtype=np.int64)
        for i in range(60):
            pos = rng.choice(t, size=rng.integers(0, t // 2), replace=False)
            ev[i, pos] = rng.integers(1, 90, size=pos.size)
        df = compute_features(ev, progress=False)
        for i in range(60):
            for fid, want in _attributes_by_hand(ev[i]).items():
                got = df.iloc[i][fid]
                assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-12), (t, i, fid)


@pytest.mark.parametrize("backend", ["native", "music21"])
def test_an_empty_batch_gives_an_empty_table(backend):
    df, why = compute_features(np.zeros((0, 32), dtype=np.int64), backend=backend, progress=False,
                               return_reasons=True)
    assert df.shape == (0, len(feature_ids())) and len(why) == 0
