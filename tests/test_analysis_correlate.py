import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from musicneurons.analysis import NeuronFeatureCorrelation, make_planted_latents, neuron_correlations, phik_rect
from musicneurons.analysis.correlate import bin_uniform, spearman_rect


@pytest.fixture(scope="module")
def small_frame():
    rng = np.random.default_rng(0)
    n = 300
    X = rng.normal(size=(n, 3))
    X[:, 1] = np.exp(X[:, 1])
    Y = np.c_[X[:, 0] ** 2 + 0.3 * rng.normal(size=n), rng.integers(0, 4, n), X[:, 2] + rng.normal(size=n)]
    Y[rng.random(n) < 0.1, 2] = np.nan
    return X, Y


def test_bin_uniform_matches_phik_binning():
    from phik.binning import bin_array, bin_edges

    x = np.array([0.0, 0.5, 1.0, 2.5, 10.0, np.nan, 3.3])
    idx, nb = bin_uniform(x, 4)
    ref, _ = bin_array(x, bin_edges(x, 4))
    assert nb == 4
    assert idx.tolist() == [0, 0, 0, 0, 3, -1, 1]
    assert [int(r) - 1 for r, v in zip(ref, x) if not np.isnan(v)] == [i for i in idx.tolist() if i >= 0]


def test_phik_rect_equals_phik_matrix(small_frame):
    from phik import phik_matrix
    from phik.significance import significance_matrix

    X, Y = small_frame
    df = pd.DataFrame(np.c_[X, Y], columns=["x0", "x1", "x2", "y0", "y1", "y2"])
    ref = phik_matrix(df, interval_cols=list(df.columns), bins=10, njobs=1).iloc[:3, 3:].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sig = significance_matrix(df, interval_cols=list(df.columns), bins=10, significance_method="asymptotic",
                                  lambda_="log-likelihood", njobs=1).iloc[:3, 3:].to_numpy()
    ph, p, z = phik_rect(X, Y, bins=10)
    np.testing.assert_allclose(ph, ref, rtol=0, atol=1e-6)  # phik integrates by quasi-Monte Carlo; ours exactly
    np.testing.assert_allclose(z, sig, rtol=1e-9, atol=1e-9)
    assert ph[0, 0] > 0.5 and ph[2, 2] > 0.5  # the planted dependences
    assert np.all((p >= 0) & (p <= 1))


def test_spearman_rect_equals_scipy_pairwise(small_frame):
    X, Y = small_frame
    s = spearman_rect(X, Y)
    ok = ~np.isnan(Y[:, 2])
    assert s[1, 2] == pytest.approx(spearmanr(X[ok, 1], Y[ok, 2]).statistic, abs=1e-12)
    assert s[0, 1] == pytest.approx(spearmanr(X[:, 0], Y[:, 1]).statistic, abs=1e-12)


def test_correlations_point_to_planted_features():
    p = make_planted_latents(n_samples=1500, random_state=2)
    c = NeuronFeatureCorrelation(mi_max_samples=800).fit(p.mu, p.features, p.categories, neurons=p.informative)
    assert c.dropped_constant_ == ["C0"]
    assert "C0" not in c.phik_.columns
    for f, d in p.feature_of.items():
        assert c.top_feature(d)[0] == f
        assert c.phik_.loc[d, f] > 0.8
        assert c.z_.loc[d, f] > 5 and c.significant_.loc[d, f]
        assert abs(c.spearman_.loc[d, f]) > 0.9
        assert c.mi_.loc[d].idxmax() == f  # MI cross-check agrees
        assert c.dominant_category_[d] == p.categories[f]
    assert set(c.category_neurons_["P"]) == {p.feature_of["P1"], p.feature_of["P2"]}
    assert c.category_neurons_["M"] == [p.feature_of["M1"]]
    carriers = c.category_carriers(0.5)
    assert sorted(carriers["R"]) == sorted([p.feature_of["R1"], p.feature_of["R2"]])
    assert carriers["M"] == [p.feature_of["M1"]]
    assert c.phik_["X1"].max() < 0.3  # the unrelated feature
    assert not c.significant_["X1"].any()
    top = c.top_features_
    firsts = top[top["rank"] == 1].set_index("latent_index")["feature"].to_dict()
    assert firsts == {d: f for f, d in p.feature_of.items()}
    assert c.settings_["phik_bins"] == 10 and "asymptotic" in c.settings_["significance"]


