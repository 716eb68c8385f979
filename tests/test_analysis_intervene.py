import numpy as np
import pandas as pd
import pytest

from musicneurons.analysis import NeuronAblation, Traversal, ablate_noise, reconstruction_accuracy


def decode_fn(z):
    """Toy greedy decoder: pitch from dim 0, note spacing from dim 1, dims 2.. ignored."""
    z = np.asarray(z)
    ev = np.zeros((z.shape[0], 16), dtype=np.int64)
    pitch = np.clip(np.round(60 + 4 * z[:, 0]), 21, 108).astype(int) - 19
    for i in range(z.shape[0]):
        ev[i, :: (2 if z[i, 1] > 0 else 4)] = pitch[i]
    return ev


def features_fn(ev):
    on = ev >= 2
    pitch = np.where(on, ev + 19, np.nan)
    return pd.DataFrame({"P1": np.nanmean(pitch, axis=1), "R1": on.sum(axis=1).astype(float)})


def test_reconstruction_accuracy_exact():
    assert reconstruction_accuracy([[1, 2, 3, 4]], [[1, 2, 0, 0]]) == 0.5
    with pytest.raises(ValueError, match="shapes differ"):
        reconstruction_accuracy([[1, 2]], [[1, 2, 3]])


def test_ablate_noise():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(50, 5))
    events = decode_fn(mu)
    noise = np.array([False, False, True, True, True])
    r = ablate_noise(events, mu, noise, decode_fn)
    assert r["recon_accuracy_full"] == 1.0 and r["recon_accuracy_noise_zeroed"] == 1.0 and r["n_ablated_dims"] == 3
    # zeroing a dim the decoder uses changes the reconstruction
    r2 = ablate_noise(events, mu, np.array([True, False, False, False, False]), decode_fn)
    assert r2["recon_accuracy_noise_zeroed"] < 1.0
    assert r2["agreement"] == r2["recon_accuracy_noise_zeroed"]
    # a full decode the caller already has is used as given (and one of the wrong shape refused)
    wrong_full = events.copy()
    wrong_full[:, 0] += 1
    r3 = ablate_noise(events, mu, noise, decode_fn, full=wrong_full)
    assert r3["recon_accuracy_full"] == reconstruction_accuracy(events, wrong_full) < 1.0
    with pytest.raises(ValueError, match="full decode"):
        ablate_noise(events, mu, noise, decode_fn, full=events[:, :-1])
    # so is a noise-zeroed decode (the analysis shares it with the health gate)
    r4 = ablate_noise(events, mu, noise, decode_fn, ablated=wrong_full)
    assert r4["recon_accuracy_noise_zeroed"] == reconstruction_accuracy(events, wrong_full) < 1.0
    assert r4["recon_accuracy_full"] == 1.0
    with pytest.raises(ValueError, match="ablated decode"):
        ablate_noise(events, mu, noise, decode_fn, ablated=events[:, :-1])


def test_traversal_response_curves_exact():
    mu = np.array([[0.0, 1.0, 0.3], [0.5, -1.0, 0.3]])
    t = Traversal(n_values=3, quantiles=(0.0, 1.0)).fit(mu, [0, 2], decode_fn, features_fn,
                                                         population_mu=np.array([[-1.0, 0, -1], [1.0, 0, 1]]))
    np.testing.assert_allclose(t.grid_[0], [-1.0, 0.0, 1.0])
    c = t.curve(0, "P1")
    np.testing.assert_allclose(c["mean"], [56.0, 60.0, 64.0])
    assert c["n"].tolist() == [2, 2, 2]
    np.testing.assert_allclose(t.curve(0, "R1")["mean"], [6.0, 6.0, 6.0])  # (8 + 4) / 2
    # dim 2 is ignored by the decoder: flat curves, zero effect
    assert t.effect_.loc[2, "P1"] == 0.0
    # base P1 over the two melodies: 60 and 62 -> std 1; range 8 -> effect 8
    assert t.effect_.loc[0, "P1"] == pytest.approx(8.0)


def test_ablating_one_neuron_moves_its_feature_only():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(200, 4)) + np.array([1.0, 0.0, 0.0, 0.0])
    a = NeuronAblation().fit(mu, [0, 1, 3], decode_fn, features_fn)
    assert a.effect_.loc[0, "P1"] > 0.5 and a.effect_.loc[0, "R1"] == 0.0
    assert a.effect_.loc[1, "R1"] > 0.5 and a.effect_.loc[1, "P1"] == 0.0
    assert a.effect_.loc[3].abs().sum() == 0.0 and a.changed_[3] == 0.0
    assert list(a.moved_features(0).index) == ["P1"]
    assert a.shift_.loc[0, "P1"] < 0  # mu[:, 0] centred at 1: zeroing lowers the pitch


def test_traversal_over_the_prior_range():
    from scipy.stats import norm

    mu = np.array([[0.0, 1.0, 0.0], [0.5, -1.0, 0.0]])
    t = Traversal(n_values=5, sweep="prior").fit(mu, [0, 2], decode_fn, features_fn)
    lo, hi = norm.ppf([0.01, 0.99])
    np.testing.assert_allclose(t.grid_[2], np.linspace(lo, hi, 5))  # dim 2's mu never moves, the sweep does
    assert t.effect_.loc[2].fillna(0).max() == 0.0 and t.effect_.loc[0, "P1"] > 1.0
    assert "prior" in t.settings_["sweep"]
    with pytest.raises(ValueError, match="sweep must be"):
        Traversal(sweep="data").fit(mu, [0], decode_fn, features_fn)
