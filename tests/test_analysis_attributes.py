import numpy as np
import pandas as pd
import pytest

from musicneurons.analysis import AttributeVectors, attribute_vector, make_planted_latents


def test_attribute_vector_exact_quartiles():
    mu = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [3.0, 5.0]])
    # q25 = 1.75 -> bottom = row 0; q75 = 3.25 -> top = row 3
    np.testing.assert_allclose(attribute_vector(mu, [1.0, 2.0, 3.0, 4.0]), [3.0, 4.0])
    # ties: bottom = rows with the minimum (1, 1), top = row 3
    np.testing.assert_allclose(attribute_vector(mu, [1.0, 1.0, 1.0, 4.0]), [3.0 - 1.0, 5.0 - 2.0 / 3.0])
    assert np.isnan(attribute_vector(mu, [2.0, 2.0, 2.0, 2.0])).all()


def test_attribute_vectors_align_with_planted_axes():
    p = make_planted_latents(n_samples=2000, random_state=4)
    a = AttributeVectors().fit(p.mu, p.features)
    cmp = a.comparison_.set_index("feature")
    assert a.dropped_constant_ == ["C0"]
    for f, d in p.feature_of.items():
        assert cmp.loc[f, "top_axis"] == d
        assert abs(cmp.loc[f, "top_axis_cosine"]) > 0.9
        assert cmp.loc[f, "best_neuron"] == d
        # one axis carries the feature, so the projection cannot beat the neuron by much
        assert cmp.loc[f, "projection_spearman"] <= cmp.loc[f, "best_neuron_spearman"] + 0.01
    np.testing.assert_allclose(np.linalg.norm(a.cosine_.to_numpy(), axis=1), 1.0)
    assert a.settings_["quantile"] == 0.25


def test_projection_wins_for_a_feature_spread_over_two_axes():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(2000, 6))
    feats = pd.DataFrame({"P1": mu[:, 1] + mu[:, 4]})
    a = AttributeVectors().fit(mu, feats)
    row = a.comparison_.iloc[0]
    assert row["winner"] == "attribute_vector"
    assert row["projection_r2"] > 0.95 and row["best_neuron_r2"] < 0.6
    c = a.cosine_.loc["P1"].to_numpy()
    assert c[1] == pytest.approx(np.sqrt(0.5), abs=0.05) and c[4] == pytest.approx(np.sqrt(0.5), abs=0.05)


def test_winner_needs_an_interval_that_excludes_zero():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(2000, 6))
    # P1 on one axis: the neuron is at least as good; P2 spread over two axes: the vector wins, clearly
    feats = pd.DataFrame({"P1": mu[:, 2] + 0.5 * rng.normal(size=2000), "P2": mu[:, 1] + mu[:, 4]})
    cmp = AttributeVectors(n_bootstrap=100).fit(mu, feats).comparison_.set_index("feature")
    assert cmp.loc["P1", "winner"] in ("single_neuron", "tie") and cmp.loc["P1", "diff_lo"] < 0
    assert cmp.loc["P2", "winner"] == "attribute_vector" and cmp.loc["P2", "diff_lo"] > 0
    # few windows, a weak feature: the difference cannot be resolved -> tie, though a point estimate picks a side
    small = mu[:40]
    weak = pd.DataFrame({"P1": small[:, 2] + 3.0 * rng.normal(size=40)})
    c = AttributeVectors(n_bootstrap=200).fit(small, weak).comparison_.iloc[0]
    assert c["winner"] == "tie" and c["diff_lo"] < 0 < c["diff_hi"]
    point = AttributeVectors(n_bootstrap=0).fit(small, weak).comparison_.iloc[0]
    assert point["winner"] in ("attribute_vector", "single_neuron")


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_spearman_from_counts_equals_spearman_of_each_resample(ties):
    from musicneurons.analysis.attributes import _abs_spearman, _bootstrap_abs_spearman

    rng = np.random.default_rng(3)
    n = 157
    x = rng.integers(0, 4, n).astype(float) if ties else rng.normal(size=n)
    y = np.round(x + rng.normal(size=n), 0 if ties else 6)
    idx = [rng.integers(0, n, n) for _ in range(40)] + [np.zeros(n, int)]  # the last resample is constant
    counts = np.stack([np.bincount(i, minlength=n) for i in idx])
    want = np.array([_abs_spearman(x[i], y[i]) for i in idx])
    np.testing.assert_allclose(_bootstrap_abs_spearman([x], y, counts)[0], want, rtol=0, atol=1e-12)
    assert want[-1] == 0.0 and want[:-1].min() > 0.05
