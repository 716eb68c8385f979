import numpy as np
import pytest

from musicneurons.analysis import (dci, dci_from_importance, disentanglement_report, gaussian_total_correlation,
                                   interpretability, make_planted_latents, mig, sap)
from musicneurons.analysis.metrics import discrete_entropy, histogram_discretize, mig_from_mi


def test_mig_exact():
    codes = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    f = np.array([0.0, 0.0, 1.0, 2.0])
    # H(f) = 1.5 log 2, MI(c0, f) = log 2, MI(c1, f) = 0.5 log 2 -> MIG = 1/3
    r = mig(codes, f, bins=3)
    assert r["score"] == pytest.approx(1.0 / 3.0)
    np.testing.assert_allclose(r["mi"][:, 0], [np.log(2), 0.5 * np.log(2)])
    # factor equal to a code: MIG = 1
    assert mig(codes, codes[:, 0], bins=2)["score"] == pytest.approx(1.0)
    assert r["settings"]["bins"] == 3 and "binned" in r["settings"]["mi"]


def test_mig_helpers_exact():
    assert discrete_entropy(np.array([[1], [1], [2], [3]]))[0] == pytest.approx(1.5 * np.log(2))
    np.testing.assert_allclose(mig_from_mi(np.array([[0.5, 0.1], [0.2, 0.4], [0.1, 0.1]]), [1.0, 0.6]),
                               [0.3, 0.5])
    assert histogram_discretize(np.array([0.0, 0.4, 0.6, 1.0]), 2).tolist() == [1, 1, 2, 2]


def test_sap_exact():
    f = np.array([1.0, 2.0, 3.0, 4.0])
    codes = np.c_[f, [1.0, 3.0, 2.0, 4.0], np.ones(4)]
    r = sap(codes, f)
    np.testing.assert_allclose(r["score_matrix"][:, 0], [1.0, 0.64, 0.0])
    assert r["score"] == pytest.approx(0.36)


def test_dci_from_importance_exact():
    d = dci_from_importance(np.eye(3))
    assert d["disentanglement"] == pytest.approx(1.0, abs=1e-8) and d["completeness"] == pytest.approx(1.0, abs=1e-8)
    d = dci_from_importance(np.ones((2, 2)))
    assert d["disentanglement"] == pytest.approx(0.0, abs=1e-8) and d["completeness"] == pytest.approx(0.0, abs=1e-8)
    # one code carries both factors equally: not disentangled, but each factor is complete
    d = dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert d["disentanglement"] == pytest.approx(0.0, abs=1e-8)
    assert d["completeness"] == pytest.approx(1.0, abs=1e-8)


def test_interpretability_exact():
    f = np.array([1.0, 2.0, 3.0, 4.0])
    r = interpretability(np.c_[[1.0, 3.0, 2.0, 4.0]], f, mi="binned", bins=4)
    assert r["score"] == pytest.approx(0.64) and r["best_code"].tolist() == [0]


def test_gaussian_total_correlation_exact():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert gaussian_total_correlation(np.c_[x, [1.0, 3.0, 2.0, 4.0]]) == pytest.approx(-0.5 * np.log(1 - 0.64))
    assert gaussian_total_correlation(np.c_[x, [1.0, -1.0, -1.0, 1.0]]) == pytest.approx(0.0, abs=1e-12)


def test_metrics_on_planted_latents():
    p = make_planted_latents(n_samples=1500, random_state=6)
    codes = p.mu[:, p.informative]
    names = ["P1", "R1", "M1", "P2", "R2"]
    factors = p.features[names].to_numpy()
    r = disentanglement_report(codes, factors, names, dci_kwargs={"n_estimators": 30, "max_samples": 1000},
                               interpretability_kwargs={"max_samples": 800})
    assert r["mig"] > 0.4 and r["sap"] > 0.5 and r["interpretability"] > 0.8
    assert r["dci_disentanglement"] > 0.9 and r["dci_completeness"] > 0.9 and r["dci_informativeness"] > 0.8
    assert r["gaussian_total_correlation"] < 0.05
    i = interpretability(codes, factors, max_samples=800)
    assert i["best_code"].tolist() == [0, 1, 2, 3, 4]
    # an entangled mix (rotation) lowers DCI disentanglement
    rot = codes @ np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))[0]
    d = dci(rot, factors, n_estimators=30, max_samples=1000)
    assert d["disentanglement"] < r["dci_disentanglement"] - 0.2


def test_nan_factor_uses_its_own_rows():
    codes = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    f = np.c_[[0.0, 0.0, 1.0, 2.0, np.nan], [1.0, 2.0, 3.0, 4.0, 5.0]]
    r = mig(codes, f, bins=3)
    # factor 0 on its 4 rows: the 1/3 of test_mig_exact; the NaN row does not remove factor 1's row
    assert r["per_factor"][0] == pytest.approx(1.0 / 3.0)
    s = sap(codes, f)
    assert s["score_matrix"][0, 0] == pytest.approx(sap(codes[:4], f[:4, 0])["score_matrix"][0, 0])


