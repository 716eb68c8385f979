"""Chance baselines for the associations the analysis states: a permutation null and an untrained model.

Two references, both torch-free (arrays in, dicts out):

1. **Permutation null** (:class:`PhikPermutationNull`): the rows of the feature table are shuffled across windows
   (one seeded permutation of all rows at once, so the features keep their correlations among themselves) and the
   neuron x feature φK is recomputed for every analysed neuron and every feature; per neuron the *best* φK over
   the features is kept, which is the statistic the summary states ("the top feature of neuron d"), so the null
   accounts for picking the best of ~50 features. Its 99th percentile over the permutations (``q99_``) is the
   chance level a neuron's stated association must clear.
   The same shuffles give each neuron's null of its best |Spearman ρ| (:func:`best_abs_spearman_permuted`,
   one matrix product per shuffle), the chance level of the ρ the report prints beside each φK.

   One pass per permutation: both sides are binned once, exactly as
   :func:`~musicneurons.analysis.correlate.bin_uniform` (phik's interval binning); a shuffle only changes the
   2-D histograms, which for all neuron x feature pairs at once are counted in one compiled pass over the rows
   (:func:`permuted_tables`, shuffles in parallel, exact counts). phik's chi2
   (Pearson, dependent frequency estimates, Yates' correction on 2 x 2 tables as scipy applies it), its noise
   pedestal ``(r - 1)(c - 1)`` of the non-empty table and its chi2 -> ρ map follow
   :mod:`~musicneurons.analysis.bivariate`; the map ``ρ -> (chi2 - pedestal) / (chi2_max - pedestal)`` depends
   only on the table's shape, so it is tabulated once per shape on a grid of ``RHO_GRID`` values of ρ and
   inverted by interpolation (in the square root of the chi2 fraction, which is linear in ρ near 0) instead of
   one root-finding per table: within ~1e-4 of :func:`~musicneurons.analysis.correlate.phik_rect` (tested).

2. **Untrained model** (:func:`untrained_baseline`): the posterior of the *same architecture* with Magenta's
   initial weights (seeded, never trained) on the same real windows is passed through the same steps as the
   trained model's: the sigma rule (:class:`~musicneurons.analysis.NeuronProfile`, same threshold setting), the
   ranking, the best-feature φK of its top ``n_top`` (30) dims, the median |Pearson r| among them, and the
   disentanglement metrics on as many dims as the trained model's analysed music neurons. An untrained encoder
   is a fixed random function of the input, so its codes already correlate with simple input statistics (note
   density, register): the trained model's associations mean something only where they beat it.

3. **Metrics under shuffled features** (:func:`metrics_permutation_null`): MIG, SAP, DCI and Interpretability of
   the same codes against the features permuted across windows (few shuffles: each is a full metrics pass).

``summary["<key>"]["baselines"]`` (written by :func:`baselines_summary`; the explorer reads it)::

    {"permutation": {"n_permutations": int, "statistic": str, "quantile": 0.99,
                     "best_phik_q99": float,            # median over the analysed neurons of their q99
                     "best_phik_q99_max": float,        # the largest per-neuron q99
                     "best_phik_null_median": float,    # median of all null best-φK values
                     "best_abs_spearman_q99": float,    # the same for the best |Spearman ρ| (same shuffles)
                     "best_abs_spearman_q99_max": float,
                     "n_neurons": int, "n_features": int, "n_samples": int, "seconds": float,
                     "per_neuron": [{"latent_index", "q99", "null_median", "null_max", "spearman_q99"}, ...]},
     "untrained": {"init": str, "seed": int, "n_dims": int,
                   "n_music_neurons": int, "sigma_threshold": float, "sigma_threshold_rule": str,
                   "ranked_among": "music neurons" | "all dims", "n_top": int,
                   "median_best_phik_top": float, "n_best_phik_ge_0.5": int, "best_phik_top": [float, ...],
                   "top_dims": [{"rank", "latent_index", "top_feature", "top_phik", "category"}, ...],
                   "top_feature_counts": {feature: n}, "median_abs_pearson_top": float,
                   "metrics": {mig, sap, dci_*, ...} | None, "metrics_n_dims": int | None},
     "trained": {"n_top": int, "median_best_phik_top": float, "n_best_phik_ge_0.5": int,
                 "median_abs_pearson_top": float, "metrics": {...} | None,
                 "median_best_abs_spearman": float | None, "median_best_mi": float | None},
     "metrics_null": {"n_permutations", "values", "max", "mean", "best_mi_null_median", "best_mi_null_max",
                      "shuffle", "seconds"} | None,   # metrics_permutation_null
     "per_neuron": {"<latent index>": q99, ...},       # the chance level per neuron (read by the explorer)
     "rule": str}                                      # how labels are gated

and per music neuron in ``summary["<key>"]["music_neurons"]``: ``top_phik_null_q99`` (its q99, None when not
analysed), ``clears_null`` (``top_phik > top_phik_null_q99``; None without a null), ``untrained_feature_phik``
(the best φK any of the untrained model's top dims reaches with the same feature), ``category`` (P/R/M, None
when the neuron does not clear the null), ``category_raw`` (the ungated label), ``best_abs_spearman``,
``spearman_null_q99`` and ``clears_spearman_null``.
"""

