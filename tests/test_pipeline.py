"""reproduce end to end on a small run: stages are cached, a run killed during encoding resumes, and the
results equal an uninterrupted run."""

import json

import numpy as np
import pytest
import torch

from musicneurons.model.checkpoint import save_model
from musicneurons.model.config import get_config
from musicneurons.model.musicvae import MusicVAE
from musicneurons.pipeline import Run, Settings, reproduce


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    save_model(MusicVAE(get_config("mn-mel_2bar").with_(enc_rnn_size=(32,), dec_rnn_size=(32,))), d / "m2")
    return d / "m2"


def settings(ckpt):
    return Settings(n_melodies=120, keys=("2bar",), checkpoints={"2bar": str(ckpt), "16bar": None},
                    n_intervention_melodies=4, n_traversed=2, metrics=False, encode_chunk=50)


def test_killed_during_encoding_resumes_with_identical_results(tmp_path, tiny_models, monkeypatch):
    s = settings(tiny_models)
    reproduce(tmp_path / "full", s, log=lambda *_: None, report=False)

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
    parts = list((tmp_path / "killed" / "latents" / "2bar_real.parts").glob("*.npz"))
    assert len(parts) == 1  # the finished part survived
    monkeypatch.setattr(MusicVAE, "encode", original)

    log = []
    reproduce(tmp_path / "killed", s, log=log.append, report=False)
    assert "  [cached] melodies_2bar" in log and "  [cached] random_2bar" in log
    assert "  [run]    encode_2bar_real" in log
    for name in ("2bar_real", "2bar_random"):
        a = np.load(tmp_path / "full" / "latents" / f"{name}.npz")
        b = np.load(tmp_path / "killed" / "latents" / f"{name}.npz")
        np.testing.assert_array_equal(a["mu"], b["mu"])
        np.testing.assert_array_equal(a["sigma"], b["sigma"])
    sa = json.loads((tmp_path / "full" / "analysis" / "summary.json").read_text())["2bar"]
    sb = json.loads((tmp_path / "killed" / "analysis" / "summary.json").read_text())["2bar"]
    for key in ("n_music_neurons", "sigma_threshold", "music_neurons", "activation", "ablation"):
        assert sa[key] == sb[key], key

    # nothing changed: every stage is cached; a changed analysis setting re-runs only the analysis
    log = []
    reproduce(tmp_path / "killed", s, log=log.append, report=False)
    assert not [m for m in log if "[run]" in m]
    s2 = settings(tiny_models)
    s2.activation_threshold = 0.2
    log = []
    reproduce(tmp_path / "killed", s2, log=log.append, report=False)
    assert [m.split()[-1] for m in log if "[run]" in m] == ["analyze_2bar"]


def test_summary_has_the_analysis_fields(tmp_path, tiny_models):
    reproduce(tmp_path, settings(tiny_models), log=lambda *_: None, report=False)
    s = json.loads((tmp_path / "analysis" / "summary.json").read_text())["2bar"]
    for k in ("n_music_neurons", "sigma_threshold", "music_neurons", "activation", "ablation", "settings"):
        assert k in s
    for k in ("activated_music_real_mean", "activated_noise_real_mean", "activated_music_random_mean",
              "activated_noise_random_mean", "auc"):
        assert s["activation"][k] is not None
    assert set(s["ablation"]) >= {"recon_accuracy_full", "recon_accuracy_noise_zeroed"}
    for n in s["music_neurons"]:
        assert set(n) >= {"rank", "latent_index", "var_mu", "mean_sigma", "top_feature", "top_phik", "category"}
    prof = (tmp_path / "analysis" / "2bar" / "profile.csv").read_text().splitlines()
    assert len(prof) == 1 + 512