def test_neuron_correlations_independent_planted_neurons():
    p = make_planted_latents(n_samples=1000, random_state=3)
    nc = neuron_correlations(p.mu, p.informative)
    off = ~np.eye(len(p.informative), dtype=bool)
    assert np.abs(nc["pearson"].to_numpy()[off]).max() < 0.15
    assert nc["phik"].to_numpy()[off].max() < 0.3
    assert list(nc["phik"].index) == p.informative.tolist()
    # a copied neuron is perfectly correlated
    mu = np.c_[p.mu, p.mu[:, 7]]
    nc2 = neuron_correlations(mu, [7, mu.shape[1] - 1])
    assert nc2["pearson"].iloc[0, 1] == pytest.approx(1.0)
    assert nc2["phik"].iloc[0, 1] > 0.95


def test_feature_rows_must_match():
    with pytest.raises(ValueError, match="rows"):
        NeuronFeatureCorrelation().fit(np.zeros((5, 2)), pd.DataFrame({"P1": np.arange(4.0)}), {"P1": "P"})


def test_exact_phik_equals_phik_on_many_tables():
    """Our exact-integral phik step against phik's own ``phik_from_hist2d`` on tables of many shapes and strengths,
    and the bivariate normal CDF against a 1-D quadrature."""
    from phik.phik import phik_from_hist2d as phik_reference
    from scipy import integrate, stats

    from musicneurons.analysis.bivariate import bvn_cdf, phik_from_hist2d

    rng = np.random.default_rng(1)
    ours, ref = [], []
    for k in range(40):
        n = int(rng.choice([60, 400, 3000]))
        x = rng.normal(size=n)
        y = 0.05 * k * x + rng.normal(size=n)
        if k % 4 == 0:
            y = np.round(y)
        h = np.histogram2d(x, y, bins=(int(rng.choice([3, 6, 10])), int(rng.choice([2, 7, 10]))))[0]
        h = h[h.sum(1) > 0][:, h.sum(0) > 0]
        for noise_correction in (True, False):
            ours.append(phik_from_hist2d(h, noise_correction))
            ref.append(phik_reference(h, noise_correction=noise_correction))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    assert np.ptp(ref) > 0.8  # weak to strong dependence covered

    def quad(h, k, r):
        s = np.sqrt(1 - r * r)
        f = lambda x: stats.norm.pdf(x) * stats.norm.cdf((k - r * x) / s)  # noqa: E731
        return integrate.quad(f, -40, h, epsabs=1e-14, epsrel=1e-12, limit=200)[0]

    for h in (-5, -1, 0, 2.5, 5):
        for k in (-3, 0, 0.5, 5):
            for r in (0.0, 0.3, 0.9, 0.99):
                assert bvn_cdf(h, k, r) == pytest.approx(quad(h, k, r), abs=1e-12)