from __future__ import annotations

import time
import warnings
from functools import lru_cache
from typing import Mapping

import numpy as np
import pandas as pd

from .._numba import njit, prange
from .correlate import _nan_groups, _rank_columns, bin_column, constant_columns, nominal_mask

N_PERMUTATIONS = 200  # the pipeline's default (Settings.n_permutations)
NULL_QUANTILE = 0.99
N_TOP = 30  # dims compared between the trained and the untrained model
STRONG_PHIK = 0.5  # "count >= 0.5" in the comparison
RHO_GRID = 1001
UNTRAINED_INIT = ("MusicVAE(cfg) with Magenta's initial weights (MusicVAE.reset_parameters: glorot LSTM/dense "
                  "kernels, N(0, 0.001) mu/sigma/initial-state kernels, zero biases, forget bias 1), never trained")


# --------------------------------------------------------------------------- fast phik of many tables
@lru_cache(maxsize=256)
def _g_curve(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """(sqrt(g(ρ)), ρ) on a grid, g = the chi2 fraction of phik's binned bivariate normal for an nx x ny table
    (phik's ``chi2(ρ) = pedestal + (chi2_max - pedestal) g(ρ)``), with g(0) = 0 and g(1) = 1."""
    from .bivariate import _chi2_sums, _grid

    one = _grid(nx, ny)[3]
    u = np.linspace(0.0, 1.0, RHO_GRID)
    rho = 1.0 - (1.0 - u) ** 2  # denser towards 1, where g is steep
    S = _chi2_sums(rho[1:-1], nx, ny)
    g = np.concatenate([[0.0], S / one, [1.0]])
    g = np.maximum.accumulate(np.clip(g, 0.0, 1.0))  # monotone for np.interp
    return np.sqrt(g), rho


@njit(cache=True, parallel=True)
def _table_chi2(H):  # pragma: no cover - compiled
    """Pearson chi2 against independence of each table of H (m, nx, ny) (expected counts from the margins, empty
    rows and columns ignored, Yates' correction when the non-empty table is 2 x 2, as scipy's chi2_contingency),
    its total and its non-empty rows and columns: four arrays (m,)."""
    m, nx, ny = H.shape
    chi2 = np.zeros(m)
    tot = np.zeros(m)
    r_eff = np.zeros(m, np.int64)
    c_eff = np.zeros(m, np.int64)
    for t in prange(m):
        R = np.zeros(nx)
        C = np.zeros(ny)
        for a in range(nx):
            for b in range(ny):
                R[a] += H[t, a, b]
                C[b] += H[t, a, b]
        n = 0.0
        for a in range(nx):
            n += R[a]
            if R[a] > 0:
                r_eff[t] += 1
        for b in range(ny):
            if C[b] > 0:
                c_eff[t] += 1
        tot[t] = n
        if n <= 0:
            continue
        yates = r_eff[t] == 2 and c_eff[t] == 2
        s = 0.0
        for a in range(nx):
            for b in range(ny):
                e = R[a] * C[b] / n
                if e > 0:
                    o = H[t, a, b]
                    if yates:
                        d = e - o
                        o += min(0.5, abs(d)) * np.sign(d)
                    s += (o - e) ** 2 / e
        chi2[t] = s
    return chi2, tot, r_eff, c_eff


def phik_from_tables(H: np.ndarray, noise_correction: bool = True) -> np.ndarray:
    """phik of many 2-D histograms at once (the same value as :func:`.bivariate.phik_from_hist2d` of each
    table with its empty rows and columns removed, to ~1e-4).

    Parameters
    ----------
    H : np.ndarray, shape=(..., nx, ny)
        Counts. Empty rows/columns are ignored, as phik's groupby drops them.

    Returns
    -------
    np.ndarray, shape=H.shape[:-2]
        NaN where a table has fewer than 2 non-empty rows or columns.
    """
    H = np.asarray(H)
    shape = H.shape[:-2]
    H = np.ascontiguousarray(H.reshape(-1, *H.shape[-2:]), dtype=np.float32 if H.dtype == np.float32 else float)
    chi2, n, r_eff, c_eff = _table_chi2(H)
    out = np.full(H.shape[0], np.nan)
    ok = (r_eff >= 2) & (c_eff >= 2)
    ped = ((r_eff - 1) * (c_eff - 1)).astype(float) if noise_correction else np.zeros(H.shape[0])
    chi2_max = n * (np.minimum(r_eff, c_eff) - 1)
    shape_code = np.where(ok, r_eff * 1000 + c_eff, -1)
    for code in np.unique(shape_code[ok]):
        a, b = int(code) // 1000, int(code) % 1000
        m = shape_code == code
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (chi2[m] - ped[m]) / (chi2_max[m] - ped[m])
        sg, rho = _g_curve(a, b)
        v = np.interp(np.sqrt(np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)), sg, rho)
        v = np.where(chi2[m] <= ped[m], 0.0, v)
        v = np.where(chi2[m] >= chi2_max[m], 1.0, v)
        out[m] = v
    return out.reshape(shape)


