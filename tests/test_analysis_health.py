"""The model-health gate: an always-hold model fails it, a model with perfect decodes and a clean split passes."""

import numpy as np
import pytest

from musicneurons.analysis.health import HEALTH_THRESHOLDS, health_gate
from musicneurons.model.health import model_health
from musicneurons.randomseq import random_windows


@pytest.fixture(scope="module")
def windows():
    return random_windows(60, 2, seed=1)[0]


def test_always_hold_model_fails(windows):
    import torch

    from musicneurons.model.config import get_config
    from musicneurons.model.musicvae import MusicVAE

    torch.manual_seed(0)
    model = MusicVAE(get_config("mn-mel_2bar").with_(enc_rnn_size=(16,), dec_rnn_size=(16,), z_size=12))
    # a decoder that learned nothing but "hold": every step decodes to event 0
    model.decode = lambda z, batch_size=512, **k: np.zeros((len(z), model.cfg.max_seq_len), np.int64)
    h = health_gate(model_health(model, windows))
    assert h["recon_accuracy"] == pytest.approx(h["always_hold_accuracy"]) and h["always_hold_accuracy"] < 0.9
    assert h["passes"] is False
    assert any("always-hold" in f for f in h["failures"])
    assert h["thresholds"] == HEALTH_THRESHOLDS and "always-hold baseline + 0.10" in h["rule"]
    acc = next(c for c in h["checks"] if c["check"].startswith("greedy"))
    assert acc["passes"] is False and acc["limit"] == pytest.approx(h["always_hold_accuracy"] + 0.10)


class PerfectModel:
    """Encodes each window's index on 4 music dims (small sigma) and decodes it back exactly from them; the 12 noise
    dims are prior-like and ignored by the decoder."""

    def __init__(self, windows):
        self.windows = np.asarray(windows)
        self.cfg = type("Cfg", (), {"free_bits": 0.0})()

    def encode(self, ev, batch_size=512):
        ev = np.asarray(ev)
        idx = np.array([np.flatnonzero((self.windows == w).all(1))[0] for w in ev], float)
        rng = np.random.default_rng(0)
        mu = rng.normal(0, 0.02, (len(ev), 16)).astype(np.float32)
        sigma = np.tile(np.linspace(0.97, 1.0, 16), (len(ev), 1)).astype(np.float32)
        mu[:, :4] = idx[:, None] / 10.0 + np.arange(4)
        sigma[:, :4] = [0.10, 0.11, 0.12, 0.13]
        return mu, mu, sigma

    def decode(self, z, batch_size=512):
        idx = np.rint(np.asarray(z)[:, 0] * 10.0).astype(int)
        return self.windows[idx]


def test_perfect_model_passes(windows):
    h = health_gate(model_health(PerfectModel(windows), windows))
    assert h["recon_accuracy"] == 1.0 and h["sigma_gap_found"] is True and h["n_music_neurons"] == 4
    assert h["noise_zeroing_changed_steps"] == 0.0
    assert h["passes"] is True and h["failures"] == [] and all(c["passes"] for c in h["checks"])


def test_gate_rules_on_numbers():
    good = {"recon_accuracy": 0.9, "always_hold_accuracy": 0.6, "sigma_gap_found": True,
            "sigma_threshold_rule": "gap", "noise_zeroing_changed_steps": 0.01}
    assert health_gate(good)["passes"] is True
    assert health_gate({**good, "recon_accuracy": 0.69})["passes"] is False
    nogap = health_gate({**good, "sigma_gap_found": False, "sigma_threshold_rule": "fallback"})
    assert nogap["passes"] is False and "no gap" in nogap["failures"][0]
    noisy = health_gate({**good, "noise_zeroing_changed_steps": 0.086})
    assert noisy["passes"] is False and "8.6 %" in noisy["failures"][0]
    assert health_gate(None) is None


def test_given_posterior_and_decode_are_used_not_recomputed(windows):
    """The analysis hands model_health the latents it has and the noise ablation's full decode: the numbers equal a
    fresh encode + decode, and neither is run again; a decode of the wrong shape is refused."""
    model = PerfectModel(windows)
    fresh = model_health(model, windows)
    _, mu, sigma = model.encode(windows)
    recon = model.decode(mu)
    calls = []
    model.encode = lambda *a, **k: calls.append("encode")
    real_decode = model.decode
    model.decode = lambda z, **k: (calls.append("decode"), real_decode(z))[1]
    given = model_health(model, windows, mu=mu, sigma=sigma, recon=recon)
    assert given == fresh
    assert calls == ["decode"]  # only the noise-zeroed decode
    with pytest.raises(ValueError, match="recon"):
        model_health(model, windows, mu=mu, sigma=sigma, recon=recon[:, :-1])


def test_a_given_noise_zeroed_decode_is_used_only_for_the_same_split(windows):
    """The analysis hands over its noise ablation's decode with the mask it zeroed: used when that mask is exactly
    model_health's own noise split (no decode runs), ignored (decoded here) when the masks differ, refused when its
    shape is wrong."""
    model = PerfectModel(windows)
    fresh = model_health(model, windows)
    _, mu, sigma = model.encode(windows)
    recon = model.decode(mu)
    own = np.arange(16) >= 4  # PerfectModel's 12 noise dims: the split model_health finds
    z0 = mu.copy()
    z0[:, own] = 0.0
    calls = []
    real_decode = model.decode
    model.decode = lambda z, **k: (calls.append("decode"), real_decode(z))[1]
    assert model_health(model, windows, mu=mu, sigma=sigma, recon=recon, zeroed=(own, real_decode(z0))) == fresh
    assert calls == []
    marked = real_decode(z0)[::-1].copy()  # a different decode: would change the numbers if it were used
    other = own.copy()
    other[4] = False
    assert model_health(model, windows, mu=mu, sigma=sigma, recon=recon, zeroed=(other, marked)) == fresh
    assert calls == ["decode"]
    with pytest.raises(ValueError, match="noise-zeroed decode"):
        model_health(model, windows, mu=mu, sigma=sigma, recon=recon, zeroed=(own, recon[:, :-1]))
