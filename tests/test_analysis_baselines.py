"""Chance baselines: the vectorised phik equals the exact one, the permutation null is low and separates planted
from unplanted neurons, labels are gated by it, and the untrained-model machinery runs on a tiny model."""

import json

import numpy as np
import pandas as pd
import pytest

from musicneurons.analysis import analyze_latents, make_planted_latents, summarize
from musicneurons.analysis.baselines import (PhikPermutationNull, best_abs_spearman_permuted,
                                             metrics_permutation_null, permuted_tables, phik_from_tables,
                                             phik_tables_rect, shuffle_rows, untrained_baseline)
from musicneurons.analysis.correlate import contingency, phik_rect, spearman_rect


def test_fast_phik_equals_exact_phik():
    p = make_planted_latents(n_samples=600, random_state=11)
    X = p.mu[:, [7, 3, 40, 0, 1]]
    Y = p.features.drop(columns=["C0"]).to_numpy(float).copy()
    Y[:20, 1] = np.nan  # missing values are dropped pairwise, as phik_rect does
    perm = np.random.default_rng(0).permutation(len(X))
    for order in (None, perm):
        exact = phik_rect(X, Y if order is None else Y[order], significance=False)[0]
        fast = phik_tables_rect(X, Y, perm=order)
        assert np.array_equal(np.isnan(exact), np.isnan(fast))
        assert np.nanmax(np.abs(exact - fast)) < 2e-4


def test_permuted_tables_count_every_pair_under_every_shuffle(monkeypatch):
    """The compiled counts equal a plain count of (code bin, shuffled feature bin) per pair and shuffle; a missing
    bin (-1) on either side leaves the row out of that pair's table only."""
    rng = np.random.default_rng(5)
    n, k, nf, b, wy = 300, 4, 3, 5, 7
    bx = rng.integers(0, b, (n, k))
    by = rng.integers(0, wy, (n, nf))
    bx[rng.random((n, k)) < 0.1] = -1
    by[rng.random((n, nf)) < 0.1] = -1
    perms = np.stack([rng.permutation(n) for _ in range(3)])
    H = permuted_tables(bx, by, perms, b, wy)
    assert H.shape == (3, k, nf, b, wy)
    for s in range(3):
        for a in range(k):
            for j in range(nf):
                x, y = bx[:, a], by[perms[s], j]
                ok = (x >= 0) & (y >= 0)
                want = np.zeros((b, wy))
                np.add.at(want, (x[ok], y[ok]), 1)
                assert np.array_equal(H[s, a, j], want)
    from musicneurons.analysis import baselines

    monkeypatch.setattr(baselines, "PERMUTED_ROWS_BYTES", 2 * n * nf)  # one shuffle's bins at a time: same counts
    assert np.array_equal(permuted_tables(bx, by, perms, b, wy), H)


def test_fast_phik_of_small_and_sparse_tables():
    from musicneurons.analysis.bivariate import phik_from_hist2d

    rng = np.random.default_rng(3)
    tables = [np.array([[30.0, 5], [4, 25]]), np.array([[10.0, 0, 3], [0, 0, 0], [2, 0, 9]]),
              rng.integers(0, 6, (6, 4)).astype(float), np.array([[5.0, 5], [5, 5]]), np.ones((1, 4))]
    for h in tables:
        got = float(phik_from_tables(np.pad(h, ((0, 10 - h.shape[0]), (0, 10 - h.shape[1])))[None])[0])
        c = contingency(*_codes(h))
        if min(c.shape) < 2:
            assert np.isnan(got)
        else:
            assert got == pytest.approx(phik_from_hist2d(c), abs=2e-4), h


def _codes(h):
    """Bin indices reproducing the counts of table ``h``."""
    ix, iy = [], []
    for (a, b), n in np.ndenumerate(h.astype(int)):
        ix += [a] * n
        iy += [b] * n
    return np.array(ix), np.array(iy), h.shape[0], h.shape[1]


def test_permutation_null_is_low_and_planted_neurons_clear_it():
    p = make_planted_latents(n_samples=3000, random_state=4)
    unplanted = [0, 1, 2, 5, 9]
    neurons = [*p.informative.tolist(), *unplanted]
    null = PhikPermutationNull(n_permutations=40, random_state=1).fit(p.mu, p.features, neurons)
    assert null.null_.shape == (40, len(neurons)) and "C0" not in null.feature_names_
    q = null.q99_
    assert (q < 0.45).all() and q.median() < 0.35, q  # chance: far below the planted associations
    observed = phik_rect(p.mu[:, neurons], p.features[null.feature_names_].to_numpy(float), significance=False)[0]
    best = pd.Series(np.nanmax(observed, axis=1), index=neurons)
    for d in p.informative:
        assert best[d] > 0.8 and best[d] > q[d]
    for d in unplanted:
        assert best[d] <= q[d] + 0.05  # an unplanted neuron's best phik is a draw from its own null
    assert sum(best[d] > q[d] for d in unplanted) <= 1
    # seeded: the same null again
    again = PhikPermutationNull(n_permutations=40, random_state=1).fit(p.mu, p.features, neurons)
    np.testing.assert_array_equal(again.null_, null.null_)
    s = null.summary()
    assert s["n_permutations"] == 40 and len(s["per_neuron"]) == len(neurons)
    assert s["best_phik_q99"] == pytest.approx(float(np.median(q)))


