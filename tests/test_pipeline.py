"""reproduce end to end on a small run: stages are cached, a run killed during encoding resumes, and the
results equal an uninterrupted run."""

import json

import numpy as np
import pytest
import torch

from conftest import TINY_Z, tiny_settings
from musicneurons.model.musicvae import MusicVAE
from musicneurons.pipeline import Run, reproduce


def test_killed_during_encoding_resumes_with_identical_results(tmp_path, tiny_checkpoint, tiny_run, monkeypatch):
    s = tiny_settings(tiny_checkpoint)
    full = tiny_run  # the uninterrupted run

    # a run that dies in the middle of encoding the real melodies (after the first part file)
    calls = {"n": 0}
    original = MusicVAE.encode

    def dying_encode(self, windows, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return original(self, windows, *a, **k)

    monkeypatch.setattr(MusicVAE, "encode", dying_encode)
    with pytest.raises(KeyboardInterrupt):
        reproduce(tmp_path / "killed", s, log=lambda *_: None, report=False)
    parts = list((tmp_path / "killed" / "latents" / "2bar_real.parts").glob("*/part-*.npz"))
    assert len(parts) == 1  # the finished part survived
    monkeypatch.setattr(MusicVAE, "encode", original)

    log = []
    reproduce(tmp_path / "killed", s, log=log.append, report=False)
    assert "  [cached] melodies_2bar" in log and "  [cached] random_2bar" in log
    assert "  [run]    encode_2bar_real" in log
    for name in ("2bar_real", "2bar_random"):
        a = np.load(full / "latents" / f"{name}.npz")
        b = np.load(tmp_path / "killed" / "latents" / f"{name}.npz")
        np.testing.assert_array_equal(a["mu"], b["mu"])
        np.testing.assert_array_equal(a["sigma"], b["sigma"])
    sa = json.loads((full / "analysis" / "summary.json").read_text())["2bar"]
    sb = json.loads((tmp_path / "killed" / "analysis" / "summary.json").read_text())["2bar"]
    for key in ("n_music_neurons", "sigma_threshold", "music_neurons", "activation", "ablation"):
        assert sa[key] == sb[key], key

    # nothing changed: every stage is cached; a changed analysis setting re-runs only the analysis
    log = []
    reproduce(tmp_path / "killed", s, log=log.append, report=False)
    assert not [m for m in log if "[run]" in m]
    s2 = tiny_settings(tiny_checkpoint, activation_threshold=0.2)
    log = []
    reproduce(tmp_path / "killed", s2, log=log.append, report=False)
    assert [m.split()[-1] for m in log if "[run]" in m] == ["analyze_2bar"]


def test_summary_has_the_analysis_fields(tiny_run):
    s = json.loads((tiny_run / "analysis" / "summary.json").read_text())["2bar"]
    for k in ("n_music_neurons", "sigma_threshold", "music_neurons", "activation", "ablation", "settings"):
        assert k in s
    for k in ("activated_music_real_mean", "activated_noise_real_mean", "activated_music_random_mean",
              "activated_noise_random_mean", "auc"):
        assert s["activation"][k] is not None
    assert set(s["ablation"]) >= {"recon_accuracy_full", "recon_accuracy_noise_zeroed"}
    for n in s["music_neurons"]:
        assert set(n) >= {"rank", "latent_index", "var_mu", "mean_sigma", "top_feature", "top_phik", "category"}
    prof = (tiny_run / "analysis" / "2bar" / "profile.csv").read_text().splitlines()
    assert len(prof) == 1 + TINY_Z


def test_untrained_baseline_stage_permutation_null_and_health(copy_run, tiny_checkpoint):
    from musicneurons.tables import read_events
    from musicneurons.model.checkpoint import load_model

    tmp_path = copy_run
    s = tiny_settings(tiny_checkpoint)
    assert s.n_permutations == 10
    rec = json.loads((tmp_path / "stages" / "encode_2bar_untrained.json").read_text())
    assert "2bar_untrained.npz" in rec["outputs"]
    # the untrained latents: the same architecture, Magenta's initialisation, seeded, on the real windows
    cfg = load_model(checkpoint=tiny_checkpoint).cfg
    torch.manual_seed(s.seed)
    _, mu, sigma = MusicVAE(cfg).encode(read_events(tmp_path / "data" / "melodies_2bar.parquet"))
    with np.load(tmp_path / "latents" / "2bar_untrained.npz") as f:
        np.testing.assert_array_equal(f["mu"], mu)
        np.testing.assert_array_equal(f["sigma"], sigma)
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())["2bar"]
    b = summary["baselines"]
    assert b["permutation"]["n_permutations"] == 10 and b["permutation"]["best_phik_q99"] is not None
    analysed = [n for n in summary["music_neurons"] if n["top_phik"] is not None]
    n_top = min(30, len(analysed))  # the same number of top dims on both sides
    assert b["untrained"]["n_top"] == b["trained"]["n_top"] == n_top and len(b["untrained"]["top_dims"]) == n_top
    assert b["untrained"]["median_best_phik_top"] is not None
    assert analysed and all(isinstance(n["clears_null"], bool) for n in analysed)
    assert all((n["category"] is not None) == n["clears_null"] for n in analysed)
    h = summary["health"]
    assert {"recon_accuracy", "always_hold_accuracy", "noise_zeroing_changed_steps", "passes", "thresholds",
            "failures"} <= set(h)
    assert h["passes"] is False  # an untrained tiny model has learned nothing
    assert summary["settings"]["health"]["n_windows"] == h["n_windows"] == summary["n_real"]
    # a rerun caches the baseline stage (and everything else)
    log = []
    reproduce(tmp_path, s, log=log.append, report=False)
    assert "  [cached] encode_2bar_untrained" in log and not [m for m in log if "[run]" in m]
    key = json.loads((tmp_path / "stages" / "analyze_2bar.json").read_text())["key"]
    assert _analyze_key(tmp_path, s) == key
    s.n_permutations = 12  # the number of permutations is part of the analysis stage's key
    assert _analyze_key(tmp_path, s) != key


def _analyze_key(root, s):
    """The key the analyze stage would record for settings ``s`` (its ``stage`` call, intercepted)."""
    run = Run(root, s, log=lambda *_: None, lock=False)
    run.recorded_keys()
    got = {}
    run.stage = lambda name, key_obj, outputs, fn: got.setdefault(name, key_obj)
    run.analyze("2bar")
    return Run.stage_key("analyze_2bar", got["analyze_2bar"])