def test_batched_phik_cells_equal_one_table_at_a_time():
    """phik_cells (one lockstep brentq per table shape, vectorised p-values) gives the per-table values bit for bit:
    our exact phik_from_hist2d and phik's own asymptotic significance."""
    from phik.significance import significance_from_hist2d

    from musicneurons.analysis.bivariate import phik_from_hist2d
    from musicneurons.analysis.correlate import phik_cells

    rng = np.random.default_rng(7)
    tables = []
    for k in range(120):
        n = int(rng.choice([40, 500, 4000]))
        x = rng.normal(size=n)
        y = (0.01 * k) * x + rng.normal(size=n) if k % 9 else rng.normal(size=n)
        h = np.histogram2d(x, np.round(y) if k % 4 == 0 else y, bins=(int(rng.integers(1, 11)), int(rng.integers(2, 11))))[0]
        tables.append(h[h.sum(1) > 0][:, h.sum(0) > 0])
    tables.append(np.diag([30.0, 40.0, 50.0]))  # perfect dependence: phik 1, p underflows to 0 (Chernoff Z)
    # near-independent with n = 5.3e9: the G statistic rounds below 0, phik's chi2.sf gives p = 1
    tables.append(np.array([[298152059, 315880911, 330033020, 371843092],
                            [897413425, 950775823, 993372519, 1119217430]], float))
    for noise_correction in (True, False):
        ph, p, z = phik_cells(tables, noise_correction)
        for t, h in enumerate(tables):
            if min(h.shape) < 2:
                assert np.isnan(ph[t]) and np.isnan(p[t])
                continue
            assert ph[t] == phik_from_hist2d(h, noise_correction)
            assert (p[t], z[t]) == significance_from_hist2d(h, lambda_="log-likelihood",
                                                            significance_method="asymptotic")
    assert np.isnan(ph).sum() >= 1 and (ph == 1).sum() >= 1 and (p == 0).sum() >= 1 and p[-1] == 1.0


def test_brentq_many_raises_as_scipy_does():
    from musicneurons.analysis.bivariate import brentq_many

    def tiny_same_sign(x, which):  # products of the ends underflow to 0; the sign bits still agree
        return np.full(x.shape, 1e-200)

    with pytest.raises(ValueError, match="different signs"):
        brentq_many(tiny_same_sign, 3, xtol=1e-5)

    def nan_inside(x, which):
        return np.where((x > 0) & (x < 1), np.nan, x - 0.3)

    with pytest.raises(ValueError, match="NaN"):
        brentq_many(nan_inside, 2, xtol=1e-5)
    tiny = brentq_many(lambda x, which: 1e-200 * (x - 0.3), 1, xtol=1e-12)  # sign bits, not products
    assert tiny[0] == pytest.approx(0.3, abs=1e-10)


def test_affine_copies_of_a_feature_are_dropped_and_named():
    import pandas as pd

    from musicneurons.analysis import NeuronFeatureCorrelation
    from musicneurons.analysis.correlate import duplicate_columns

    rng = np.random.default_rng(0)
    n = 300
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    b[:10] = np.nan
    feats = pd.DataFrame({"R22": a, "R24": a.copy(), "R15": 8.0 * a + 3, "P1": b, "P2": -2 * b,
                          "P3": b + 0.01 * rng.normal(size=n)})
    assert duplicate_columns(feats) == {"R24": "R22", "R15": "R22", "P2": "P1"}  # P3 is close, not a copy
    mu = np.c_[a + rng.normal(0, 0.1, n), rng.normal(size=n)]
    c = NeuronFeatureCorrelation(cross_checks=False).fit(mu, feats, {f: f[0] for f in feats})
    assert c.feature_names_ == ["R22", "P1", "P3"]
    assert c.dropped_duplicate_ == {"R24": "R22", "R15": "R22", "P2": "P1"}
    assert c.settings_["dropped_duplicate_features"] == c.dropped_duplicate_
    keep = NeuronFeatureCorrelation(cross_checks=False, drop_duplicates=False).fit(mu, feats, {f: f[0] for f in feats})
    assert len(keep.feature_names_) == 6


