import numpy as np
import pytest

from musicneurons.analysis import NeuronProfile, kl_per_dim, make_planted_latents, sigma_threshold_auto


@pytest.fixture(scope="module")
def planted():
    return make_planted_latents(n_samples=1500, n_dims=64, random_state=1)


def test_kl_to_prior_exact():
    kl = kl_per_dim([[0.0, 1.0, 0.0]], [[1.0, 1.0, np.exp(-1.0)]])
    np.testing.assert_allclose(kl, [[0.0, 0.5, 0.5 * (np.exp(-2.0) - 1.0 + 2.0)]])


def test_profile_statistics_on_hand_made_matrix():
    mu = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, -2.0]])
    sigma = np.array([[0.1, 1.0, 0.5], [0.3, 1.0, 0.5]])
    p = NeuronProfile(sigma_threshold=0.8, n_bootstrap=0).fit(mu, sigma)
    np.testing.assert_allclose(p.mean_mu_, [2.0, 0.0, 0.0])
    np.testing.assert_allclose(p.var_mu_, [1.0, 0.0, 4.0])
    np.testing.assert_allclose(p.std_mu_, [1.0, 0.0, 2.0])
    np.testing.assert_allclose(p.mean_sigma_, [0.2, 1.0, 0.5])
    np.testing.assert_allclose(p.active_variance_, p.var_mu_)
    assert p.active_mask_.tolist() == [True, False, True]
    assert p.music_mask_.tolist() == [True, False, True]
    assert p.n_music_ == 2
    assert p.order_.tolist() == [2, 0]  # by var of mu: dim 2 (4.0) then dim 0 (1.0)
    assert p.ranking("mean_sigma").tolist() == [0, 2]  # smallest mean sigma first
    assert p.threshold_rule_["rule"] == "fixed"
    t = p.table()
    assert t[["rank", "latent_index"]].values.tolist() == [[1, 2], [2, 0]]
    assert t["rank_by_mean_sigma"].tolist() == [2, 1]
    full = p.table(music_only=False)
    assert full.latent_index.tolist() == [2, 0, 1] and full["rank"].tolist() == [1, 2, 0]
    sw = p.sweep([0.1, 0.3, 0.6, 1.5])
    assert sw.n_music.tolist() == [0, 1, 2, 3]


def test_profile_finds_exactly_k_in_planted_order(planted):
    p = NeuronProfile(n_bootstrap=30).fit(planted.mu, planted.sigma)
    assert p.threshold_rule_["rule"] == "gap"
    assert p.n_music_ == len(planted.informative)
    assert p.order_.tolist() == planted.informative.tolist()
    # threshold lies in the gap between the music cluster and the noise cluster
    assert planted.sigma[:, planted.informative].mean(0).max() < p.sigma_threshold_ < 0.97
    assert p.n_music_ci_ == (5, 5)
    assert "5 music neurons of 64" in p.describe() and "rule gap" in p.describe()
    assert p.settings_["sigma_threshold_rule"] == "gap"


def test_kl_ordering_available(planted):
    p = NeuronProfile(order_by="kl", n_bootstrap=0).fit(planted.mu, planted.sigma)
    assert sorted(p.order_.tolist()) == sorted(planted.informative.tolist())
    kl = p.kl_[p.order_]
    assert np.all(np.diff(kl) <= 0)


@pytest.mark.parametrize("seed", [3, 4, 5])
@pytest.mark.parametrize("kind", ["uniform", "lognormal"])
@pytest.mark.parametrize("n", [200, 512])
def test_fallback_when_not_bimodal(kind, n, seed):
    rng = np.random.default_rng(seed)
    ms = rng.uniform(0.9, 1.0, size=n) if kind == "uniform" else np.exp(rng.normal(-0.5, 0.3, size=n))
    t, rule = sigma_threshold_auto(ms, fallback=0.8)
    assert t == 0.8 and rule["rule"] == "fallback" and "not bimodal" in rule["reason"]


@pytest.mark.parametrize("seed", range(4))
def test_fallback_for_a_heavy_lower_tail(seed):
    # one dense cluster near 0.96 with a long lower tail (an undertrained model looks like this)
    rng = np.random.default_rng(seed)
    ms = np.clip(0.96 - 0.015 * np.abs(rng.standard_t(2, size=512)), 0.5, None)
    t, rule = sigma_threshold_auto(ms)
    assert rule["rule"] == "fallback" and t == 0.8


def test_gap_rule_on_a_16bar_like_split():
    # 77 music neurons log-uniform over 0.05..0.9, 435 noise neurons around 0.985
    rng = np.random.default_rng(7)
    ms = np.r_[np.exp(rng.uniform(np.log(0.05), np.log(0.9), size=77)), rng.normal(0.985, 0.005, size=435)]
    t, rule = sigma_threshold_auto(ms)
    assert rule["rule"] == "gap" and int((ms < t).sum()) == 77 and rule["gap_ratio"] > 1000


