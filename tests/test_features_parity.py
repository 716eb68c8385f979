"""The native backend equals music21 on every catalog feature (within 1e-9, NaN in the same places).

``fixtures/features/parity.npz`` holds windows and the values music21 computed on them; it is
made by ``fixtures/features/make_parity_fixture.py`` (real 2- and 16-bar melodies from music21's
ABC corpus, some cut by musicneurons.extract's Magenta rules, random sequences, edge cases). A small live test runs music21 itself.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from musicneurons.features import compute_features, feature_ids

FIXTURE = Path(__file__).parent / "fixtures" / "features" / "parity.npz"
TOL = 1e-9


@pytest.fixture(scope="module")
def fixture():
    return np.load(FIXTURE)


def assert_same(native, reference, columns, kinds=None):
    nan_n, nan_r = np.isnan(native), np.isnan(reference)
    problems = []
    for j, c in enumerate(columns):
        both = ~nan_n[:, j] & ~nan_r[:, j]
        bad = (nan_n[:, j] != nan_r[:, j]) | (both & (np.abs(native[:, j] - reference[:, j]) > TOL))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            kind = f" ({kinds[i]})" if kinds is not None else ""
            problems.append(f"{c}: {int(bad.sum())} windows differ, e.g. window {i}{kind}: "
                            f"native {native[i, j]!r} vs music21 {reference[i, j]!r}")
    assert not problems, "\n".join(problems)


def test_fixture_covers_the_acceptance_sizes(fixture):
    real = sum(int(np.char.startswith(fixture[f"kind_{t}"], "real").sum()) for t in (32, 256))
    rand = sum(int((fixture[f"kind_{t}"] == "random").sum()) for t in (32, 256))
    assert real >= 2000 and rand >= 500
    assert np.char.startswith(fixture["kind_256"], "real").sum() >= 500
    assert (fixture["kind_32"] == "real-magenta").sum() >= 300, "windows cut by Magenta's rules"
    jsym = [c for c in feature_ids(vectors=True) if not c.startswith(("mvae_", "arvae_"))]
    assert sorted(fixture["columns"].tolist()) == sorted(jsym), "fixture columns differ from the catalog"


@pytest.mark.parametrize("steps", [32, 256])
def test_native_equals_music21_fixture(fixture, steps):
    cols = fixture["columns"].tolist()
    ev = fixture[f"events_{steps}"].astype(np.int64)
    ref = fixture[f"values_{steps}"]
    got = compute_features(ev, progress=False, vectors=True)[cols].to_numpy()
    assert_same(got, ref, cols, fixture[f"kind_{steps}"])
    # the comparison is not vacuous: most cells are finite and columns vary across windows
    assert np.isfinite(ref).mean() > 0.9
    varying = [c for j, c in enumerate(cols[:60]) if np.nanstd(ref[:, j]) > 0]
    assert len(varying) >= 40


def test_native_equals_music21_live():
    """~50 windows through music21 in this run: real windows from the fixture plus fresh random ones."""
    z = np.load(FIXTURE)
    seed = time.time_ns() % 2**32
    rng = np.random.default_rng(seed)
    real32 = z["events_32"][z["kind_32"] == "real"].astype(np.int64)
    real256 = z["events_256"][z["kind_256"] == "real"].astype(np.int64)
    rand = np.zeros((20, 32), dtype=np.int64)
    for i in range(20):
        pos = rng.choice(32, size=rng.integers(0, 20), replace=False)
        rand[i, pos] = rng.integers(1, 90, size=pos.size)  # NOTE_OFFs and pitches 20..108
    for ev in (np.concatenate([real32[rng.choice(len(real32), 25, replace=False)], rand]),
               real256[rng.choice(len(real256), 5, replace=False)]):
        cols = feature_ids(vectors=True)
        nat = compute_features(ev, progress=False, vectors=True)[cols].to_numpy()
        ref = compute_features(ev, backend="music21", progress=False, vectors=True)[cols].to_numpy()
        assert_same(nat, ref, cols, [f"seed {seed}"] * len(ev))


def test_music21_workers_give_the_same_values(fixture):
    ev = fixture["events_32"][:10].astype(np.int64)
    one = compute_features(ev, backend="music21", progress=False)
    two = compute_features(ev, backend="music21", progress=False, workers=2)
    np.testing.assert_array_equal(one.to_numpy(), two.to_numpy())