def test_fast_spearman_null_equals_spearman_of_the_shuffled_table():
    rng = np.random.default_rng(2)
    n = 1500
    X = rng.normal(size=(n, 4))
    X[:, 3] = np.round(X[:, 3])  # ties: average ranks, as scipy
    Y = np.c_[X[:, 0] + rng.normal(size=n), np.round(rng.normal(size=n)), rng.normal(size=n), X[:, 1]]
    perms = np.stack([rng.permutation(n) for _ in range(6)] + [np.arange(n)])
    exact = np.stack([np.nanmax(np.abs(spearman_rect(X, Y[p])), axis=1) for p in perms])
    np.testing.assert_allclose(best_abs_spearman_permuted(X, Y, perms, max_block_bytes=2 ** 16), exact, atol=1e-12)
    # missing features (10 % of rows): X is not re-ranked within the kept rows, a documented small difference
    Y[rng.random(n) < 0.1, 1] = np.nan
    Y[rng.random(n) < 0.1, 3] = np.nan
    exact = np.stack([np.nanmax(np.abs(spearman_rect(X, Y[p])), axis=1) for p in perms])
    got = best_abs_spearman_permuted(X, Y, perms)
    assert np.abs(got - exact).max() < 2e-3 and got[-1, 1] == pytest.approx(exact[-1, 1], abs=1e-4)


def test_spearman_null_is_low_and_planted_neurons_clear_it():
    p = make_planted_latents(n_samples=3000, random_state=4)
    unplanted = [0, 1, 2, 5, 9]
    neurons = [*p.informative.tolist(), *unplanted]
    null = PhikPermutationNull(n_permutations=100, random_state=1).fit(p.mu, p.features, neurons)
    q = null.spearman_q99_
    assert null.spearman_null_.shape == (100, len(neurons)) and (q < 0.1).all(), q  # ~ sqrt(2 log 2k / n)
    rho = pd.Series(np.nanmax(np.abs(spearman_rect(p.mu[:, neurons], p.features[null.feature_names_]
                                                   .to_numpy(float))), axis=1), index=neurons)
    assert all(rho[d] > 0.5 and rho[d] > q[d] for d in p.informative)
    assert sum(rho[d] > q[d] for d in unplanted) <= 1
    s = null.summary()
    assert s["best_abs_spearman_q99"] == pytest.approx(float(np.median(q)))
    assert {e["latent_index"]: e["spearman_q99"] for e in s["per_neuron"]}[7] == pytest.approx(q[7])


def test_metrics_null_is_near_zero_and_below_planted_metrics():
    from musicneurons.analysis.metrics import disentanglement_report

    p = make_planted_latents(n_samples=1200, random_state=6)
    codes = p.mu[:, p.informative]
    fac = p.features.drop(columns=["C0"]).to_numpy(float)[:, :6]
    null = metrics_permutation_null(codes, fac, n_permutations=2, random_state=3, mi_max_samples=600)
    planted = disentanglement_report(codes, fac, dci_kwargs={"random_state": 3},
                                     interpretability_kwargs={"random_state": 3})
    assert null["n_permutations"] == 2 and all(len(v) == 2 for v in null["values"].values())
    for k in ("mig", "sap", "dci_informativeness", "interpretability"):
        assert null["max"][k] < 0.05 and planted[k] > null["max"][k] + 0.1, (k, null["max"][k], planted[k])
    assert planted["dci_disentanglement"] > null["max"]["dci_disentanglement"]
    from musicneurons.analysis.correlate import mutual_info_rect

    best_mi = np.nanmax(mutual_info_rect(codes, fac, 3, 600, 3), axis=1)
    assert 0 <= null["best_mi_null_median"] < 0.1 and np.median(best_mi) > 3 * null["best_mi_null_max"]
    again = metrics_permutation_null(codes, fac, n_permutations=2, random_state=3, mi_max_samples=600)
    assert again["values"] == null["values"]  # seeded


def test_source_shuffles_keep_the_null_honest_when_windows_of_a_file_are_alike():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(40), 20)  # 40 files x 20 windows
    perm = shuffle_rows(g.size, rng, g)
    assert sorted(perm) == list(range(g.size))
    for src in range(40):  # a file's windows go, in order, to one other file of the same size
        rows = np.flatnonzero(g == src)
        assert np.array_equal(perm[rows], np.flatnonzero(g == g[perm[rows[0]]]))
    cleared = {"windows": 0, "sources": 0}
    for _ in range(100):  # neuron and feature independent, each varying between files
        X = (rng.normal(size=40)[g] + rng.normal(size=g.size))[:, None]
        Y = (rng.normal(size=40)[g] + rng.normal(size=g.size))[:, None]
        rho = abs(spearmanr(X[:, 0], Y[:, 0])[0])
        for kind, groups in (("windows", None), ("sources", g)):
            perms = np.stack([shuffle_rows(g.size, rng, groups) for _ in range(100)])
            cleared[kind] += rho > np.quantile(best_abs_spearman_permuted(X, Y, perms)[:, 0], 0.99)
    assert cleared["sources"] <= 6 and cleared["windows"] >= 15, cleared  # nominal: 1 in 100