def test_gap_rule_on_a_paper_like_split():
    # 37 music neurons spread over 0.05..0.9, 475 noise neurons at 0.97..1.0
    rng = np.random.default_rng(6)
    ms = np.r_[rng.uniform(0.05, 0.9, size=37), rng.uniform(0.97, 1.0, size=475)]
    t, rule = sigma_threshold_auto(ms)
    assert rule["rule"] == "gap"
    assert ms[:37].max() < t < ms[37:].min()
    assert int((ms < t).sum()) == 37


def test_bootstrap_ci_widens_with_an_ambiguous_dim():
    rng = np.random.default_rng(0)
    n, d = 400, 40
    sigma = rng.uniform(0.97, 1.0, size=(n, d))
    sigma[:, :4] = rng.uniform(0.05, 0.2, size=(n, 4))
    mu = rng.normal(0, 0.02, size=(n, d))
    p = NeuronProfile(sigma_threshold=0.5, n_bootstrap=50).fit(mu, sigma)
    assert p.n_music_ == 4 and p.n_music_ci_ == (4, 4)
    # a dim whose mean sigma sits at the threshold flips between resamples
    sigma[:, 4] = np.where(rng.random(n) < 0.5, 0.2, 0.8)
    p = NeuronProfile(sigma_threshold=0.5, n_bootstrap=100).fit(mu, sigma)
    lo, hi = p.n_music_ci_
    assert lo == 4 and hi == 5


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="log-variances"):
        NeuronProfile().fit(np.zeros((3, 2)), -np.ones((3, 2)))
    with pytest.raises(ValueError, match="equal shape"):
        NeuronProfile().fit(np.zeros((3, 2)), np.ones((3, 3)))


def test_one_gaussian_bic_equals_sklearn():
    from sklearn.mixture import GaussianMixture

    from musicneurons.analysis.neurons import _gaussian_bic

    x = np.random.default_rng(8).normal(0.3, 0.7, size=300)
    assert _gaussian_bic(x) == pytest.approx(GaussianMixture(1).fit(x[:, None]).bic(x[:, None]), rel=1e-9)


def test_noise_and_leaky_dims_are_told_apart():
    # dim 0 music; dim 1 sigma ~ 1, mu ~ 0 (noise); dim 2 sigma ~ 1 but mu varies with the input (leaky)
    rng = np.random.default_rng(0)
    n = 400
    mu = np.c_[rng.normal(0, 1, n), rng.normal(0, 0.02, n), rng.normal(0, 0.5, n)]
    sigma = np.c_[np.full(n, 0.1), np.full(n, 0.99), np.full(n, 0.97)]
    p = NeuronProfile(sigma_threshold=0.5, n_bootstrap=0).fit(mu, sigma)
    assert p.music_mask_.tolist() == [True, False, False]
    assert p.noise_mask_.tolist() == [False, True, False]
    assert p.leaky_mask_.tolist() == [False, False, True]
    assert (p.n_noise_, p.n_leaky_) == (1, 1)
    assert p.table(music_only=False).set_index("latent_index")["kind"].to_dict() == {0: "music", 1: "noise",
                                                                                      2: "leaky"}


def _clustered(n_groups, per_group, rng):
    """Windows in groups that share their latents (copies of one window per file): 3 music dims whose Var(mu)
    ranks are close, 5 noise dims."""
    base_mu = rng.normal(0, 1, (n_groups, 3)) * np.array([1.05, 1.0, 0.95])
    mu = np.repeat(np.c_[base_mu, rng.normal(0, 0.01, (n_groups, 5))], per_group, axis=0)
    sigma = np.repeat(np.c_[rng.uniform(0.1, 0.2, (n_groups, 3)), rng.uniform(0.98, 1.0, (n_groups, 5))],
                      per_group, axis=0)
    groups = np.repeat(np.arange(n_groups), per_group)
    return mu, sigma, groups


def test_cluster_bootstrap_resamples_groups_and_is_wider_than_treating_copies_as_independent():
    rng = np.random.default_rng(3)
    mu, sigma, groups = _clustered(40, 10, rng)
    iid = NeuronProfile(sigma_threshold=0.5, n_bootstrap=200, random_state=0).fit(mu, sigma)
    clu = NeuronProfile(sigma_threshold=0.5, n_bootstrap=200, random_state=0).fit(mu, sigma, groups=groups)
    assert clu.n_groups_ == 40 and iid.n_groups_ is None
    assert "cluster bootstrap" in clu.settings_["bootstrap"]
    # the same data: var(mu) of the top dim spreads more when whole files are resampled
    sd = {}
    for name, prof in (("iid", iid), ("cluster", clu)):
        ri = prof.rank_intervals()
        assert list(ri["rank"]) == [1, 2, 3] and ri["p_music"].eq(1.0).all()
        assert (ri["rank_lo"] <= ri["rank"]).all() and (ri["rank"] <= ri["rank_hi"]).all()
        sd[name] = prof.rank_bootstrap_["var_mu"].std(axis=0).mean()
    assert sd["cluster"] > sd["iid"]


