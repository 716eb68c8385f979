"""The paper-comparison rules on hand-made summaries: a rank claim needs a stable rank, counts show their
sensitivity, the noise claim says how many non-music dims are leaky."""

from musicneurons.report.paper import MIN_P_SAME_RANK, comparison


def _summary(p_same_rank=0.9, leaky=0):
    neurons = [
        {"rank": 1, "latent_index": 7, "top_feature": "P12", "top_phik": 0.9, "top_phik_null_q99": 0.4,
         "clears_null": True, "category": "P", "label": "P", "rank_lo": 1, "rank_hi": 1, "p_same_rank": 0.95},
        {"rank": 2, "latent_index": 9, "top_feature": "R15", "top_phik": 0.8, "top_phik_null_q99": 0.4,
         "clears_null": True, "category": "R", "label": "R", "rank_lo": 2, "rank_hi": 4, "p_same_rank": p_same_rank},
        {"rank": 3, "latent_index": 4, "top_feature": "P1", "top_phik": 0.7, "top_phik_null_q99": 0.4,
         "clears_null": True, "category": "P", "label": "P", "rank_lo": 2, "rank_hi": 3, "p_same_rank": 0.5},
    ]
    return {"2bar": {"n_music_neurons": 3, "n_music_neurons_ci": [2, 5], "n_dims": 16, "order_by": "var_mu",
                     "music_neurons": neurons, "orderings": {"var_mu": [7, 9, 4], "mean_sigma": [7, 4, 9]},
                     "sensitivity": {"band": {"0.95": {"n_music": 2}, "1.05": {"n_music": 6}},
                                     "by_min_gap_ratio": {"100": {"n_music": 3}, "300": {"n_music": 1}}},
                     "n_noise_neurons": 13 - leaky, "n_leaky_neurons": leaky,
                     "activation": {"activated_noise_real_mean": 1.0, "activated_noise_random_mean": 5.0}}}


def _row(rows, claim):
    return next(r for r in rows if r["claim"] == claim)


def test_a_stable_rank_agrees_and_names_the_other_orderings():
    r = _row(comparison(_summary(p_same_rank=0.9)), "2-bar neuron 2 ↔ rhythm")
    assert r["verdict"] == "agrees"
    assert "rank 2–4 in 95 % of resamples, at #2 in 90 %" in r["run"]
    assert "by mean σ #2 is d4 (P)" in r["run"]  # another ordering puts a pitch neuron there


def test_an_unstable_rank_gets_no_agreement():
    r = _row(comparison(_summary(p_same_rank=MIN_P_SAME_RANK - 0.01)), "2-bar neuron 2 ↔ rhythm")
    assert r["verdict"] == "unstable"
    assert "else unstable" in r["rule"]


def test_the_count_row_shows_its_sensitivity():
    r = _row(comparison(_summary()), "music neurons, 2bar model")
    assert "σ threshold ±5 %: 2–6" in r["run"] and "300×: 1" in r["run"]
    assert "cluster bootstrap" in r["rule"]


def test_the_noise_row_says_how_many_non_music_dims_leak():
    r = _row(comparison(_summary(leaky=10)), "random ≫ real in activated noise neurons, 2bar")
    assert "10 are leaky" in r["run"]
    assert "leaky" not in _row(comparison(_summary(leaky=0)), "random ≫ real in activated noise neurons, 2bar")["run"]