def test_labels_are_gated_by_the_null_in_the_summary():
    p = make_planted_latents(n_samples=1500, random_state=5)
    feats = p.features.copy()
    # neuron 51 (rank 5) loses its feature: R2 becomes noise, so its best phik is chance
    feats["R2"] = np.random.default_rng(0).normal(size=len(feats))
    a = analyze_latents(p.mu, p.sigma, feats, p.categories, n_bootstrap=0, cross_checks=False, n_permutations=40)
    s = summarize({"2bar": a})["2bar"]
    json.dumps(s)
    by_d = {n["latent_index"]: n for n in s["music_neurons"]}
    for d in (7, 3, 40, 22):
        n = by_d[d]
        assert n["clears_null"] is True and n["category"] == n["category_raw"] is not None
        assert n["top_phik"] > n["top_phik_null_q99"]
    n = by_d[51]
    assert n["clears_null"] is False and n["category"] is None and n["label"] == "below chance"
    assert n["category_raw"] is not None and n["top_phik"] <= n["top_phik_null_q99"]
    assert 51 not in sum(s["category_neurons"].values(), [])
    b = s["baselines"]
    assert b["permutation"]["n_permutations"] == 40 and b["untrained"] is None
    assert set(b["per_neuron"]) == {str(d) for d in p.informative}
    assert b["trained"]["n_top"] == 5 and b["trained"]["n_best_phik_ge_0.5"] == 4
    assert s["settings"]["baselines"]["permutation"]["n_permutations"] == 40
    assert by_d[7]["clears_spearman_null"] is None  # no cross-checks: no rho to judge


def test_the_paper_verdict_needs_the_label_to_clear_the_null():
    from musicneurons.report import comparison

    n1 = {"rank": 1, "latent_index": 5, "category": None, "category_raw": "P", "top_feature": "P12",
          "top_phik": 0.3, "top_phik_null_q99": 0.4, "clears_null": False, "untrained_feature_phik": 0.6}
    rows = {r["claim"]: r for r in comparison({"2bar": {"music_neurons": [n1]}})}
    r = rows["2-bar neuron 1 ↔ pitch"]
    assert r["verdict"] == "differs" and "below chance" in r["run"] and "null q99 0.40" in r["run"]
    n1 = {**n1, "category": "P", "top_phik": 0.9, "clears_null": True}
    r = {r["claim"]: r for r in comparison({"2bar": {"music_neurons": [n1]}})}["2-bar neuron 1 ↔ pitch"]
    assert r["verdict"] == "agrees" and "untrained 0.60" in r["run"]


def test_untrained_baseline_on_a_tiny_model():
    import torch

    from musicneurons.model.config import get_config
    from musicneurons.model.musicvae import MusicVAE
    from musicneurons.randomseq import random_windows

    cfg = get_config("mn-mel_2bar").with_(enc_rnn_size=(16,), dec_rnn_size=(16,), z_size=12)
    ev = random_windows(80, 2, seed=0)[0]

    def untrained():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return MusicVAE(cfg)

    _, mu, sigma = untrained().encode(ev)
    _, mu2, _ = untrained().encode(ev)
    np.testing.assert_array_equal(mu, mu2)  # seeded: the same untrained model
    feats = pd.DataFrame({"R15": (ev >= 2).sum(1).astype(float), "P1": (ev.max(1)).astype(float),
                          "M1": np.random.default_rng(0).normal(size=len(ev))})
    out, ph = untrained_baseline(mu, sigma, feats, {"R15": "R", "P1": "P", "M1": "M"}, n_top=5, seed=0)
    json.dumps(out)
    assert out["n_dims"] == 12 and out["n_top"] == 5 and len(out["top_dims"]) == 5
    assert ph.shape == (5, 3) and out["median_best_phik_top"] is not None
    assert out["sigma_threshold_rule"] in ("gap", "fallback") and out["seed"] == 0
    assert out["ranked_among"] in ("music neurons", "all dims")
    assert sum(out["top_feature_counts"].values()) == 5
    # through analyze_latents: the untrained block and the same-feature phik per neuron
    p = make_planted_latents(n_samples=80, n_dims=12, informative=(7, 3, 1, 5, 9), random_state=0)
    a = analyze_latents(p.mu, p.sigma, feats, {"R15": "R", "P1": "P", "M1": "M"}, n_bootstrap=0,
                        cross_checks=False, untrained_mu=mu, untrained_sigma=sigma, n_top=5, n_permutations=5)
    s = summarize({"2bar": a})["2bar"]
    assert s["baselines"]["untrained"]["n_top"] == 5
    assert all("untrained_feature_phik" in n for n in s["music_neurons"])
