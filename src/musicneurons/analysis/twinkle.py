"""The paper's running example: "Twinkle, Twinkle, Little Star" in C major around middle C.

The tune (quarter note = 4 steps, half note = 8 steps, legato, 16 steps per bar)::

    A: C C G G | A A G - | F F E E | D D C -
    B: G G F F | E E D - | G G F F | E E D -
    A: C C G G | A A G - | F F E E | D D C -

``twinkle_events(2)`` is the first 2 bars; ``twinkle_events(16)`` is the 12-bar verse (A B A)
followed by the first 4 bars of the next verse (A B A A), as a 16-bar window of the song
sung twice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..melody import STEPS_PER_BAR, notes_to_events

_C, _D, _E, _F, _G, _A = 60, 62, 64, 65, 67, 69
_PHRASE_A = [(_C, 4), (_C, 4), (_G, 4), (_G, 4), (_A, 4), (_A, 4), (_G, 8),
             (_F, 4), (_F, 4), (_E, 4), (_E, 4), (_D, 4), (_D, 4), (_C, 8)]
_PHRASE_B = [(_G, 4), (_G, 4), (_F, 4), (_F, 4), (_E, 4), (_E, 4), (_D, 8)] * 2
TWINKLE_VERSE = _PHRASE_A + _PHRASE_B + _PHRASE_A  # 12 bars


def twinkle_events(n_bars: int = 2) -> np.ndarray:
    """The first ``n_bars`` bars (2 or 16) as 90-class events.

    Returns
    -------
    np.ndarray, shape=(16 * n_bars,), int64
    """
    if n_bars not in (2, 16):
        raise ValueError(f"n_bars must be 2 or 16, got {n_bars}")
    n_steps = n_bars * STEPS_PER_BAR
    notes, t = [], 0
    for pitch, dur in TWINKLE_VERSE + _PHRASE_A:
        if t >= n_steps:
            break
        notes.append((pitch, t, min(t + dur, n_steps)))
        t += dur
    return notes_to_events(np.array(notes), n_steps)


def twinkle_posterior(encode_fn, n_bars: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Encode the tune with ``encode_fn(events (1, T)) -> (mu, sigma)`` each (1, n_dims).

    Returns
    -------
    mu, sigma : np.ndarray, shape=(n_dims,)
    """
    mu, sigma = encode_fn(twinkle_events(n_bars)[None, :])
    return np.asarray(mu, dtype=float).reshape(-1), np.asarray(sigma, dtype=float).reshape(-1)


def twinkle_table(mu, sigma, population_mu, population_sigma=None, music_mask=None, order=None) -> pd.DataFrame:
    """Twinkle's mu and sigma per dim against the population.

    Parameters
    ----------
    mu, sigma : array-like, shape=(n_dims,)
        Twinkle's posterior (e.g. ``encode_fn(twinkle_events(2)[None])`` row 0).
    population_mu : array-like, shape=(n_samples, n_dims)
    population_sigma : array-like, shape=(n_samples, n_dims), optional
    music_mask : array-like of bool, shape=(n_dims,), optional
    order : array-like of int, optional
        Latent indices of the music neurons, rank 1 first (``NeuronProfile.order_``).

    Returns
    -------
    pd.DataFrame
        One row per dim: ``latent_index, rank`` (0 if not ranked), ``twinkle_mu``,
        ``twinkle_sigma``, ``mu_percentile`` (share of the population with a smaller mu, in %,
        ties counted half), ``pop_mean_mu``, ``pop_std_mu``, and when given ``sigma_percentile``,
        ``pop_mean_sigma``, ``music``. Ranked dims first, by rank.
    """
    mu = np.asarray(mu, dtype=float).ravel()
    sigma = np.asarray(sigma, dtype=float).ravel()
    pop = np.asarray(population_mu, dtype=float)
    if pop.ndim != 2 or pop.shape[1] != mu.size or sigma.size != mu.size:
        raise ValueError(f"shapes do not match: mu {mu.shape}, sigma {sigma.shape}, population {pop.shape}")

    def pct(x, col):
        return 100.0 * ((col < x).sum() + 0.5 * (col == x).sum()) / col.size

    n = mu.size
    rank = np.zeros(n, dtype=int)
    if order is not None:
        rank[np.asarray(order, dtype=int)] = np.arange(1, len(order) + 1)
    df = pd.DataFrame({
        "latent_index": np.arange(n), "rank": rank, "twinkle_mu": mu, "twinkle_sigma": sigma,
        "mu_percentile": [pct(mu[d], pop[:, d]) for d in range(n)],
        "pop_mean_mu": pop.mean(axis=0), "pop_std_mu": pop.std(axis=0),
    })
    if population_sigma is not None:
        ps = np.asarray(population_sigma, dtype=float)
        df["sigma_percentile"] = [pct(sigma[d], ps[:, d]) for d in range(n)]
        df["pop_mean_sigma"] = ps.mean(axis=0)
    if music_mask is not None:
        df["music"] = np.asarray(music_mask, dtype=bool)
    key = np.where(rank > 0, rank, n + 1 + np.arange(n))
    return df.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)
