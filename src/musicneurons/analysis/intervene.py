"""Interventions on the latent code: traversals and ablations, model-agnostic.

Everything takes callables, so no model (and no torch) is needed here:

- ``decode_fn(z) -> events``: ``z`` shape=(n, n_dims) float -> events shape=(n, T) int,
  decoded greedily (argmax) by the caller's model.
- ``features_fn(events) -> pd.DataFrame`` shape=(n, n_features), columns feature ids.

Reconstruction accuracy is the per-step accuracy: the fraction of the ``T`` steps of all
windows whose decoded event equals the input event.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

DecodeFn = Callable[[np.ndarray], np.ndarray]
FeaturesFn = Callable[[np.ndarray], pd.DataFrame]


DECODE_BATCH = 512  # the largest batch the interventions pass to a decode_fn


def _decode(decode_fn: DecodeFn, z: np.ndarray, batch_size: int | None) -> np.ndarray:
    if batch_size is None or z.shape[0] <= batch_size:
        out = np.asarray(decode_fn(z))
    else:
        out = np.concatenate([np.asarray(decode_fn(z[i:i + batch_size]))
                              for i in range(0, z.shape[0], batch_size)])
    if out.ndim != 2 or out.shape[0] != z.shape[0]:
        raise ValueError(f"decode_fn must return events of shape (n, T); got {out.shape} for n={z.shape[0]}")
    return out


def _features(features_fn: FeaturesFn, events: np.ndarray) -> pd.DataFrame:
    f = features_fn(events)
    if not isinstance(f, pd.DataFrame) or len(f) != events.shape[0]:
        raise ValueError("features_fn must return a pandas DataFrame with one row per window")
    f = f.apply(pd.to_numeric, errors="coerce").reset_index(drop=True)
    f.columns = [str(c) for c in f.columns]
    return f


MAX_ROWS_PER_PASS = 8192  # interventions: decode and featurise at most this many rows at a time (memory)


def _blocked_features(make_z, neurons, block: int, decode_fn: DecodeFn, features_fn: FeaturesFn,
                      batch_size: int | None) -> tuple[list[pd.DataFrame], list[np.ndarray]]:
    """Decode and featurise the intervened latents of many neurons in a few large passes instead of one call per
    neuron: ``make_z(ds)`` gives the latents of neurons ``ds``, ``block`` rows each; passes hold at most
    :data:`MAX_ROWS_PER_PASS` rows (at least one neuron). Returns each neuron's feature rows and decoded events.
    This assumes what the interventions assume anyway: a row's greedy decode and its features do not depend on
    the other rows of its batch."""
    per_pass = max(1, MAX_ROWS_PER_PASS // max(block, 1))
    feats, events = [], []
    for k0 in range(0, len(neurons), per_pass):
        ds = neurons[k0:k0 + per_pass]
        ev = _decode(decode_fn, make_z(ds), batch_size)
        f = _features(features_fn, ev)
        for k in range(len(ds)):
            feats.append(f.iloc[k * block:(k + 1) * block].reset_index(drop=True))
            events.append(ev[k * block:(k + 1) * block])
    return feats, events


def reconstruction_accuracy(events_true, events_pred) -> float:
    """Per-step accuracy: fraction of equal events over all windows and steps.

    Parameters
    ----------
    events_true, events_pred : array-like, shape=(n_samples, T)
    """
    a = np.asarray(events_true)
    b = np.asarray(events_pred)
    if a.shape != b.shape:
        raise ValueError(f"events shapes differ: {a.shape} vs {b.shape}")
    return float((a == b).mean())


def zero_dims(mu, mask, value: float = 0.0) -> np.ndarray:
    """A copy of ``mu`` (n, n_dims) with the dims of ``mask`` (n_dims,) set to ``value``."""
    z = np.array(mu, dtype=float)
    z[:, np.asarray(mask, dtype=bool)] = value
    return z


def ablate_noise(events, mu, noise_mask, decode_fn: DecodeFn, value: float = 0.0,
                 batch_size: int | None = DECODE_BATCH, full=None, ablated=None) -> dict:
    """Reconstruction with all noise neurons set to ``value`` (the prior mean 0) vs unablated.

    Parameters
    ----------
    events : array-like, shape=(n_samples, T), the inputs
    mu : array-like, shape=(n_samples, n_dims), their posterior means (decoded as z)
    noise_mask : array-like of bool, shape=(n_dims,)
    full : array-like, shape=(n_samples, T), optional
        ``decode_fn(mu)`` when the caller already has it (else decoded here).
    ablated : array-like, shape=(n_samples, T), optional
        ``decode_fn(zero_dims(mu, noise_mask, value))`` when the caller already has it (else decoded here).

    Returns
    -------
    dict
        ``recon_accuracy_full``, ``recon_accuracy_noise_zeroed``, ``agreement`` (per-step
        accuracy between the two decodes), ``n_samples``, ``n_ablated_dims``, ``ablation_value``.
    """
    ev = np.asarray(events)
    z = np.asarray(mu, dtype=float)
    m = np.asarray(noise_mask, dtype=bool)
    if ev.shape[0] != z.shape[0] or m.shape != (z.shape[1],):
        raise ValueError(f"events {ev.shape}, mu {z.shape} and noise_mask {m.shape} do not match")
    full = _decode(decode_fn, z, batch_size) if full is None else np.asarray(full)
    if full.shape != ev.shape:
        raise ValueError(f"full decode {full.shape} does not match events {ev.shape}")
    abl = _decode(decode_fn, zero_dims(z, m, value), batch_size) if ablated is None else np.asarray(ablated)
    if abl.shape != ev.shape:
        raise ValueError(f"ablated decode {abl.shape} does not match events {ev.shape}")
    return {"recon_accuracy_full": reconstruction_accuracy(ev, full),
            "recon_accuracy_noise_zeroed": reconstruction_accuracy(ev, abl),
            "agreement": reconstruction_accuracy(full, abl),
            "n_samples": int(ev.shape[0]), "n_ablated_dims": int(m.sum()), "ablation_value": float(value),
            "accuracy": "per-step accuracy over all windows and steps, greedy decode of mu"}


class Traversal:
    """Response curves: sweep one neuron over its observed range, others held at each melody's mu.

    Parameters
    ----------
    n_values : int
        Grid points per neuron.
    quantiles : (float, float)
        The range swept is these quantiles of the neuron's mu over the population.
    batch_size : int or None
        Largest batch passed to ``decode_fn``.
    sweep : {"population", "prior"}
        "population": the ``quantiles`` of the neuron's mu over the population (its observed range);
        "prior": the ``quantiles`` of the prior N(0, 1) -- the range a music neuron with Var(mu) ~ 1 sweeps,
        for dims whose mu barely moves (the noise-dim null).

    Attributes
    ----------
    grid_ : dict
        latent index -> np.ndarray of swept values, shape=(n_values,).
    response_ : pd.DataFrame
        Long table: ``latent_index, step, value, feature, mean, std, n`` (features averaged
        over melodies; NaN features ignored).
    effect_ : pd.DataFrame, shape=(n_neurons, n_features)
        Range (max - min) of the mean response curve divided by the std of the feature over the
        unmodified decodes of the melodies (NaN when that std is 0).
    settings_ : dict
    """

    def __init__(self, n_values: int = 9, quantiles=(0.01, 0.99), batch_size: int | None = DECODE_BATCH,
                 sweep: str = "population"):
        self.n_values = n_values
        self.quantiles = quantiles
        self.batch_size = batch_size
        self.sweep = sweep

    def fit(self, mu, neurons, decode_fn: DecodeFn, features_fn: FeaturesFn, population_mu=None):
        """Traverse each neuron.

        Parameters
        ----------
        mu : array-like, shape=(n_melodies, n_dims)
            The melodies' posterior means (the held values).
        neurons : sequence of int
            Latent indices to traverse.
        population_mu : array-like, shape=(n_samples, n_dims), optional
            Data whose quantiles set the swept range (default ``mu``).
        """
        if self.sweep not in ("population", "prior"):
            raise ValueError(f"sweep must be 'population' or 'prior', got {self.sweep!r}")
        from scipy.special import ndtri

        mu = np.asarray(mu, dtype=float)
        pop = mu if population_mu is None else np.asarray(population_mu, dtype=float)
        n = mu.shape[0]
        base = _features(features_fn, _decode(decode_fn, mu, self.batch_size))
        base_std = base.std(axis=0, ddof=0)
        self.grid_, rows, effect = {}, [], {}
        neurons = np.asarray(neurons, dtype=int)
        for d in neurons:
            lo_hi = ndtri(np.asarray(self.quantiles, float)) if self.sweep == "prior" else \
                np.quantile(pop[:, d], self.quantiles)
            self.grid_[int(d)] = np.linspace(*lo_hi, self.n_values)

        def sweeps(ds):  # the sweeps of neurons ds, one block of n_values x n rows each
            z = np.repeat(mu[None], len(ds) * self.n_values, axis=0)  # (len(ds) * n_values, n, n_dims)
            for k, d in enumerate(ds):
                z[k * self.n_values:(k + 1) * self.n_values, :, d] = self.grid_[int(d)][:, None]
            return z.reshape(-1, mu.shape[1])

        block = self.n_values * n
        feats, _ = _blocked_features(sweeps, neurons, block, decode_fn, features_fn, self.batch_size)
        for d, f in zip(neurons, feats):
            grid = self.grid_[int(d)]
            step = np.repeat(np.arange(grid.size), n)
            g = f.groupby(step)
            mean, std, cnt = g.mean(), g.std(ddof=0), g.count()
            steps = np.arange(grid.size)
            cols = np.asarray(f.columns, dtype=object)
            rows.append(pd.DataFrame({  # one row per (step, feature), steps outer
                "latent_index": np.full(grid.size * cols.size, int(d), np.int64),
                "step": np.repeat(steps, cols.size), "value": np.repeat(grid.astype(float), cols.size),
                "feature": np.tile(cols, grid.size),
                "mean": mean.loc[steps, f.columns].to_numpy(float).ravel(),
                "std": std.loc[steps, f.columns].to_numpy(float).ravel(),
                "n": cnt.loc[steps, f.columns].to_numpy(np.int64).ravel()}))
            with np.errstate(invalid="ignore", divide="ignore"):
                rng = (mean.max(axis=0) - mean.min(axis=0)) / base_std.reindex(mean.columns).replace(0, np.nan)
            effect[int(d)] = rng
        columns = ["latent_index", "step", "value", "feature", "mean", "std", "n"]
        self.response_ = (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns))[columns]
        self.effect_ = pd.DataFrame(effect).T.rename_axis("latent_index")
        self.settings_ = {"n_values": self.n_values, "quantiles": list(self.quantiles),
                          "sweep": ("quantiles of the prior N(0, 1)" if self.sweep == "prior"
                                    else "quantiles of the neuron's mu over the population"),
                          "n_melodies": int(n), "decode": "caller's decode_fn (greedy)",
                          "effect": "range of the mean response / std of the feature over unmodified decodes"}
        return self

    def curve(self, latent_index: int, feature: str) -> pd.DataFrame:
        """The response curve of one (neuron, feature): columns value, mean, std, n."""
        r = self.response_
        return r[(r.latent_index == int(latent_index)) & (r.feature == str(feature))][["value", "mean", "std", "n"]] \
            .reset_index(drop=True)


class NeuronAblation:
    """Set one music neuron at a time to ``value`` (prior mean 0) and measure which features move.

    Attributes
    ----------
    effect_ : pd.DataFrame, shape=(n_neurons, n_features)
        Mean |feature(ablated) - feature(full)| over melodies divided by the std of the feature
        over the full decodes (standardised mean absolute change).
    shift_ : pd.DataFrame, shape=(n_neurons, n_features)
        Mean signed change, in feature units.
    changed_ : pd.Series
        Per neuron the fraction of decoded steps that changed.
    settings_ : dict
    """

    def __init__(self, value: float = 0.0, batch_size: int | None = DECODE_BATCH):
        self.value = value
        self.batch_size = batch_size

    def fit(self, mu, neurons, decode_fn: DecodeFn, features_fn: FeaturesFn):
        """Ablate each neuron in ``neurons`` on the melodies ``mu`` (n_melodies, n_dims)."""
        mu = np.asarray(mu, dtype=float)
        full_ev = _decode(decode_fn, mu, self.batch_size)
        full = _features(features_fn, full_ev)
        std = full.std(axis=0, ddof=0).replace(0, np.nan)
        eff, shift, changed = {}, {}, {}
        neurons = np.asarray(neurons, dtype=int)
        n = mu.shape[0]

        def ablated(ds):  # one block of n rows per neuron in ds, that neuron set to the value
            z = np.repeat(mu[None], len(ds), axis=0)
            z[np.arange(len(ds)), :, ds] = self.value
            return z.reshape(-1, mu.shape[1])

        feats, events = _blocked_features(ablated, neurons, n, decode_fn, features_fn, self.batch_size)
        for d, f, ev in zip(neurons, feats, events):
            diff = f - full
            eff[int(d)] = diff.abs().mean(axis=0) / std
            shift[int(d)] = diff.mean(axis=0)
            changed[int(d)] = float((ev != full_ev).mean())
        self.effect_ = pd.DataFrame(eff).T.rename_axis("latent_index")
        self.shift_ = pd.DataFrame(shift).T.rename_axis("latent_index")
        self.changed_ = pd.Series(changed, name="fraction_steps_changed").rename_axis("latent_index")
        self.settings_ = {"ablation_value": self.value, "n_melodies": int(mu.shape[0]),
                          "effect": "mean |delta feature| / std of the feature over full decodes"}
        return self

    def moved_features(self, latent_index: int, min_effect: float = 0.1) -> pd.Series:
        """Features whose standardised change exceeds ``min_effect``, largest first."""
        s = self.effect_.loc[int(latent_index)].dropna()
        return s[s > min_effect].sort_values(ascending=False)