def _binned(A: np.ndarray, bins: int, nominal=None) -> tuple[np.ndarray, int]:
    """Bin indices of every column (nominal ones one bin per category) and the widest column's bin count."""
    if not A.shape[1]:
        return np.zeros((A.shape[0], 0), np.int64), bins
    nom = np.zeros(A.shape[1], bool) if nominal is None else np.asarray(nominal, bool)
    cols = [bin_column(A[:, j], bins, nom[j]) for j in range(A.shape[1])]
    return np.stack([c[0] for c in cols], axis=1), max([bins] + [c[1] for c in cols])


@njit(cache=True, parallel=True)
def _count_permuted(bx_t, by_perm, H, s0):  # pragma: no cover - compiled
    """Adds to H[s0 + s] (k, nf, n_bx, n_by) the counts of bx_t (k, n), the codes' bin indices, against by_perm[s]
    (n, nf), the shuffled features' bin indices. One task per (shuffle, code): its nf tables stay in cache while
    the rows stream past."""
    B, n, nf = by_perm.shape
    k = bx_t.shape[0]
    for t in prange(B * k):
        s = t // k
        a = t % k
        xs = bx_t[a]
        ys = by_perm[s]
        for i in range(n):
            xa = xs[i]
            if xa < 0:
                continue
            for j in range(nf):
                yb = ys[i, j]
                if yb >= 0:
                    H[s0 + s, a, j, xa, yb] += 1.0


PERMUTED_ROWS_BYTES = 2 ** 25  # permuted_tables: at most this many bytes of shuffled feature bins at a time