def test_discrete_mutual_info_is_sklearns_mutual_info_score_per_pair():
    from sklearn.metrics import mutual_info_score

    from musicneurons.analysis.metrics import discrete_mutual_info, histogram_discretize

    rng = np.random.default_rng(5)
    codes = histogram_discretize(rng.normal(size=(700, 6)), 20)
    factors = np.c_[histogram_discretize(rng.normal(size=(700, 3)), 20), codes[:, :2], np.ones(700, int)]
    want = np.array([[mutual_info_score(factors[:, j], codes[:, i]) for j in range(factors.shape[1])]
                     for i in range(codes.shape[1])])
    got = discrete_mutual_info(codes, factors)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert got[0, 3] > 2.0 and got[:, -1].max() == 0.0  # a code with itself; a constant factor
    # labels that are not small non-negative integers (relabelled first): the same values
    np.testing.assert_allclose(discrete_mutual_info(codes * 1000 - 7, factors * 0.5), want, rtol=0, atol=1e-12)
    # many distinct labels: the tables of the occupied cells only (a dense table would not fit); the same values
    many = np.c_[np.arange(700), rng.integers(0, 600, 700)]
    want_many = np.array([[mutual_info_score(f, many[:, i]) for f in (many[:, 0], factors[:, 0])] for i in range(2)])
    from musicneurons.analysis import metrics

    old_cells, metrics.DENSE_MI_CELLS = metrics.DENSE_MI_CELLS, 100
    try:
        got_many = discrete_mutual_info(many, np.c_[many[:, 0], factors[:, 0]])
    finally:
        metrics.DENSE_MI_CELLS = old_cells
    np.testing.assert_allclose(got_many, want_many, rtol=0, atol=1e-12)
    np.testing.assert_allclose(discrete_mutual_info(many, np.c_[many[:, 0], factors[:, 0]]), want_many, rtol=0,
                               atol=1e-12)


def test_interpretability_reads_the_best_code_from_a_given_mi_table():
    from musicneurons.analysis.metrics import interpretability

    rng = np.random.default_rng(2)
    codes = rng.normal(size=(400, 4))
    factors = np.c_[codes[:, 2] + 0.1 * rng.normal(size=400), codes[:, 0] - codes[:, 1]]
    knn = interpretability(codes, factors)
    table = np.zeros((4, 2))
    table[2, 0] = table[3, 1] = 1.0  # says code 3 is best for factor 1 (the kNN MI says 0 or 1)
    got = interpretability(codes, factors, mi_table=table, mi_table_source="test")
    assert knn["best_code"][0] == got["best_code"][0] == 2 and got["best_code"][1] == 3
    assert got["per_factor"][0] == knn["per_factor"][0] and got["per_factor"][1] < 0.05
    assert "for 2 of 2 factors" in got["settings"]["mi_table"]
    nan_col = table.copy()
    nan_col[:, 1] = np.nan  # no estimate for factor 1: it falls back to kNN
    assert interpretability(codes, factors, mi_table=nan_col)["best_code"][1] == knn["best_code"][1]
    with pytest.raises(ValueError, match="mi_table must have shape"):
        interpretability(codes, factors, mi_table=table[:3])


def test_dci_hist_model_agrees_with_disentanglement_libs_exact_boosting():
    """The default (histogram boosting, split-gain importances) against GradientBoostingRegressor's impurity
    importances, on a planted model and an entangled mix of it: the same D / C / I to within 0.03."""
    p = make_planted_latents(n_samples=1500, random_state=6)
    names = ["P1", "R1", "M1", "P2", "R2"]
    factors = p.features[names].to_numpy()
    rng = np.random.default_rng(0)
    noisy = np.c_[p.mu[:, p.informative], rng.normal(size=(1500, 3))]
    mixed = noisy[:, :5] @ np.linalg.qr(rng.normal(size=(5, 5)))[0]
    for codes in (noisy, np.c_[mixed, noisy[:, 5:]]):
        h = dci(codes, factors, max_samples=1000, model="hist")
        e = dci(codes, factors, max_samples=1000, model="exact")
        for k in ("disentanglement", "completeness", "informativeness"):
            assert h[k] == pytest.approx(e[k], abs=0.03), k
        np.testing.assert_allclose(h["importance"].sum(axis=0), 1.0)
        assert "HistGradientBoosting" in h["settings"]["model"] and "GradientBoostingRegressor(" in e["settings"]["model"]
    assert (h["importance"][5:] < 0.05).all()  # the pure-noise codes get (almost) no gain
    with pytest.raises(ValueError, match="model must be one of"):
        dci(noisy, factors, model="xgboost")
    # "auto": exact boosting on small data (700 training rows x 8 codes), histogram boosting on large
    small = dci(noisy, factors, max_samples=1000)
    assert "GradientBoostingRegressor(" in small["settings"]["model"] and "-> exact" in small["settings"]["model_rule"]
    assert small["disentanglement"] == dci(noisy, factors, max_samples=1000, model="exact")["disentanglement"]
    big = np.repeat(noisy, 4, axis=0), np.repeat(factors, 4, axis=0)
    assert "-> hist" in dci(*big, max_samples=None)["settings"]["model_rule"]