def test_rank_intervals_report_every_ordering():
    rng = np.random.default_rng(4)
    mu, sigma, groups = _clustered(60, 3, rng)
    p = NeuronProfile(sigma_threshold=0.5, n_bootstrap=50, random_state=0).fit(mu, sigma, groups=groups)
    ri = p.rank_intervals()
    for o in ("var_mu", "mean_sigma", "kl"):
        assert sorted(ri[f"rank_by_{o}"]) == [1, 2, 3]
    by_sigma = p.rank_intervals("mean_sigma")
    assert by_sigma["latent_index"].tolist() == p.ranking("mean_sigma").tolist()
    with pytest.raises(ValueError, match="labels"):
        NeuronProfile(n_bootstrap=0).fit(mu, sigma, groups=groups[:-1])


def test_sensitivity_names_the_counts_under_other_choices(planted):
    p = NeuronProfile(n_bootstrap=0).fit(planted.mu, planted.sigma)
    sens = p.sensitivity()
    assert set(sens["by_min_gap_ratio"]) == {"30", "100", "300"}
    assert sens["by_min_gap_ratio"]["100"]["n_music"] == p.n_music_
    lo, hi = sens["band"]["0.95"], sens["band"]["1.05"]
    assert lo["n_music"] <= p.n_music_ <= hi["n_music"]
    assert lo["threshold"] == pytest.approx(0.95 * p.sigma_threshold_)


def _bootstrap_rows(n_rows=60, seed=3):
    """Log mean-sigma vectors like the bootstrap's: a paper-like split (music spread over 0.05-0.9, noise near 1),
    a 16-bar-like continuum and an ambiguous middle, each jittered per row."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_rows):
        kind = i % 3
        if kind == 0:
            ms = np.r_[np.exp(rng.uniform(np.log(0.05), np.log(0.9), 37)), rng.uniform(0.97, 1.0, 475)]
        elif kind == 1:
            ms = rng.uniform(0.22, 0.98, 512)
        else:
            ms = np.r_[rng.uniform(0.1, 0.6, 60), rng.uniform(0.55, 0.8, 40), rng.uniform(0.95, 1.0, 412)]
        rows.append(ms * np.exp(rng.normal(0, 0.01, ms.size)))
    return np.array(rows)


def test_batched_mixtures_equal_sklearn_row_by_row():
    from sklearn.mixture import GaussianMixture

    from musicneurons.analysis.neurons import _log_x, mixture_em_many

    x = _log_x(_bootstrap_rows())
    for start in (0, 1, 2):  # warm starts from each kind's own fit
        init = GaussianMixture(2, n_init=3, random_state=0).fit(x[start][:, None])
        fit = mixture_em_many(x, init.weights_, init.means_, init.precisions_)
        for i, row in enumerate(x):
            g = GaussianMixture(2, random_state=0, weights_init=init.weights_, means_init=init.means_,
                                precisions_init=init.precisions_).fit(row[:, None])
            np.testing.assert_allclose(fit["means"][i], g.means_.ravel(), rtol=0, atol=1e-12)
            np.testing.assert_allclose(fit["variances"][i], g.covariances_.ravel(), rtol=0, atol=1e-12)
            np.testing.assert_allclose(fit["weights"][i], g.weights_, rtol=0, atol=1e-12)
            assert fit["bic"][i] == pytest.approx(g.bic(row[:, None]), rel=1e-12)
            assert (fit["n_iter"][i], bool(fit["converged"][i])) == (g.n_iter_, g.converged_)


def test_bootstrap_thresholds_equal_the_one_at_a_time_rule():
    from musicneurons.analysis.neurons import _auto

    rows = _bootstrap_rows()
    for start in (0, 1, 2):
        p = NeuronProfile(n_bootstrap=0).fit(np.zeros((2, rows.shape[1])), np.tile(rows[start], (2, 1)))
        assert p.mixture_ is not None
        batched = p._thresholds_many(rows)
        one_by_one = [_auto(ms, p.fallback_threshold, p.min_gap_ratio, p.random_state, init=p.mixture_)[0]
                      for ms in rows]
        assert batched.tolist() == one_by_one
        assert {"gap", "fallback"} == {("gap" if t != p.fallback_threshold else "fallback") for t in batched}