def permuted_tables(bx: np.ndarray, by: np.ndarray, perms: np.ndarray, n_bx: int, n_by: int) -> np.ndarray:
    """The 2-D histograms of every (column of ``bx``, column of ``by``) pair when row ``i`` of ``bx`` is paired with
    row ``perms[s, i]`` of ``by``, for every shuffle ``s``: one pass over the rows per shuffle (compiled, shuffles
    in parallel), exact counts.

    Parameters
    ----------
    bx : np.ndarray, shape=(n, k), bin indices in ``[0, n_bx)``, -1 = missing
    by : np.ndarray, shape=(n, nf), bin indices in ``[0, n_by)``, -1 = missing
    perms : np.ndarray, shape=(B, n)

    Returns
    -------
    np.ndarray, shape=(B, k, nf, n_bx, n_by), float32 counts
    """
    bx_t = np.ascontiguousarray(np.asarray(bx, np.int16).T)
    by = np.asarray(by, np.int16)
    perms = np.asarray(perms, np.int64)
    n, nf = by.shape
    H = np.zeros((perms.shape[0], bx_t.shape[0], nf, int(n_bx), int(n_by)), np.float32)
    step = max(1, PERMUTED_ROWS_BYTES // max(1, 2 * n * nf))  # shuffles whose permuted feature bins are held at once
    for s0 in range(0, perms.shape[0], step):
        _count_permuted(bx_t, np.ascontiguousarray(by[perms[s0:s0 + step]]), H, s0)
    return H


def phik_tables_rect(X, Y, bins: int = 10, perm: np.ndarray | None = None, noise_correction: bool = True,
                     y_nominal=None):
    """phik of every column of X against every column of Y (rows of Y taken in the order ``perm``), through the
    null's table counts (:func:`permuted_tables`); shape (n_x, n_y). The fast counterpart of
    ``phik_rect(X, Y, y_nominal=...)[0]``."""
    bx, _ = _binned(np.asarray(X, float), bins)
    by, wy = _binned(np.asarray(Y, float), bins, y_nominal)
    order = np.arange(bx.shape[0]) if perm is None else np.asarray(perm)
    return phik_from_tables(permuted_tables(bx, by, order[None], bins, wy)[0], noise_correction)


def best_abs_spearman_permuted(X, Y, perms, max_block_bytes: int = 2 ** 27) -> np.ndarray:
    """Per shuffle and per column of X, the best |Spearman ρ| over the columns of the shuffled feature table.

    Pairing ``X[i]`` with ``Y[p[i]]``: the features are ranked once within their non-missing rows (average
    ranks), X once over all rows, and every shuffle is one matrix product of X's centred ranks with the
    gathered feature ranks (zero where a feature is missing); the norm of X's ranks over each shuffle's kept
    rows comes from its few missing rows. Where nothing is missing this is exactly
    ``np.nanmax(np.abs(spearman_rect(X, Y[p])), axis=1)``; a feature missing on some rows is paired with X's
    ranks over all rows instead of re-ranked within the kept rows, which moves ρ slightly (without bias): by up
    to ~3e-3 with 10 % missing (tested), ~1e-2 with 50 % and ~3e-2 with 80 % (n = 500; the default features
    miss at most 6 % of the windows).

    Parameters
    ----------
    X : array-like, shape=(n, k)
    Y : array-like, shape=(n, m), NaN = missing
    perms : np.ndarray, shape=(B, n)
        Row ``i`` of shuffle ``b`` is ``Y[perms[b, i]]``.

    Returns
    -------
    np.ndarray, shape=(B, k), NaN where no feature gives a defined ρ.
    """
    X = np.asarray(X, float)
    Y = np.asarray(Y, float)
    perms = np.asarray(perms)
    B, n = perms.shape
    k = X.shape[1]
    best = np.full((B, k), -1.0)
    if not k or not Y.shape[1] or not B or n < 3:
        return np.full((B, k), np.nan)
    rx = _rank_columns(X)
    rx -= rx.mean(axis=0)
    s1, s2 = rx.sum(axis=0), (rx ** 2).sum(axis=0)  # (k,): sums over all rows (s1 = 0 up to rounding)
    groups = []
    for m, cols in _nan_groups(Y):
        if m.sum() < 3:
            continue
        ry = _rank_columns(Y[m][:, cols])
        ry -= ry.mean(axis=0)
        ny = np.sqrt((ry ** 2).sum(axis=0))
        ok = ny > 0
        if ok.any():
            full = np.zeros((n, int(ok.sum())))
            full[m] = ry[:, ok] / ny[ok]
            groups.append((m, full))
    if not groups:
        return np.full((B, k), np.nan)
    ry_all = np.concatenate([g[1] for g in groups], axis=1)  # (n, m_ok), centred, unit norm over kept rows
    widths = [g[1].shape[1] for g in groups]
    per = max(1, int(max_block_bytes // max(ry_all.nbytes, 1)))
    inv = np.argsort(perms, axis=1)  # inv[b, s]: the row of X paired with feature row s
    for b0 in range(0, B, per):
        bs = range(b0, min(B, b0 + per))
        num = rx.T @ np.concatenate([ry_all[perms[b]] for b in bs], axis=1)  # (k, len(bs) * m_ok)
        num = num.reshape(k, len(bs), -1)
        for j, b in enumerate(bs):
            c0 = 0
            for (m, _), w in zip(groups, widths):
                if m.all():
                    ss = s2 - s1 ** 2 / n
                else:
                    miss = rx[inv[b, ~m]]  # (q, k) X's ranks paired with the missing feature rows
                    n_kept = n - miss.shape[0]
                    ss = (s2 - (miss ** 2).sum(axis=0)) - (s1 - miss.sum(axis=0)) ** 2 / n_kept
                with np.errstate(invalid="ignore", divide="ignore"):
                    r = np.abs(num[:, j, c0:c0 + w]) / np.sqrt(ss)[:, None]
                r[~np.isfinite(r)] = -1.0
                best[b] = np.maximum(best[b], r.max(axis=1))
                c0 += w
    best[best < 0] = np.nan
    return best


class RowShuffler:
    """Shuffles of ``n`` rows: ``shuffler(rng)`` is a permutation ``perm``, row ``i`` of the data paired with row
    ``perm[i]`` of the features.

    Without ``groups``, a uniform permutation. With ``groups`` (the source file of each row), whole sources are
    exchanged: the sources with the same number of rows are permuted among themselves and the rows of source A
    are paired, in order, with those of the source B it is paired with. Windows of one file are not independent
    (they share key, register, tempo), so shuffling single windows breaks that dependence on one side only and
    gives a null that is too narrow; exchanging sources keeps it on both sides. The grouping is computed once,
    each shuffle only draws."""

    def __init__(self, n: int, groups=None):
        self.n = int(n)
        self.blocks = None
        if groups is None:
            return
        g = np.asarray(groups)
        if g.shape[0] != n:
            raise ValueError(f"groups has {g.shape[0]} rows, the data {n}")
        _, codes = np.unique(g, return_inverse=True)
        order = np.argsort(codes, kind="stable")  # rows grouped by source, in their order within it
        counts = np.bincount(codes)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        # per source size: (rows of each source of that size, one source per row of the matrix)
        self.blocks = [order[starts[counts == size][:, None] + np.arange(size)] for size in np.unique(counts)]

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        if self.blocks is None:
            return rng.permutation(self.n)
        perm = np.empty(self.n, dtype=np.int64)
        for rows in self.blocks:
            perm[rows.ravel()] = rows[rng.permutation(rows.shape[0])].ravel()
        return perm


def shuffle_rows(n: int, rng: np.random.Generator, groups=None) -> np.ndarray:
    """One shuffle of :class:`RowShuffler` (``RowShuffler(n, groups)(rng)``)."""
    return RowShuffler(n, groups)(rng)


def _clean_features(features: pd.DataFrame, names=None) -> pd.DataFrame:
    f = features.copy()
    f.columns = [str(c) for c in f.columns]
    f = f.apply(pd.to_numeric, errors="coerce").replace([np.inf, -np.inf], np.nan)
    if names is not None:
        return f[list(names)]
    return f.drop(columns=constant_columns(f))


# --------------------------------------------------------------------------- the permutation null
class PhikPermutationNull:
    """Per neuron the null distribution of its best-feature φK under features shuffled across windows.

    Parameters
    ----------
    n_permutations : int
    bins : int
        phik bins per column (as the correlation).
    quantile : float
        The chance level reported per neuron (0.99).
    noise_correction : bool
    random_state : int
    nominal : sequence of str, optional
        Feature ids binned one bin per category (default the catalog's nominal features), as the correlation.

    Attributes
    ----------
    neurons_ : np.ndarray, latent indices (the columns given)
    feature_names_ : list of str
    null_ : np.ndarray, shape=(n_permutations, n_neurons), best φK over the features per permutation
    q99_ : pd.Series, per latent index the ``quantile`` of ``null_``
    spearman_null_ : np.ndarray, shape=(n_permutations, n_neurons), best |Spearman ρ| over the features on the
        same shuffles (:func:`best_abs_spearman_permuted`)
    spearman_q99_ : pd.Series, per latent index the ``quantile`` of ``spearman_null_``
    settings_ : dict
    """

    def __init__(self, n_permutations: int = N_PERMUTATIONS, bins: int = 10, quantile: float = NULL_QUANTILE,
                 noise_correction: bool = True, random_state: int = 0, nominal=None):
        self.nominal = nominal
        self.n_permutations = n_permutations
        self.bins = bins
        self.quantile = quantile
        self.noise_correction = noise_correction
        self.random_state = random_state

    def fit(self, mu, features: pd.DataFrame, neurons=None, feature_names=None, max_block_cells: int = 2 ** 24,
            groups=None):
        """``mu`` (n_samples, n_dims), ``features`` as for :class:`~musicneurons.analysis.NeuronFeatureCorrelation`
        (constant columns dropped unless ``feature_names`` lists the ones to use); with ``groups`` (the source of
        each window) the shuffles exchange whole sources (:class:`RowShuffler`)."""
        t0 = time.time()
        mu = np.asarray(mu, dtype=float)
        if len(features) != mu.shape[0]:
            raise ValueError(f"mu has {mu.shape[0]} rows but features has {len(features)}")
        self.neurons_ = np.arange(mu.shape[1]) if neurons is None else np.asarray(neurons, dtype=int)
        f = _clean_features(features, feature_names)
        self.feature_names_ = list(f.columns)
        n, k, nf, b = mu.shape[0], self.neurons_.size, len(self.feature_names_), self.bins
        bx = _binned(mu[:, self.neurons_], b)[0]
        nom = nominal_mask(self.feature_names_, self.nominal)
        by, wy = _binned(f.to_numpy(dtype=float), b, nom)  # nominal features: one bin per category
        rng = np.random.default_rng(self.random_state)
        self.null_ = np.full((self.n_permutations, k), np.nan)
        self.spearman_null_ = np.full((self.n_permutations, k), np.nan)
        if k and nf:
            shuffle = RowShuffler(n, groups)
            perms = np.stack([shuffle(rng) for _ in range(self.n_permutations)]) if self.n_permutations else None
            per = max(1, int(max_block_cells // (k * nf * b * wy)))  # shuffles per block of 2-D histograms
            p = 0
            while p < self.n_permutations:
                m = min(per, self.n_permutations - p)
                H = permuted_tables(bx, by, perms[p:p + m], b, wy)  # (m, k, nf, b, wy)
                ph = phik_from_tables(H, self.noise_correction)  # (m, k, nf)
                with np.errstate(all="ignore"):
                    self.null_[p:p + m] = np.where(np.isnan(ph).all(axis=2), np.nan,
                                                   np.nanmax(np.nan_to_num(ph, nan=-1.0), axis=2))
                p += m
            if self.n_permutations:  # the same shuffles, Spearman's best |ρ| (as the correlation's cross-check)
                self.spearman_null_ = best_abs_spearman_permuted(mu[:, self.neurons_], f.to_numpy(dtype=float), perms)
        idx = pd.Index([int(d) for d in self.neurons_], name="latent_index")

        def q99(null):
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
                return (np.nanquantile(null, self.quantile, axis=0) if self.n_permutations and k
                        else np.full(k, np.nan))

        self.q99_ = pd.Series(q99(self.null_), index=idx)
        self.spearman_q99_ = pd.Series(q99(self.spearman_null_), index=idx)
        self.seconds_ = round(time.time() - t0, 2)
        self.settings_ = {
            "n_permutations": int(self.n_permutations), "quantile": self.quantile,
            "shuffle": ("whole sources exchanged among sources with as many windows (their windows paired in "
                        "order; windows of one file are not independent)" if groups is not None else
                        "rows of the feature table permuted across windows")
                       + " (one seeded permutation of all features at once), neurons fixed",
            "statistic": "per neuron the best phik over the features (the top feature's phik)",
            "spearman_statistic": "per neuron the best |Spearman rho| over the features, on the same shuffles "
                                  "(average ranks, pairwise-complete rows, as the correlation's cross-check)",
            "phik": f"{b} uniform bins per column, nominal features one bin per category (as the correlation), "
                    f"noise correction {self.noise_correction}, "
                    f"2-D histograms counted in one compiled pass per shuffle, chi2 -> rho by interpolation on "
                    f"{RHO_GRID} rho values",
            "random_state": self.random_state, "n_features": nf, "n_samples": int(n),
        }
        return self

    def summary(self) -> dict:
        null = self.null_
        per = []
        for j, d in enumerate(self.neurons_):
            col = null[:, j]
            col = col[np.isfinite(col)]
            rq = float(self.spearman_q99_.iloc[j])
            per.append({"latent_index": int(d), "q99": float(self.q99_.iloc[j]) if col.size else None,
                        "null_median": float(np.median(col)) if col.size else None,
                        "null_max": float(col.max()) if col.size else None,
                        "spearman_q99": rq if np.isfinite(rq) else None})
        q = self.q99_.to_numpy(dtype=float)
        rq = self.spearman_q99_.to_numpy(dtype=float)
        fin = np.isfinite(null)

        def agg(f, v):
            return float(f(v)) if np.isfinite(v).any() else None

        return {"n_permutations": int(self.n_permutations), "quantile": self.quantile,
                "statistic": self.settings_["statistic"],
                "spearman_statistic": self.settings_["spearman_statistic"],
                "best_phik_q99": agg(np.nanmedian, q), "best_phik_q99_max": agg(np.nanmax, q),
                "best_abs_spearman_q99": agg(np.nanmedian, rq), "best_abs_spearman_q99_max": agg(np.nanmax, rq),
                "best_phik_null_median": float(np.median(null[fin])) if fin.any() else None,
                "n_neurons": int(self.neurons_.size), "n_features": len(self.feature_names_),
                "n_samples": self.settings_["n_samples"], "seconds": self.seconds_, "per_neuron": per}


# --------------------------------------------------------------------------- the metrics under shuffled features
NULL_METRICS = ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness", "interpretability")


def metrics_permutation_null(codes, factors, factor_names=None, n_permutations: int = 1, random_state: int = 0,
                             mi_neighbors: int = 3, mi_max_samples: int | None = 2000, groups=None) -> dict:
    """The disentanglement metrics of the same codes against the factors shuffled across windows.

    Each shuffle permutes the rows of ``factors`` (one seeded permutation of all factors at once, its own stream
    ``[random_state, 11]``) and recomputes :func:`~musicneurons.analysis.metrics.disentanglement_report` as the
    trained analysis does: with ``mi_max_samples``, Interpretability reads a kNN MI table
    (:func:`~musicneurons.analysis.correlate.mutual_info_rect`, ``mi_neighbors``) of the shuffled factors, as
    the trained side reads the correlation's cross-check; that table also gives the null of each code's best
    MI over the factors. The Gaussian total correlation depends on the codes only and has no such null.
    Each shuffle costs one full metrics pass (DCI's boosting, kNN MI): a few seconds to tens of seconds.

    Parameters
    ----------
    codes : array-like, shape=(n_samples, n_codes)
    factors : array-like, shape=(n_samples, n_factors)

    Returns
    -------
    dict
        ``summary["<key>"]["baselines"]["metrics_null"]``: ``n_permutations``, ``values`` (per metric the
        list over shuffles), ``max`` and ``mean`` per metric, ``best_mi_null_median`` / ``best_mi_null_max``
        (per code the best MI over the factors, max over shuffles; median and max over codes; None without
        the MI table), ``shuffle``, ``seconds``.
    """
    from .correlate import mutual_info_rect
    from .metrics import disentanglement_report

    t0 = time.time()
    codes = np.asarray(codes, float)
    factors = np.asarray(factors, float)
    rng = np.random.default_rng([random_state, 11])
    values = {k: [] for k in NULL_METRICS}
    best_mi = []
    shuffle = RowShuffler(factors.shape[0], groups)
    for _ in range(int(n_permutations)):
        f = factors[shuffle(rng)]
        interp = {"random_state": random_state}
        if mi_max_samples is not None:
            mi = mutual_info_rect(codes, f, mi_neighbors, mi_max_samples, random_state)
            interp.update(mi_table=mi, mi_table_source=f"kNN MI of the shuffled factors, n_neighbors={mi_neighbors}, "
                                                       f"at most {mi_max_samples} windows")
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                best_mi.append(np.nanmax(mi, axis=1))
        rep = disentanglement_report(codes, f, factor_names=factor_names, dci_kwargs={"random_state": random_state},
                                     interpretability_kwargs=interp)
        for k in NULL_METRICS:
            values[k].append(float(rep[k]) if rep[k] is not None and np.isfinite(rep[k]) else None)

    def agg(fn, v):
        v = [x for x in v if x is not None]
        return float(fn(v)) if v else None

    per_code = np.nanmax(np.stack(best_mi), axis=0) if best_mi else None
    fin = per_code[np.isfinite(per_code)] if per_code is not None else np.zeros(0)
    return {"n_permutations": int(n_permutations), "values": values,
            "max": {k: agg(max, v) for k, v in values.items()}, "mean": {k: agg(np.mean, v) for k, v in values.items()},
            "best_mi_null_median": float(np.median(fin)) if fin.size else None,
            "best_mi_null_max": float(fin.max()) if fin.size else None,
            "shuffle": ("whole sources exchanged among sources with as many windows" if groups is not None else
                        "rows of the factor table permuted across windows")
                       + f" (one seeded permutation of all factors at once, stream [{random_state}, 11]), codes "
                       "fixed; every metric recomputed as for the trained codes",
            "seconds": round(time.time() - t0, 2)}


# --------------------------------------------------------------------------- the untrained model
def _top_stats(phik: pd.DataFrame, mu_top: np.ndarray) -> dict:
    best = phik.max(axis=1, skipna=True).to_numpy(dtype=float)
    fin = best[np.isfinite(best)]
    if mu_top.shape[1] > 1:
        with np.errstate(all="ignore"):
            r = np.corrcoef(mu_top, rowvar=False)
        off = np.abs(r[~np.eye(r.shape[0], dtype=bool)])
        med_r = float(np.nanmedian(off)) if np.isfinite(off).any() else None
    else:
        med_r = None
    return {"n_top": int(phik.shape[0]),
            "median_best_phik_top": float(np.median(fin)) if fin.size else None,
            f"n_best_phik_ge_{STRONG_PHIK}": int((fin >= STRONG_PHIK).sum()),
            "best_phik_top": [float(v) if np.isfinite(v) else None for v in best],
            "median_abs_pearson_top": med_r}


def trained_reference(mu, phik: pd.DataFrame, order, n_top: int = N_TOP, metrics: dict | None = None,
                      spearman: pd.DataFrame | None = None, mi: pd.DataFrame | None = None) -> dict:
    """The trained model's side of the comparison: the same statistics over its top ``n_top`` ranked music
    neurons (``phik`` indexed by latent index, e.g. ``NeuronFeatureCorrelation.phik_``); with the correlation's
    ``spearman`` / ``mi`` tables also the median over the analysed neurons of each one's best |ρ| / MI (the
    statistics the permutation nulls give per neuron)."""
    top = [int(d) for d in np.asarray(order)[:n_top] if int(d) in phik.index]
    s = _top_stats(phik.loc[top], np.asarray(mu, float)[:, top])
    s.pop("best_phik_top")
    for name, table, fn in (("median_best_abs_spearman", spearman, np.abs), ("median_best_mi", mi, None)):
        best = (table.abs() if fn else table).max(axis=1, skipna=True).to_numpy(float) if table is not None else None
        s[name] = float(np.nanmedian(best)) if best is not None and np.isfinite(best).any() else None
    s["metrics"] = ({k: v for k, v in metrics.items() if k not in ("settings", "per_factor")} if metrics else None)
    return s


def untrained_baseline(mu, sigma, features: pd.DataFrame, categories: Mapping[str, str], *,
                       sigma_threshold="auto", order_by: str = "var_mu", phik_bins: int = 10, n_top: int = N_TOP,
                       feature_names=None, metrics: bool = False, metrics_n_dims: int | None = None,
                       random_state: int = 0, seed: int | None = None, mi_neighbors: int = 3,
                       mi_max_samples: int | None = None) -> tuple[dict, pd.DataFrame]:
    """The untrained model's posterior through the trained model's steps (see the module docstring).

    With ``mi_max_samples``, the metrics' Interpretability picks each factor's code from the kNN MI table
    :func:`~musicneurons.analysis.correlate.mutual_info_rect` (``mi_neighbors``, at most ``mi_max_samples``
    windows) — the estimator the trained side reads from its correlation cross-check — instead of its own
    kNN MI on 5000 windows.

    Returns
    -------
    summary : dict
        ``summary["<key>"]["baselines"]["untrained"]``.
    phik : pd.DataFrame, shape=(n_top, n_features)
        Its top dims x features φK (rows by latent index, rank order).
    """
    from .correlate import NeuronFeatureCorrelation
    from .neurons import NeuronProfile

    mu = np.asarray(mu, dtype=float)
    prof = NeuronProfile(sigma_threshold=sigma_threshold, order_by=order_by, n_bootstrap=0,
                         random_state=random_state).fit(mu, sigma)
    if prof.n_music_ >= n_top:
        ranked, among = prof.order_, "music neurons"
    else:  # fewer music neurons than compared dims: rank every dim by the same key
        key = {"var_mu": -prof.var_mu_, "mean_sigma": prof.mean_sigma_, "kl": -prof.kl_}[order_by]
        ranked, among = np.argsort(key, kind="stable"), "all dims"
    top = ranked[:n_top]
    feats = _clean_features(features, feature_names)
    c = NeuronFeatureCorrelation(bins=phik_bins, significance=False, cross_checks=False,
                                 random_state=random_state).fit(mu, feats, categories, top)
    stats = _top_stats(c.phik_, mu[:, top])
    dims = []
    for rank, d in enumerate(top, start=1):
        f, v = c.top_feature(int(d))
        dims.append({"rank": rank, "latent_index": int(d), "top_feature": f, "top_phik": v,
                     "category": c.dominant_category_.get(int(d))})
    counts = pd.Series([m["top_feature"] for m in dims if m["top_feature"]]).value_counts()
    m_out, m_dims = None, None
    if metrics:
        from .metrics import disentanglement_report

        m_dims = int(min(metrics_n_dims or n_top, ranked.size))
        if m_dims > 1:
            codes, fac = mu[:, ranked[:m_dims]], feats.to_numpy(dtype=float)
            interp = {"random_state": random_state}
            if mi_max_samples is not None:
                from .correlate import mutual_info_rect

                interp.update(mi_table=mutual_info_rect(codes, fac, mi_neighbors, mi_max_samples, random_state),
                              mi_table_source=f"kNN MI, n_neighbors={mi_neighbors}, at most {mi_max_samples} "
                                              "windows, as the trained model's cross-check")
            rep = disentanglement_report(codes, fac, factor_names=list(feats.columns),
                                         dci_kwargs={"random_state": random_state}, interpretability_kwargs=interp)
            m_out = {k: v for k, v in rep.items() if k not in ("settings", "per_factor")}
    out = {"init": UNTRAINED_INIT, "seed": seed, "n_dims": int(prof.n_dims_), "n_music_neurons": int(prof.n_music_),
           "sigma_threshold": float(prof.sigma_threshold_), "sigma_threshold_rule": prof.threshold_rule_["rule"],
           "ranked_among": among, "order_by": order_by, **stats, "top_dims": dims,
           "top_feature_counts": {str(k): int(v) for k, v in counts.items()},
           "metrics": m_out, "metrics_n_dims": m_dims}
    return out, c.phik_


def baselines_summary(null: PhikPermutationNull | None, untrained: dict | None, trained: dict | None,
                      metrics_null: dict | None = None) -> dict:
    """``summary["<key>"]["baselines"]`` (shape in the module docstring)."""
    out = {"permutation": null.summary() if null is not None else None, "untrained": untrained, "trained": trained,
           "metrics_null": metrics_null}
    if null is not None:
        out["per_neuron"] = {str(int(d)): (float(v) if np.isfinite(v) else None) for d, v in null.q99_.items()}
        out["rule"] = (f"a neuron's concept label (P/R/M) is given only when its best phik is above the "
                       f"{int(null.quantile * 100)}th percentile of its permutation null "
                       f"({null.n_permutations} shuffles of the features across windows, best over "
                       f"{len(null.feature_names_)} features)")
    return out