def test_chi2_dependent_is_phiks_chi2_bit_for_bit():
    from phik.statistics import get_chi2_using_dependent_frequency_estimates as phik_chi2

    from musicneurons.analysis.bivariate import chi2_dependent

    rng = np.random.default_rng(11)
    tables = [rng.integers(0, 30, size=(int(rng.integers(2, 11)), int(rng.integers(2, 11)))).astype(float)
              for _ in range(200)]
    tables += [np.array([[5.0, 0.0], [1.0, 7.0]]), np.array([[3.0, 0.0, 2.0], [0.0, 0.0, 0.0], [1.0, 0.0, 4.0]]),
               np.array([[4.0, 4.0], [0.0, 0.0]])]  # Yates' 2 x 2, empty row + column, one non-empty row
    for t in tables:
        for lam in ("pearson", "log-likelihood"):
            assert chi2_dependent(t, lam) == phik_chi2(t, lambda_=lam)
    with pytest.raises(ValueError, match="lambda_"):
        chi2_dependent(tables[0], "cressie-read")


def test_nominal_features_are_binned_as_phik_categories():
    """A pitch-class-like nominal column (12 labels): phik_matrix with it declared categorical (not interval)
    gives our value; with 10 uniform bins two labels would share bins."""
    from phik import phik_matrix

    from musicneurons.analysis.baselines import phik_tables_rect
    from musicneurons.analysis.correlate import bin_nominal, nominal_mask

    rng = np.random.default_rng(4)
    n = 600
    pc = rng.integers(0, 12, n).astype(float)
    x = np.c_[np.sin(pc) + 0.3 * rng.normal(size=n), rng.normal(size=n)]  # depends on the label, not its order
    idx, nb = bin_nominal(np.r_[pc[:5], np.nan])
    assert nb == len(np.unique(pc[:5])) and idx[-1] == -1
    df = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "pc": pc.astype(int).astype(str)})
    ref = phik_matrix(df, interval_cols=["x0", "x1"], bins=10, njobs=1).loc[["x0", "x1"], "pc"].to_numpy()
    ph, _, _ = phik_rect(x, pc[:, None], bins=10, y_nominal=[True])
    np.testing.assert_allclose(ph[:, 0], ref, rtol=0, atol=1e-6)
    interval, _, _ = phik_rect(x, pc[:, None], bins=10)
    assert abs(interval[0, 0] - ph[0, 0]) > 1e-3  # the binning matters
    np.testing.assert_allclose(phik_tables_rect(x, pc[:, None], y_nominal=[True])[:, 0], ph[:, 0], atol=1e-4)
    assert nominal_mask(["P12", "P16", "R15"]).tolist() == [False, True, False]  # the catalog's choice
    c = NeuronFeatureCorrelation(cross_checks=False).fit(x, pd.DataFrame({"P16": pc, "P12": x[:, 0]}), {"P16": "P"})
    assert c.nominal_features_ == ["P16"] and c.settings_["phik_nominal_features"] == ["P16"]
    np.testing.assert_allclose(c.phik_["P16"].to_numpy(), ph[:, 0])


def test_benjamini_hochberg_beside_bonferroni():
    p = make_planted_latents(n_samples=800, random_state=3)
    c = NeuronFeatureCorrelation(cross_checks=False).fit(p.mu, p.features, p.categories, p.informative)
    pv, q = c.pvalue_.to_numpy(), c.qvalue_.to_numpy()
    fin = np.isfinite(pv)
    assert (q[fin] >= pv[fin] - 1e-15).all() and (q[fin] <= 1).all()
    bonf, bh = c.significant_.to_numpy(), c.significant_bh_.to_numpy()
    assert (bh | ~bonf).all()  # BH keeps every Bonferroni discovery
    s = c.significance_summary_
    assert s["n_cells"] == fin.sum() and 0 < s["share_bonferroni"] <= s["share_bh"] <= 1
    # the planted neurons' own features are discoveries under both
    assert bool(c.significant_.loc[int(p.informative[0]), "P1"]) and bool(c.significant_bh_.loc[int(p.informative[0]), "P1"])


