"""Model health: has a MusicVAE learned, and are its noise neurons noise? (numbers for cards and the report)

- greedy per-step reconstruction accuracy against the always-hold baseline (predicting "hold" at every step),
- the fraction of windows reconstructed exactly,
- KL to the prior, in total and above the free-bits floor (below it the KL term gives no gradient),
- the music / noise split by the sigma rule (:class:`~musicneurons.analysis.NeuronProfile`), whether a gap was
  found, how many noise dims are still Burda-active (Var(mu) > 0.01), and the fraction of decoded steps that change
  when every noise dim is set to 0 (the prior mean).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .musicvae import kl_per_window


def model_health(model, windows: np.ndarray, batch_size: int = 256, mu=None, sigma=None, recon=None,
                 zeroed=None) -> dict:
    """Health numbers of ``model`` on ``windows`` (N, T) -- use held-out windows.

    ``mu``, ``sigma`` (N, z_size) and ``recon`` (N, T), the windows' posterior and its greedy decode, when the
    caller already has them (the analysis does: its latents and its noise ablation's full decode); else they are
    computed here. ``zeroed``: ``(mask (z_size,) bool, decode (N, T))``, a greedy decode of ``mu`` with the dims of
    ``mask`` set to 0 that the caller has (the analysis' noise ablation); it stands in for this function's own
    noise-zeroed decode only when ``mask`` is exactly the noise split found here, else that decode runs."""
    from ..analysis import NeuronProfile

    windows = np.asarray(windows, np.int64)
    if mu is None or sigma is None:
        _, mu, sigma = model.encode(windows, batch_size=batch_size)
    mu = np.asarray(mu, np.float32)
    sigma = np.asarray(sigma, np.float32)
    if mu.ndim != 2 or mu.shape[0] != len(windows) or sigma.shape != mu.shape:
        raise ValueError(f"mu {mu.shape} and sigma {sigma.shape} do not match windows {windows.shape}")
    recon = model.decode(mu, batch_size=batch_size) if recon is None else np.asarray(recon)
    if recon.shape != windows.shape:
        raise ValueError(f"recon {recon.shape} does not match windows {windows.shape}")
    kl_bits = kl_per_window(torch.from_numpy(mu), torch.from_numpy(sigma)).numpy() / math.log(2.0)
    prof = NeuronProfile(n_bootstrap=0).fit(mu, sigma)
    noise = ~prof.music_mask_
    if zeroed is not None and np.array_equal(np.asarray(zeroed[0], bool), noise):
        recon_zeroed = np.asarray(zeroed[1])
        if recon_zeroed.shape != windows.shape:
            raise ValueError(f"noise-zeroed decode {recon_zeroed.shape} does not match windows {windows.shape}")
    else:
        z0 = mu.copy()
        z0[:, noise] = 0.0
        recon_zeroed = model.decode(z0, batch_size=batch_size)
    return {
        "n_windows": int(len(windows)),
        "recon_accuracy": float((recon == windows).mean()),
        "always_hold_accuracy": float((windows == 0).mean()),
        "recon_exact_windows": float((recon == windows).all(1).mean()),
        "kl_bits": float(kl_bits.mean()),
        "free_bits": float(model.cfg.free_bits),
        "kl_above_free_bits": float(np.maximum(kl_bits - model.cfg.free_bits, 0.0).mean()),
        "n_music_neurons": int(prof.n_music_),
        "sigma_threshold": float(prof.sigma_threshold_),
        "sigma_threshold_rule": prof.threshold_rule_["rule"],
        "sigma_gap_found": prof.threshold_rule_["rule"] != "fallback",
        "active_dims": int(prof.active_mask_.sum()),
        "noise_dims_burda_active": int((prof.active_mask_ & noise).sum()),
        "noise_dims": int(noise.sum()),
        "noise_zeroing_changed_steps": float((recon_zeroed != recon).mean()),
        "noise_zeroing_accuracy": float((recon_zeroed == windows).mean()),
    }
