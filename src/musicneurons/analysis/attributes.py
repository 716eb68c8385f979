"""Attribute vectors (MusicVAE paper, Roberts et al. 2018): mean mu of the inputs in a
feature's top quartile minus the mean mu of its bottom quartile.

For each feature: the vector, its cosine with every latent axis, and how well the projection
of mu on the (unit) vector predicts the feature, compared with the best single neuron. To be
fair to both, the vector and the choice of best neuron are fitted on a random half of the
inputs and both are scored on the other half (``test_size``). Scores: |Spearman rho| and the
R^2 of a 1-D least-squares line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._numba import njit, prange
from .correlate import constant_columns, spearman_rect


def attribute_vector(mu, values, quantile: float = 0.25) -> np.ndarray:
    """Mean mu of rows with ``values >= q(1-quantile)`` minus rows with ``values <= q(quantile)``.

    Parameters
    ----------
    mu : array-like, shape=(n_samples, n_dims)
    values : array-like, shape=(n_samples,), NaN rows ignored

    Returns
    -------
    np.ndarray, shape=(n_dims,)
    """
    mu = np.asarray(mu, dtype=float)
    v = np.asarray(values, dtype=float)
    ok = ~np.isnan(v)
    if not ok.any():
        return np.full(mu.shape[1], np.nan)
    lo, hi = np.quantile(v[ok], [quantile, 1 - quantile])
    top, bot = ok & (v >= hi), ok & (v <= lo)
    if lo == hi or not top.any() or not bot.any():
        return np.full(mu.shape[1], np.nan)
    w = top / top.sum() - bot / bot.sum()  # one mat-vec, no copies of mu
    return w @ mu


def _abs_spearman(x, y) -> float:
    from scipy.stats import spearmanr

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(abs(spearmanr(x, y).statistic))


def _tie_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x``'s stable argsort and the first sorted position of each run of equal values (with ``n`` appended)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    return order, np.r_[starts, x.size].astype(np.int64)


@njit(cache=True)
def _resampled_ranks(order, starts, w, out):  # pragma: no cover - compiled
    """Average ranks (as ``scipy.stats.rankdata``) within one resample drawn with counts ``w`` (n,), from the counts
    alone: a tie group's copies share the mean of the positions they fill. Writes ``out`` (n,) in the original
    order; returns how many distinct values were drawn."""
    before = 0.0
    distinct = 0
    for g in range(starts.size - 1):
        total = 0.0
        for s in range(starts[g], starts[g + 1]):
            total += w[order[s]]
        r = before + (total + 1.0) / 2.0
        for s in range(starts[g], starts[g + 1]):
            out[order[s]] = r
        before += total
        if total > 0:
            distinct += 1
    return distinct


@njit(cache=True, parallel=True)
def _bootstrap_abs_spearman_kernel(x_order, x_starts, y_order, y_starts, counts):  # pragma: no cover - compiled
    B, n = counts.shape
    out = np.zeros(B)
    for b in prange(B):
        w = counts[b].astype(np.float64)
        rx = np.empty(n)
        ry = np.empty(n)
        dx = _resampled_ranks(x_order, x_starts, w, rx)
        dy = _resampled_ranks(y_order, y_starts, w, ry)
        if dx < 2 or dy < 2:
            continue
        m = w.sum()
        mx = (w * rx).sum() / m
        my = (w * ry).sum() / m
        sxy = sxx = syy = 0.0
        for i in range(n):
            cx, cy = rx[i] - mx, ry[i] - my
            sxy += w[i] * cx * cy
            sxx += w[i] * cx * cx
            syy += w[i] * cy * cy
        out[b] = abs(sxy / np.sqrt(sxx * syy))
    return out


def _bootstrap_abs_spearman(xs, y: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """|Spearman ρ| of each ``x`` in ``xs`` with ``y`` in every bootstrap resample given by ``counts``
    (n_resamples, n): the value of ``_abs_spearman(x[i], y[i])`` for the drawn indices ``i`` (Pearson r of
    average ranks, weighted by the counts; to ~1e-12, tested), 0 where either side is constant in the resample.
    One compiled pass per ``x``, resamples in parallel. One array of shape (n_resamples,) per ``x``."""
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    y_order, y_starts = _tie_groups(np.asarray(y, float))
    return [_bootstrap_abs_spearman_kernel(*_tie_groups(np.asarray(x, float)), y_order, y_starts, counts)
            for x in xs]


def _r2_line(x, y) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1] ** 2)


class AttributeVectors:
    """Attribute vectors per feature and the paper's comparison with single neurons.

    Parameters
    ----------
    quantile : float
        Fraction defining the top and bottom groups (0.25: quartiles).
    test_size : float
        Held-out fraction used to score projection vs best neuron.
    random_state : int

    Attributes
    ----------
    vectors_ : pd.DataFrame, shape=(n_features, n_dims)
        Attribute vectors fitted on all inputs; columns are latent indices.
    cosine_ : pd.DataFrame, shape=(n_features, n_dims)
        Cosine of each vector with each latent axis (``v_d / ||v||``).
    comparison_ : pd.DataFrame
        Per feature: ``top_axis`` (largest |cosine|), ``top_axis_cosine``, ``vector_norm``,
        ``projection_spearman``, ``best_neuron``, ``best_neuron_spearman``, ``projection_r2``,
        ``best_neuron_r2`` (held-out), ``diff_lo`` / ``diff_hi`` (bootstrap ``ci`` interval of vector |rho|
        minus neuron |rho| over held-out resamples) and ``winner``: ``attribute_vector`` / ``single_neuron`` when
        the interval excludes 0, ``tie`` when it does not (without a bootstrap: the larger point estimate).
    dropped_constant_ : list of str
    settings_ : dict
    """

    def __init__(self, quantile: float = 0.25, test_size: float = 0.5, n_bootstrap: int = 200, ci: float = 0.95,
                 random_state: int = 0):
        self.quantile = quantile
        self.test_size = test_size
        self.n_bootstrap = n_bootstrap
        self.ci = ci
        self.random_state = random_state

    def fit(self, mu, features: pd.DataFrame, neurons=None):
        """Fit attribute vectors.

        Parameters
        ----------
        mu : array-like, shape=(n_samples, n_dims)
        features : pd.DataFrame, shape=(n_samples, n_features)
        neurons : sequence of int, optional
            Latent indices to use (e.g. all dims, or the music neurons). Default all.
        """
        mu = np.asarray(mu, dtype=float)
        if len(features) != mu.shape[0]:
            raise ValueError(f"mu has {mu.shape[0]} rows but features has {len(features)}")
        self.neurons_ = np.arange(mu.shape[1]) if neurons is None else np.asarray(neurons, dtype=int)
        X = mu[:, self.neurons_]
        feats = features.apply(pd.to_numeric, errors="coerce").replace([np.inf, -np.inf], np.nan)
        feats.columns = [str(c) for c in feats.columns]
        self.dropped_constant_ = constant_columns(feats)
        feats = feats.drop(columns=self.dropped_constant_)
        cols = pd.Index([int(n) for n in self.neurons_], name="latent_index")
        vec = np.vstack([attribute_vector(X, feats[f], self.quantile) for f in feats.columns]) \
            if feats.shape[1] else np.zeros((0, X.shape[1]))
        norm = np.linalg.norm(vec, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = vec / norm
        self.vectors_ = pd.DataFrame(vec, index=feats.columns, columns=cols)
        self.cosine_ = pd.DataFrame(cos, index=feats.columns, columns=cols)

        rng = np.random.default_rng(self.random_state)
        perm = rng.permutation(X.shape[0])
        n_test = int(round(self.test_size * X.shape[0]))
        test, train = perm[:n_test], perm[n_test:]
        Y = feats.to_numpy(dtype=float)
        Xtr, Xte = X[train], X[test]
        sp_train_all = np.abs(spearman_rect(Xtr, Y[train])) if Y.shape[1] else np.zeros((X.shape[1], 0))
        boot_rng = np.random.default_rng(self.random_state + 1)
        rows = []
        for j, f in enumerate(feats.columns):
            ytr, yte = Y[train, j], Y[test, j]
            ok_te = ~np.isnan(yte)
            row = {"feature": f, "vector_norm": float(norm[j, 0])}
            c = cos[j]
            if np.all(np.isnan(c)):
                row.update(top_axis=None, top_axis_cosine=np.nan)
            else:
                a = int(np.nanargmax(np.abs(c)))
                row.update(top_axis=int(self.neurons_[a]), top_axis_cosine=float(c[a]))
            v = attribute_vector(Xtr, ytr, self.quantile)
            if np.any(np.isnan(v)) or np.linalg.norm(v) == 0 or ok_te.sum() < 3:
                row.update(projection_spearman=np.nan, projection_r2=np.nan, best_neuron=None,
                           best_neuron_spearman=np.nan, best_neuron_r2=np.nan, winner=None)
                rows.append(row)
                continue
            proj = (Xte @ (v / np.linalg.norm(v)))[ok_te]
            b = int(np.nanargmax(np.nan_to_num(sp_train_all[:, j], nan=-1.0)))
            xb, y = Xte[ok_te, b], yte[ok_te]
            ps, bs = _abs_spearman(proj, y), _abs_spearman(xb, y)
            lo = hi = np.nan
            if self.n_bootstrap:
                counts = np.stack([np.bincount(boot_rng.integers(0, y.size, y.size), minlength=y.size)
                                   for _ in range(self.n_bootstrap)])
                rho_proj, rho_best = _bootstrap_abs_spearman((proj, xb), y, counts)
                diffs = rho_proj - rho_best
                a_ = (1 - self.ci) / 2
                lo, hi = np.quantile(diffs, [a_, 1 - a_])
                winner = "attribute_vector" if lo > 0 else "single_neuron" if hi < 0 else "tie"
            else:
                winner = "attribute_vector" if ps > bs else "single_neuron"
            row.update(projection_spearman=ps, projection_r2=_r2_line(proj, y),
                       best_neuron=int(self.neurons_[b]), best_neuron_spearman=bs,
                       best_neuron_r2=_r2_line(xb, y), diff_lo=float(lo), diff_hi=float(hi), winner=winner)
            rows.append(row)
        self.comparison_ = pd.DataFrame(rows, columns=[
            "feature", "top_axis", "top_axis_cosine", "vector_norm", "projection_spearman",
            "best_neuron", "best_neuron_spearman", "projection_r2", "best_neuron_r2", "diff_lo", "diff_hi", "winner"])
        for col in ("top_axis", "best_neuron"):
            self.comparison_[col] = self.comparison_[col].astype("Int64")
        self.settings_ = {"quantile": self.quantile, "test_size": self.test_size,
                          "groups": f"top: feature >= q{1 - self.quantile:g}, bottom: feature <= q{self.quantile:g}",
                          "scores": "held-out |Spearman rho| and R^2 of a 1-D line; best neuron chosen "
                                    "by |Spearman| on the training half",
                          "winner": (f"{self.ci:.0%} bootstrap interval ({self.n_bootstrap} resamples of the held-out "
                                     "windows) of vector |rho| - neuron |rho|: a side wins only when the interval "
                                     "excludes 0, else tie") if self.n_bootstrap else "larger held-out |rho|",
                          "dropped_constant_features": list(self.dropped_constant_)}
        return self
