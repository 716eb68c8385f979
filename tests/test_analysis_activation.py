import numpy as np
import pytest

from musicneurons.analysis import (NeuronProfile, RealRandomDetector, count_activated, key_neuron_histograms,
                                   make_planted_latents)


def test_count_activated_exact():
    mu = np.array([[0.2, -0.05, 0.11, -0.3], [0.0, 0.1, -0.1, 0.0]])
    m, n = count_activated(mu, [True, True, False, False], threshold=0.1)
    assert m.tolist() == [1, 0] and n.tolist() == [2, 0]
    m, n = count_activated(mu, [True, True, False, False], threshold=0.01)
    assert m.tolist() == [2, 1] and n.tolist() == [2, 1]


def test_auc_exact_with_ties():
    mask = np.array([True, False, False, False])
    # real noise counts 0 and 2, random noise counts 2 and 3 -> AUC = (1 + 1 + 0.5 + 1) / 4
    real = np.array([[1.0, 0, 0, 0], [1.0, 1, 1, 0]])
    rand = np.array([[1.0, 1, 1, 0], [0.0, 1, 1, 1]])
    d = RealRandomDetector().fit(real, rand, mask)
    assert d.auc_ == pytest.approx(0.875)
    assert d.summary_["activated_noise_real_mean"] == 1.0
    assert d.summary_["activated_noise_random_mean"] == 2.5
    assert d.summary_["activated_music_random_mean"] == 0.5


def test_detector_separates_planted_classes():
    p = make_planted_latents(n_samples=1500, random_state=5)
    prof = NeuronProfile(n_bootstrap=0).fit(p.mu, p.sigma)
    d = RealRandomDetector(threshold=0.1).fit(p.mu, p.mu_random, prof.music_mask_)
    assert d.auc_ > 0.99
    assert d.summary_["activated_noise_random_mean"] > 10 * max(d.summary_["activated_noise_real_mean"], 1)
    # both classes use the music neurons about equally, as in the paper
    assert abs(d.summary_["activated_music_real_mean"] - d.summary_["activated_music_random_mean"]) < 0.5
    assert d.predict(p.mu).mean() > 0.99 and d.predict(p.mu_random).mean() < 0.01
    h = key_neuron_histograms(p.mu, p.mu_random, prof.order_[:2], bins=30)
    e = h[int(prof.order_[0])]
    assert e["edges"].size == 31
    assert np.sum(e["real"] * np.diff(e["edges"])) == pytest.approx(1.0)


def test_counts_by_class_fixed_and_spread_scaled():
    from musicneurons.analysis.activation import RealRandomDetector

    rng = np.random.default_rng(0)
    n, music, noise, leaky = 400, 4, 6, 5
    scale_real = np.r_[np.ones(music), np.full(noise, 0.01), np.full(leaky, 0.3)]
    scale_rand = np.r_[np.ones(music), np.full(noise, 0.3), np.full(leaky, 0.3)]  # random input excites noise dims
    real, rand = rng.normal(size=(n, 15)) * scale_real, rng.normal(size=(n, 15)) * scale_rand
    mm = np.r_[np.ones(music, bool), np.zeros(noise + leaky, bool)]
    nm = np.r_[np.zeros(music, bool), np.ones(noise, bool), np.zeros(leaky, bool)]
    d = RealRandomDetector().fit(real, rand, mm, noise_mask=nm)
    bc = d.summary_["by_class"]
    assert bc["n_dims"] == {"music": 4, "noise": 6, "leaky": 5}
    for rule in ("fixed", "spread_scaled"):
        assert bc[rule]["noise"]["random_mean"] > 3 * bc[rule]["noise"]["real_mean"] + 1 and bc[rule]["noise"]["auc"] > 0.9
        assert abs(bc[rule]["leaky"]["random_mean"] - bc[rule]["leaky"]["real_mean"]) < 0.5  # same spread
    # spread-scaled: about 4.6 % of a dim's real values lie beyond 2 sd, whatever the dim's scale
    assert bc["spread_scaled"]["music"]["real_mean"] == pytest.approx(music * 0.0455, abs=0.15)
    assert "2 x sd_real" in d.settings_["spread_scaled"]
