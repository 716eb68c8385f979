import json

import numpy as np
import pandas as pd

from musicneurons.analysis import analyze_latents, make_planted_latents, summarize, to_jsonable


def _decode(z):
    z = np.asarray(z)
    ev = np.zeros((z.shape[0], 8), dtype=np.int64)
    ev[:, 0] = np.clip(np.round(60 + 4 * z[:, 7]), 21, 108).astype(int) - 19
    ev[:, 4] = np.where(z[:, 3] > 0, 50, 0)
    return ev


def _features(ev):
    return pd.DataFrame({"P1": (ev[:, 0] + 19).astype(float), "R1": (ev >= 2).sum(axis=1).astype(float)})


def _only_plain_types(x):
    if isinstance(x, dict):
        return all(isinstance(k, str) and _only_plain_types(v) for k, v in x.items())
    if isinstance(x, list):
        return all(_only_plain_types(v) for v in x)
    return x is None or type(x) in (str, int, float, bool)


def test_to_jsonable():
    out = to_jsonable({"a": np.int64(3), "b": np.float32(0.5), "c": np.array([1, 2]), "d": float("nan"),
                       "e": pd.Series({"x": np.bool_(True)}), 5: (np.float64(1.0),)})
    assert out == {"a": 3, "b": 0.5, "c": [1, 2], "d": None, "e": {"x": True}, "5": [1.0]}
    assert _only_plain_types(out)


def test_summary_keys_and_values():
    p = make_planted_latents(n_samples=1200, random_state=7)
    a2 = analyze_latents(p.mu, p.sigma, p.features, p.categories, mu_random=p.mu_random,
                         events=_decode(p.mu), decode_fn=_decode, n_bootstrap=10, cross_checks=False,
                         features_fn=_features, n_intervention_melodies=50, n_traversed=2)
    a16 = analyze_latents(p.mu, p.sigma, n_bootstrap=0, sigma_threshold=0.5)
    s = summarize({"2bar": a2, "16bar": a16})
    json.dumps(s)
    assert _only_plain_types(s)
    m = s["2bar"]
    assert m["n_music_neurons"] == 5 and m["settings"]["profile"]["sigma_threshold_rule"] == "gap"
    assert 0.2 < m["sigma_threshold"] < 0.97
    assert [n["latent_index"] for n in m["music_neurons"]] == p.informative.tolist()
    assert [n["rank"] for n in m["music_neurons"]] == [1, 2, 3, 4, 5]
    assert [n["top_feature"] for n in m["music_neurons"]] == ["P1", "R1", "M1", "P2", "R2"]
    assert [n["category"] for n in m["music_neurons"]] == ["P", "R", "M", "P", "R"]
    assert all(n["top_phik"] > 0.8 for n in m["music_neurons"])
    assert set(m["music_neurons"][0]) >= {"rank", "latent_index", "var_mu", "mean_sigma", "top_feature",
                                          "top_phik", "category"}
    act = m["activation"]
    assert act["auc"] > 0.99 and act["activated_noise_random_mean"] > act["activated_noise_real_mean"]
    assert m["ablation"]["recon_accuracy_full"] == 1.0 and m["ablation"]["recon_accuracy_noise_zeroed"] == 1.0
    assert m["dropped_constant_features"] == ["C0"]
    moved = {r["latent_index"]: r["feature"] for r in m["interventions"]["ablation_top_moved"]}
    assert moved[7] == "P1" and moved[3] == "R1" and moved[40] is None  # the decoder ignores dim 40
    assert [r["feature"] for r in m["interventions"]["traversal_top_moved"]] == ["P1", "R1"]
    # the traversal chance level: non-music dims (the decoder ignores them) swept over the prior's range
    null = m["interventions"]["traversal_null"]
    assert len(null["dims"]) == 2 and not set(null["dims"]) & set(p.informative.tolist())
    assert null["kind"] in ("noise", "leaky", "noise and leaky") and null["max_effect"] == 0.0
    assert all(r["clears_null"] is True and r["null_max_effect"] == 0.0
               for r in m["interventions"]["traversal_top_moved"])
    assert m["settings"]["traversal_null"]["dims"] == null["dims"]
    assert m["settings"]["activation"]["activation_threshold"] == 0.1
    assert m["settings"]["correlation"]["phik_bins"] == 10
    # the 16-bar entry without features / random / decoder still has every key, as None
    n = s["16bar"]
    assert n["sigma_threshold"] == 0.5 and n["settings"]["profile"]["sigma_threshold_rule"] == "fixed"
    assert n["music_neurons"][0]["top_feature"] is None
    assert n["activation"]["auc"] is None and n["ablation"]["recon_accuracy_full"] is None
    assert n["interventions"]["ablation_top_moved"] is None


def test_twinkle_and_sweep_in_summary():
    from musicneurons.analysis import twinkle_events, twinkle_posterior

    p = make_planted_latents(n_samples=500, random_state=8)

    def encode_fn(events):
        assert events.shape == (1, 32) and np.array_equal(events[0], twinkle_events(2))
        return p.mu[:1] * 0 + 0.25, p.sigma[:1]

    tmu, tsig = twinkle_posterior(encode_fn, 2)
    a = analyze_latents(p.mu, p.sigma, n_bootstrap=0, twinkle_mu=tmu, twinkle_sigma=tsig)
    s = summarize(twinkle=a)["twinkle"]
    assert [r["latent_index"] for r in s["twinkle"]] == p.informative.tolist()
    assert all(r["twinkle_mu"] == 0.25 for r in s["twinkle"])
    sw = s["sigma_threshold_sweep"]
    assert sw["n_music"][sw["sigma_threshold"].index(0.5)] == 5 and sw["n_music"][-1] == 64


def test_features_with_inf_are_treated_as_missing():
    from musicneurons.analysis import NeuronFeatureCorrelation

    p = make_planted_latents(n_samples=600, random_state=9)
    f = p.features.copy()
    f.loc[:10, "P1"] = np.inf
    c = NeuronFeatureCorrelation(cross_checks=False).fit(p.mu, f, p.categories, p.informative)
    assert c.top_feature(p.feature_of["P1"])[0] == "P1"


def test_max_neurons_caps_the_per_neuron_work():
    p = make_planted_latents(n_samples=400, random_state=10)
    a = analyze_latents(p.mu, p.sigma, p.features, p.categories, n_bootstrap=0, cross_checks=False, max_neurons=2)
    assert a.profile.n_music_ == 5
    assert list(a.correlation.phik_.index) == p.informative[:2].tolist()
    assert a.settings["analysed_neurons"] == "top 2 of 5 music neurons by var_mu"
    s = summarize({"2bar": a})["2bar"]
    assert len(s["music_neurons"]) == 5 and s["music_neurons"][2]["top_feature"] is None
