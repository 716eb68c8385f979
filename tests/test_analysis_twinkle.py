import numpy as np
import pytest

from musicneurons.analysis import twinkle_events, twinkle_table
from musicneurons.melody import events_to_notes


def test_twinkle_two_bars_exact():
    ev = twinkle_events(2)
    assert ev.shape == (32,) and ev.dtype == np.int64
    notes = events_to_notes(ev)
    assert notes.tolist() == [[60, 0, 4], [60, 4, 8], [67, 8, 12], [67, 12, 16], [69, 16, 20], [69, 20, 24],
                              [67, 24, 32]]
    assert ev.tolist()[:8] == [41, 0, 0, 0, 41, 0, 0, 0]


def test_twinkle_sixteen_bars():
    ev = twinkle_events(16)
    assert ev.shape == (256,)
    notes = events_to_notes(ev)
    assert len(notes) == 56  # 4 phrases of 14 notes
    assert set(notes[:, 0] % 12) <= {0, 2, 4, 5, 7, 9, 11}  # C major
    assert notes[:, 0].min() == 60 and notes[:, 0].max() == 69
    assert np.array_equal(ev[192:], ev[:64])  # the last 4 bars restart the tune
    assert notes[13].tolist() == [60, 56, 64]  # "...what you are": C, a half note ending bar 4
    with pytest.raises(ValueError, match="2 or 16"):
        twinkle_events(4)


def test_twinkle_table_percentiles_exact():
    pop = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, 4.0]])
    pops = np.full((4, 2), 0.5)
    t = twinkle_table([1.0, 10.0], [0.5, 0.1], pop, pops, music_mask=[False, True], order=[1])
    assert t.latent_index.tolist() == [1, 0] and t["rank"].tolist() == [1, 0]
    row0 = t.set_index("latent_index").loc[0]
    assert row0.mu_percentile == pytest.approx(37.5)  # 1 below, 1 tie -> (1 + 0.5) / 4
    assert row0.sigma_percentile == pytest.approx(50.0)
    assert t.set_index("latent_index").loc[1].mu_percentile == 100.0
    assert row0.pop_mean_mu == 1.5
