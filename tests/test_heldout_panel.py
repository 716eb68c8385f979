"""The default run's held-out panel: the key findings again on the windows of sources the model never saw."""

import json

from musicneurons.analysis.summary import HELD_OUT_MIN_WINDOWS, held_out_comparison, key_findings


def _summary(n, dims, passes=True):
    return {"n_samples": n, "bootstrap_groups": n // 5, "n_music_neurons": len(dims), "n_music_neurons_ci": [1, 9],
            "sigma_threshold": 0.9, "sigma_threshold_rule": "gap",
            "health": {"passes": passes, "recon_accuracy": 0.9, "always_hold_accuracy": 0.6, "n_windows": n},
            "music_neurons": [{"rank": i + 1, "latent_index": d, "top_feature": "P12", "top_phik": 0.8,
                               "top_phik_null_q99": 0.2, "clears_null": True, "category": "P"}
                              for i, d in enumerate(dims)]}


def test_comparison_of_two_summaries():
    full, held = _summary(2000, [4, 9, 1, 7]), _summary(150, [4, 1, 3], passes=False)
    c = held_out_comparison(full, held, n_top=2)
    json.dumps(c)
    assert c["music_overlap"] == {"both": 2, "only_all": 2, "only_held_out": 1} and c["same_rank_1"] is True
    assert c["held_out"]["health"]["passes"] is False and c["all"]["n_windows"] == 2000
    assert [m["latent_index"] for m in c["held_out"]["top"]] == [4, 1]
    assert key_findings(full)["n_clear_null"] == 4
    assert held_out_comparison(full, _summary(150, [9]))["same_rank_1"] is False


def test_the_default_models_run_shows_the_held_out_panel(tmp_path, monkeypatch):
    from musicneurons.analysis import summary as summary_module
    from musicneurons.pipeline import Settings, reproduce
    from musicneurons.report import build_report

    monkeypatch.setattr(summary_module, "HELD_OUT_MIN_WINDOWS", 20)  # a small run: ~40 held-out windows
    root = tmp_path / "run"
    s = Settings(n_melodies=800, keys=("2bar",), metrics=False, n_permutations=10, untrained_baseline=False,
                 n_intervention_melodies=4, n_traversed=1)
    reproduce(root, s, log=lambda *_: None, report=False)
    summary = json.loads((root / "analysis" / "2bar" / "summary.json").read_text())
    aw, ho = summary["analysed_windows"], summary["held_out"]
    assert 20 <= aw["n_held_out"] < HELD_OUT_MIN_WINDOWS
    assert ho["held_out"]["n_windows"] == aw["n_held_out"] and ho["all"]["n_windows"] == summary["n_samples"]
    assert ho["held_out"]["health"]["n_windows"] == aw["n_held_out"]  # the gate on every held-out window
    assert ho["held_out"]["n_music_neurons"] == sum(ho["music_overlap"][k] for k in ("both", "only_held_out"))
    assert ho["all"]["n_music_neurons"] == summary["n_music_neurons"]
    html = build_report(root).read_text()
    assert 'id="held-out-2bar"' in html and "held-out windows only" in html
