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
