"""Synthetic latents with planted structure, for tests, examples and sanity checks.

``k`` informative dims (scattered latent indices, planted order = decreasing std of mu, small
sigma) each drive known features; the other dims are prior-like (mu ~ 0, sigma ~ 1). A
planted "random" class keeps the informative dims but excites many noise dims (|mu| > 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class PlantedLatents:
    """Arrays of a planted latent space (all arrays (n_samples, n_dims))."""

    mu: np.ndarray
    sigma: np.ndarray
    mu_random: np.ndarray
    sigma_random: np.ndarray
    features: pd.DataFrame
    categories: dict
    informative: np.ndarray  # latent indices, planted order (rank 1 first)
    feature_of: dict = field(default_factory=dict)  # feature id -> latent index that drives it
    factors: np.ndarray | None = None  # (n_samples, k) the standard-normal factors


def make_planted_latents(n_samples: int = 2000, n_dims: int = 64, n_random: int | None = None,
                         informative=(7, 3, 40, 22, 51), stds=(2.0, 1.6, 1.2, 0.9, 0.6),
                         random_state: int = 0) -> PlantedLatents:
    """Build a planted latent space.

    Features (columns of ``features``), with their driving factor ``u_j`` (factor j drives
    latent ``informative[j]`` as ``mu = stds[j] * u_j + noise``):

    ====== ===== ===================================================
    id     cat   definition
    ====== ===== ===================================================
    P1     P     ``60 + 5 u_0``  (mean pitch-like)
    R1     R     ``round(4 + 1.5 u_1)`` clipped to 0..8  (discrete)
    M1     M     ``exp(0.5 u_2)`` + small noise  (non-linear, skewed)
    P2     P     ``u_3 ** 3`` + small noise
    R2     R     ``tanh(u_4)`` + small noise
    X1     M     independent noise (tied to nothing)
    C0     P     constant 1.0 (must be dropped)
    ====== ===== ===================================================
    """
    rng = np.random.default_rng(random_state)
    informative = np.asarray(informative, dtype=int)
    k = informative.size
    stds = np.asarray(stds, dtype=float)[:k]
    n_random = n_samples if n_random is None else n_random

    def latents(n, u, random_class):
        mu = rng.normal(0.0, 0.02, size=(n, n_dims))
        sigma = rng.uniform(0.97, 1.0, size=(n, n_dims))
        mu[:, informative] = u * stds + rng.normal(0, 0.05, size=(n, k))
        sigma[:, informative] = rng.uniform(0.05, 0.3, size=(n, k))
        if random_class:
            noise = np.setdiff1d(np.arange(n_dims), informative)
            excited = rng.random((n, noise.size)) < 0.6
            mu[:, noise] += excited * rng.choice([-1, 1], size=excited.shape) * rng.uniform(0.15, 0.5, excited.shape)
            mu[:, informative[0]] += 1.5  # random inputs sit elsewhere on the key neuron
        return mu, sigma

    u = rng.normal(size=(n_samples, k))
    mu, sigma = latents(n_samples, u, False)
    mu_r, sigma_r = latents(n_random, rng.normal(size=(n_random, k)), True)
    eps = rng.normal(size=(n_samples, 4)) * 0.05
    feats = pd.DataFrame({
        "P1": 60 + 5 * u[:, 0],
        "R1": np.clip(np.round(4 + 1.5 * u[:, 1]), 0, 8),
        "M1": np.exp(0.5 * u[:, 2]) + eps[:, 0],
        "P2": u[:, 3] ** 3 + eps[:, 1],
        "R2": np.tanh(u[:, 4]) + eps[:, 2] if k > 4 else eps[:, 2],
        "X1": rng.normal(size=n_samples),
        "C0": np.ones(n_samples),
    })
    cats = {"P1": "P", "R1": "R", "M1": "M", "P2": "P", "R2": "R", "X1": "M", "C0": "P"}
    feature_of = {f: int(informative[j]) for j, f in enumerate(["P1", "R1", "M1", "P2", "R2"][:k])}
    return PlantedLatents(mu, sigma, mu_r, sigma_r, feats, cats, informative, feature_of, u)