def test_ksg_mutual_info_equals_sklearn():
    from sklearn.feature_selection import mutual_info_regression

    from musicneurons.analysis.correlate import ksg_mutual_info

    rng = np.random.default_rng(8)
    n = 700
    X = rng.normal(size=(n, 6))
    X[:, 1] = np.round(X[:, 1])  # ties (broken by the estimator's 1e-10 noise, as sklearn)
    X[:, 2] = 0.0  # constant
    X[:, 3] = X[:, 0] ** 2 * 50 + 3  # a large offset and scale
    for y in (X[:, 0] + rng.normal(size=n), np.round(rng.normal(size=n) * 2), rng.integers(0, 3, n).astype(float)):
        for k, seed in ((3, 0), (5, 11)):
            want = mutual_info_regression(X, y, n_neighbors=k, random_state=seed)
            np.testing.assert_array_equal(ksg_mutual_info(X, y, n_neighbors=k, random_state=seed), want)


def test_mutual_info_rect_equals_sklearn_per_column():
    """The all-pairs kernel (X prepared once per NaN pattern) gives sklearn's value of every pair."""
    from sklearn.feature_selection import mutual_info_regression

    from musicneurons.analysis.correlate import mutual_info_rect

    rng = np.random.default_rng(3)
    n = 600
    X = rng.normal(size=(n, 4))
    X[:, 3] = np.exp(3 * X[:, 3])  # heavy tail: a wide x range
    Y = np.column_stack([X[:, 0] + rng.normal(size=n), np.round(X[:, 1] * 3), rng.integers(0, 40, n) * 1.0,
                         np.where(rng.random(n) < 0.97, 0.0, 1.0)])  # a rare level
    Y[rng.random(n) < 0.1, 1] = np.nan
    got = mutual_info_rect(X, Y, n_neighbors=3, max_samples=None, random_state=4)
    for j in range(Y.shape[1]):
        ok = ~np.isnan(Y[:, j])
        np.testing.assert_array_equal(got[:, j], mutual_info_regression(X[ok], Y[ok, j], n_neighbors=3,
                                                                        random_state=4))


def test_compiled_ranks_equal_scipy_rankdata():
    """Average ranks of every column (of a row subset, from one sort over all rows) are scipy's, bit for bit:
    ties, constant columns, -0.0 and 0.0; a column with NaN follows scipy's NaN policy."""
    from scipy.stats import rankdata

    from musicneurons.analysis.correlate import _argsort_columns, _rank_columns

    rng = np.random.default_rng(4)
    n = 2001
    A = np.c_[rng.normal(size=(n, 4)), rng.integers(0, 5, (n, 3)).astype(float), np.zeros(n),
              np.where(rng.random(n) < 0.5, -0.0, 0.0)]
    assert np.array_equal(_rank_columns(A), rankdata(A, axis=0))
    order = _argsort_columns(np.ascontiguousarray(A))
    for keep in (rng.random(n) < 0.6, np.arange(n) < 3, np.ones(n, bool)):
        assert np.array_equal(_rank_columns(A, keep, order), rankdata(A[keep], axis=0))
    B = A.copy()
    B[7, 1] = np.nan
    assert np.array_equal(_rank_columns(B), rankdata(B, axis=0), equal_nan=True)


def test_spearman_rect_with_missing_values_equals_ranking_each_group_anew():
    from scipy.stats import rankdata

    from musicneurons.analysis.correlate import _correlate_rect, spearman_rect

    rng = np.random.default_rng(5)
    X = np.c_[rng.normal(size=(900, 6)), rng.integers(0, 3, (900, 2)).astype(float)]
    Y = X[:, :4] + rng.normal(size=(900, 4))
    Y[rng.random(900) < 0.2, 1] = np.nan
    Y[:30, 3] = np.nan
    want = _correlate_rect(X, Y, lambda M: rankdata(M, axis=0))
    assert np.array_equal(spearman_rect(X, Y), want, equal_nan=True)
    assert np.isfinite(want).all()
