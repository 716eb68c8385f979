"""Real vs random inputs: how many music and noise neurons each input activates.

A dim is *activated* by an input when ``|mu| > threshold`` (the paper's 0.1). The detector
"is this music?" scores an input by minus its number of activated noise neurons (random note
sequences excite many more noise neurons); its quality is the ROC AUC on real vs random inputs.
The cut reported with it maximises Youden's J (TPR - FPR) on the fitted data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def count_activated(mu, music_mask, threshold: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Activated music and noise neurons per input.

    Parameters
    ----------
    mu : array-like, shape=(n_samples, n_dims)
    music_mask : array-like of bool, shape=(n_dims,)
    threshold : float
        A dim is activated when ``|mu| > threshold``.

    Returns
    -------
    n_music, n_noise : np.ndarray, shape=(n_samples,), int
    """
    mu = np.asarray(mu, dtype=float)
    m = np.asarray(music_mask, dtype=bool)
    if mu.ndim != 2 or m.shape != (mu.shape[1],):
        raise ValueError(f"mu must be (n_samples, n_dims) and music_mask (n_dims,), got {mu.shape}, {m.shape}")
    act = np.abs(mu) > threshold
    return act[:, m].sum(axis=1), act[:, ~m].sum(axis=1)


def key_neuron_histograms(mu_real, mu_random, neurons, bins: int = 40) -> dict[int, dict]:
    """Histograms of mu for real vs random inputs on common edges, per latent index.

    Returns
    -------
    dict
        latent index -> ``{"edges": (bins+1,), "real": (bins,), "random": (bins,)}`` with
        densities (each integrates to 1).
    """
    a = np.asarray(mu_real, dtype=float)
    b = np.asarray(mu_random, dtype=float)
    out = {}
    for n in np.asarray(neurons, dtype=int):
        lo = min(a[:, n].min(), b[:, n].min())
        hi = max(a[:, n].max(), b[:, n].max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        out[int(n)] = {"edges": edges,
                       "real": np.histogram(a[:, n], edges, density=True)[0],
                       "random": np.histogram(b[:, n], edges, density=True)[0]}
    return out


class RealRandomDetector:
    """Count activations for real and random inputs and detect "is this music?".

    Parameters
    ----------
    threshold : float
        Activation threshold on ``|mu|``.

    Attributes
    ----------
    counts_ : pd.DataFrame
        One row per input: ``kind`` ("real" | "random"), ``n_music``, ``n_noise``.
    auc_ : float
        ROC AUC of the score ``-n_noise`` for real (positive) vs random.
    auc_music_count_ : float
        The same AUC with ``-n_music`` as the score, for comparison.
    cut_ : float
        Inputs with ``n_noise <= cut_`` are called music (Youden-optimal on the fitted data).
    summary_ : dict
        Means of the four counts, the AUC and the cut.
    settings_ : dict
    """

    def __init__(self, threshold: float = 0.1, spread_z: float = 2.0):
        self.threshold = threshold
        self.spread_z = spread_z

    def fit(self, mu_real, mu_random, music_mask, noise_mask=None):
        """Count activations for both classes and score the detector.

        Parameters
        ----------
        mu_real, mu_random : array-like, shape=(n_real, n_dims), (n_random, n_dims)
        music_mask : array-like of bool, shape=(n_dims,)
        noise_mask : array-like of bool, shape=(n_dims,), optional
            The non-music dims that are prior-like (Burda-inactive); the others are "leaky". With it, the
            summary splits the non-music counts into noise and leaky, at the fixed threshold and at a threshold
            scaled to each dim's spread (``|mu - mean| > spread_z * sd``, mean and sd over the real inputs: "outside
            the range this dim takes on real music").
        """
        from sklearn.metrics import roc_auc_score, roc_curve

        mr, nr = count_activated(mu_real, music_mask, self.threshold)
        mx, nx = count_activated(mu_random, music_mask, self.threshold)
        if mr.size == 0 or mx.size == 0:
            raise ValueError("need at least one real and one random input")
        self.music_mask_ = np.asarray(music_mask, dtype=bool)
        self.counts_ = pd.DataFrame({
            "kind": ["real"] * mr.size + ["random"] * mx.size,
            "n_music": np.r_[mr, mx], "n_noise": np.r_[nr, nx],
        })
        y = np.r_[np.ones(mr.size), np.zeros(mx.size)]
        self.auc_ = float(roc_auc_score(y, -np.r_[nr, nx]))
        self.auc_music_count_ = float(roc_auc_score(y, -np.r_[mr, mx]))
        fpr, tpr, thr = roc_curve(y, -np.r_[nr, nx])
        j = np.argmax(tpr - fpr)
        self.cut_ = float(-thr[j]) + 0.0 if np.isfinite(thr[j]) else float(np.r_[nr, nx].max())
        self.roc_ = {"fpr": fpr, "tpr": tpr}
        self.summary_ = {
            "activated_music_real_mean": float(mr.mean()),
            "activated_noise_real_mean": float(nr.mean()),
            "activated_music_random_mean": float(mx.mean()),
            "activated_noise_random_mean": float(nx.mean()),
            "auc": self.auc_,
            "auc_music_count": self.auc_music_count_,
            "noise_count_cut": self.cut_,
            "n_real": int(mr.size), "n_random": int(mx.size),
        }
        if noise_mask is not None:
            self.summary_["by_class"] = self._by_class(np.asarray(mu_real, float), np.asarray(mu_random, float),
                                                       self.music_mask_, np.asarray(noise_mask, bool))
        self.settings_ = {"activation_threshold": self.threshold,
                          "spread_scaled": (f"|mu - mean_real| > {self.spread_z:g} x sd_real per dim"
                                            if noise_mask is not None else None),
                          "detector": "score = -(activated noise neurons); AUC real vs random; "
                                      "cut = Youden-optimal on the fitted data"}
        return self

    def _by_class(self, real, rand, music, noise) -> dict:
        """Mean activated dims per class (music / noise / leaky) for real and random inputs, at the fixed threshold
        and spread-scaled, with the AUC of each non-music count as a real-vs-random score."""
        from sklearn.metrics import roc_auc_score

        leaky = ~music & ~noise
        m, sd = real.mean(axis=0), real.std(axis=0)
        y = np.r_[np.ones(len(real)), np.zeros(len(rand))]
        out = {"n_dims": {"music": int(music.sum()), "noise": int(noise.sum()), "leaky": int(leaky.sum())}}
        for rule, act in (("fixed", lambda a: np.abs(a) > self.threshold),
                          ("spread_scaled", lambda a: np.abs(a - m) > self.spread_z * np.where(sd > 0, sd, np.inf))):
            ar, ax = act(real), act(rand)
            row = {}
            for name, mask in (("music", music), ("noise", noise), ("leaky", leaky)):
                cr, cx = ar[:, mask].sum(axis=1), ax[:, mask].sum(axis=1)
                auc = (float(roc_auc_score(y, -np.r_[cr, cx])) if mask.any() and np.ptp(np.r_[cr, cx]) > 0
                       else None)
                row[name] = {"real_mean": float(cr.mean()), "random_mean": float(cx.mean()), "auc": auc}
            out[rule] = row
        return out

    def predict(self, mu) -> np.ndarray:
        """True where an input looks like music (activated noise neurons <= ``cut_``)."""
        _, n_noise = count_activated(mu, self.music_mask_, self.threshold)
        return n_noise <= self.cut_
