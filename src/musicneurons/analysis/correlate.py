"""Correlations: music neuron x music neuron, and neuron x symbolic feature.

The primary measure is phik (Baak et al. 2020, the ``phik`` library). ``phik_matrix`` only
computes the full square matrix of every column pair; here the rectangular latents x features
block is computed directly: each column is binned exactly as ``phik.binning.bin_edges`` does
for an interval column (``bins`` uniform bins from min to max), the 2-D contingency table is a
``np.bincount``, empty rows/columns are dropped (as phik's groupby does) and the value comes
from phik's ``phik_from_hist2d`` steps (its chi2, noise pedestal and solver) with exact bivariate-normal cell
probabilities (:mod:`.bivariate`: phik's scipy >= 1.16 integrator is quasi-Monte Carlo, slower and tied to the
order of calls). This equals ``phik_matrix(df, interval_cols=all, bins=bins)`` cell by cell to ~1e-8 (tested).

Significance of each phik cell is phik's *asymptotic* test: the G statistic
(``lambda_="log-likelihood"``) of the same contingency table against independence, with
``ndof = (rows-1)(cols-1)`` of the non-empty table, as in
``phik.significance.significance_from_hist2d(..., significance_method="asymptotic")``.
It is cheap; phik's default "hybrid" method adds Monte-Carlo simulations and is not used.

Cross-checks: Spearman's rho (exact, pairwise-complete rows) and kNN mutual information
(Kraskov et al., ``sklearn.feature_selection.mutual_info_regression``, ``n_neighbors`` = 3,
on a random subsample of at most ``mi_max_samples`` = 2000 rows; nats).
"""

from __future__ import annotations

import sys
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._numba import njit, prange


CATEGORIES = ("P", "R", "M")


# --------------------------------------------------------------------------- binning
def bin_uniform(x, bins: int = 10) -> tuple[np.ndarray, int]:
    """Bin one column exactly as phik bins an interval column.

    Parameters
    ----------
    x : array-like, shape=(n_samples,)
    bins : int
        Number of uniform bins between the minimum and maximum of the finite values.

    Returns
    -------
    idx : np.ndarray, shape=(n_samples,), int64
        Bin index in ``0..bins-1``; ``-1`` for NaN.
    n_bins : int
        ``bins`` (or 0 if ``x`` has no finite value).
    """
    x = np.asarray(x, dtype=float)
    ok = ~np.isnan(x)
    idx = np.full(x.shape, -1, dtype=np.int64)
    if not ok.any():
        return idx, 0
    lo, hi = np.min(x[ok]), np.max(x[ok])
    constant = max(1e-14 * abs(lo), sys.float_info.min)
    edges = np.linspace(lo - constant, hi, bins + 1)
    idx[ok] = np.searchsorted(edges, x[ok]) - 1
    return idx, bins


def bin_nominal(x) -> tuple[np.ndarray, int]:
    """Bin a nominal column as phik bins a categorical one: one bin per distinct finite value (sorted order).

    Returns ``idx`` (n_samples,), int64, ``-1`` for NaN, and the number of bins."""
    x = np.asarray(x, dtype=float)
    ok = ~np.isnan(x)
    idx = np.full(x.shape, -1, dtype=np.int64)
    if not ok.any():
        return idx, 0
    values, inv = np.unique(x[ok], return_inverse=True)
    idx[ok] = inv.ravel()
    return idx, int(values.size)


def bin_column(x, bins: int = 10, nominal: bool = False) -> tuple[np.ndarray, int]:
    """:func:`bin_nominal` for a nominal column, else :func:`bin_uniform`."""
    return bin_nominal(x) if nominal else bin_uniform(x, bins)


def nominal_mask(names, nominal=None) -> np.ndarray:
    """Which of the feature ids ``names`` are nominal: ``nominal`` ids, or the catalog's
    :data:`~musicneurons.features.catalog.NOMINAL_FEATURES` when None."""
    if nominal is None:
        from ..features.catalog import NOMINAL_FEATURES as nominal
    nominal = set(map(str, nominal))
    return np.array([str(n) in nominal for n in names], dtype=bool)


def contingency(ix: np.ndarray, iy: np.ndarray, nx: int, ny: int) -> np.ndarray:
    """2-D histogram of two binned columns, rows with a -1 dropped, empty rows/cols removed.

    Returns
    -------
    np.ndarray, shape=(n_nonempty_x, n_nonempty_y), float
    """
    ok = (ix >= 0) & (iy >= 0)
    h = np.bincount(ix[ok] * ny + iy[ok], minlength=nx * ny).reshape(nx, ny).astype(float)
    return h[h.sum(axis=1) > 0][:, h.sum(axis=0) > 0]


def phik_cells(tables, noise_correction: bool = True, significance: bool = True):
    """phik, and phik's asymptotic p-value and Z, of each contingency table in ``tables`` (2-D counts with empty
    rows and columns removed). A table with fewer than 2 rows or columns gives NaN.

    The values of ``phik_from_hist2d`` and ``significance_from_hist2d(h, "log-likelihood", "asymptotic")`` per
    table (tested), computed together: the phik solves of all tables of one shape run as one batched brentq
    (:func:`.bivariate.phik_from_hist2d_many`) and the p-values as one ``chdtrc`` call.

    Returns
    -------
    phik, pvalue, z : np.ndarray, each shape=(len(tables),)
    """
    import math

    from scipy import special

    from .bivariate import chi2_dependent, phik_from_hist2d_many

    m = len(tables)
    out = np.full((3, m), np.nan)
    ok = [k for k, h in enumerate(tables) if min(np.shape(h)) >= 2]
    if not ok:
        return out[0], out[1], out[2]
    hs = [np.asarray(tables[k], dtype=float) for k in ok]
    out[0, ok] = phik_from_hist2d_many(hs, noise_correction=noise_correction)
    if significance:
        # phik's significance_from_chi2_ndof: chi2.sf(G, ndof) (= chdtrc) and Z = -norm.ppf(p) (= -ndtri),
        # with its Chernoff bound where p underflows to 0
        g = np.array([chi2_dependent(h, lambda_="log-likelihood") for h in hs])
        ndof = np.array([h.size - sum(h.shape) + h.ndim - 1 for h in hs], dtype=float)
        p = special.chdtrc(ndof, np.maximum(g, 0.0))  # G rounds below 0 on huge near-independent tables: p = 1
        z = -special.ndtri(p)
        for k in np.flatnonzero(p == 0):
            zz = g[k] / ndof[k]
            u = -math.log(2 * math.pi) - ndof[k] * math.log(zz) + ndof[k] * (zz - 1)
            z[k] = math.sqrt(u - math.log(u))
        out[1, ok], out[2, ok] = p, z
    return out[0], out[1], out[2]


def phik_rect(X, Y, bins: int = 10, noise_correction: bool = True, significance: bool = True,
              progress: bool = False, y_nominal=None):
    """phik between every column of ``X`` (interval) and every column of ``Y`` (interval, or nominal where
    ``y_nominal`` is True: one bin per category).

    Parameters
    ----------
    X : array-like, shape=(n_samples, n_x)
    Y : array-like, shape=(n_samples, n_y)
        May hold NaN; those rows are dropped pairwise.
    bins : int
        Uniform bins per column (phik's ``bins`` for interval columns).
    noise_correction : bool
        phik's noise pedestal correction.
    significance : bool
        Also compute the asymptotic G-test p-value and Z per cell.
    progress : bool
        Show a tqdm bar over the rows of the result.

    Returns
    -------
    phik, pvalue, z : np.ndarray, each shape=(n_x, n_y)
        ``pvalue`` and ``z`` are NaN when ``significance`` is False. A cell is NaN when either
        column has fewer than two occupied bins.
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must be 2-D with the same rows, got {X.shape} and {Y.shape}")
    bx = [bin_uniform(X[:, i], bins) for i in range(X.shape[1])]
    nom = np.zeros(Y.shape[1], bool) if y_nominal is None else np.asarray(y_nominal, bool)
    by = [bin_column(Y[:, j], bins, nom[j]) for j in range(Y.shape[1])]
    out = np.full((3, X.shape[1], Y.shape[1]), np.nan)
    rows = enumerate(bx)
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, total=len(bx), desc="phik tables", unit="neuron")
    cells, tables = [], []
    for i, (ix, nx) in rows:
        for j, (iy, ny) in enumerate(by):
            if nx and ny:
                cells.append((i, j))
                tables.append(contingency(ix, iy, nx, ny))
    if cells:
        ii, jj = np.array(cells).T
        out[:, ii, jj] = np.stack(phik_cells(tables, noise_correction, significance))
    return out[0], out[1], out[2]


def phik_square(X, bins: int = 10, noise_correction: bool = True) -> np.ndarray:
    """Symmetric phik matrix among the columns of ``X`` (diagonal 1), shape=(n_x, n_x)."""
    X = np.asarray(X, dtype=float)
    n = X.shape[1]
    b = [bin_uniform(X[:, i], bins) for i in range(n)]
    out = np.eye(n)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if pairs:
        values = phik_cells([contingency(b[i][0], b[j][0], b[i][1], b[j][1]) for i, j in pairs], noise_correction,
                            significance=False)[0]
        ii, jj = np.array(pairs).T
        out[ii, jj] = out[jj, ii] = values
    return out


# ------------------------------------------------------------------ cross-checks
def _nan_groups(Y: np.ndarray):
    """Group the columns of Y by their NaN pattern: yields (row_mask, column_indices)."""
    groups: dict[bytes, list[int]] = {}
    masks: dict[bytes, np.ndarray] = {}
    for j in range(Y.shape[1]):
        m = ~np.isnan(Y[:, j])
        key = np.packbits(m).tobytes()
        groups.setdefault(key, []).append(j)
        masks[key] = m
    for key, cols in groups.items():
        yield masks[key], cols


def _pearson_block(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    A = A - A.mean(axis=0)
    B = B - B.mean(axis=0)
    na = np.sqrt((A**2).sum(axis=0))
    nb = np.sqrt((B**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (A.T @ B) / np.outer(na, nb)
    r[~np.isfinite(r)] = np.nan
    return r


@njit(cache=True, parallel=True)
def _argsort_columns(A):  # pragma: no cover - compiled
    """The argsort of every column of A (n, p): (p, n)."""
    n, p = A.shape
    out = np.empty((p, n), np.int64)
    for j in prange(p):
        out[j] = np.argsort(A[:, j])
    return out


@njit(cache=True, parallel=True)
def _subset_average_ranks(A, order, rows):  # pragma: no cover - compiled
    """Average ranks (``scipy.stats.rankdata``'s "average": a run of equal values shares the mean of the 1-based
    positions it fills) of every column of ``A[rows]``, from each column's argsort over all rows ``order`` (p, n):
    a walk through the sorted column skipping the rows not in ``rows`` (bool, n). Equal values are adjacent in any
    sort, so ties need no stable order. Returns (rows.sum(), p) in the order of the kept rows."""
    n, p = A.shape
    pos = np.cumsum(rows) - 1  # a kept row's index among the kept rows
    out = np.empty((pos[-1] + 1 if n else 0, p))
    for j in prange(p):
        o = order[j]
        done = 0  # kept rows already ranked
        s = 0
        while s < n:
            e = s + 1
            while e < n and A[o[e], j] == A[o[s], j]:
                e += 1
            cnt = 0
            for t in range(s, e):
                cnt += rows[o[t]]
            if cnt:
                r = done + 1 + (cnt - 1) / 2.0
                for t in range(s, e):
                    if rows[o[t]]:
                        out[pos[o[t]], j] = r
                done += cnt
            s = e
    return out


def _rank_columns(A: np.ndarray, rows: np.ndarray | None = None, order: np.ndarray | None = None) -> np.ndarray:
    """Average ranks of each column of ``A[rows]`` (all rows by default), the values of
    ``scipy.stats.rankdata(A[rows], axis=0)`` (tested equal), from one compiled sort per column (``order``, the
    columns' argsort over all rows, when the caller has it: ranking several row subsets of one matrix then sorts
    once). A column with NaN goes to scipy (its NaN policy)."""
    A = np.asarray(A, dtype=float)
    keep = np.ones(A.shape[0], bool) if rows is None else np.asarray(rows, bool)
    if A.size == 0 or np.isnan(A).any():
        from scipy.stats import rankdata

        return rankdata(A[keep], axis=0)
    A = np.ascontiguousarray(A)
    return _subset_average_ranks(A, _argsort_columns(A) if order is None else order, keep)


def _correlate_rect(X, Y, transform=None, x_rows=None) -> np.ndarray:
    """Pearson r of (optionally transformed) columns of X and Y, NaN rows of Y dropped per column group.
    ``x_rows(mask)``: X's transformed rows of one group, when the caller has a faster way than
    ``transform(X[mask])``."""
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    out = np.full((X.shape[1], Y.shape[1]), np.nan)
    if X.shape[1] == 0 or Y.shape[1] == 0:
        return out
    t = transform or (lambda A: A)
    xt = x_rows or (lambda m: t(X[m]))
    for m, cols in _nan_groups(Y):
        if m.sum() >= 3:
            out[:, cols] = _pearson_block(xt(m), t(Y[m][:, cols]))
    return out


def pearson_rect(X, Y) -> np.ndarray:
    """Pearson r between columns of X and Y, NaN rows of Y dropped pairwise. shape=(n_x, n_y)."""
    return _correlate_rect(X, Y)


def spearman_rect(X, Y) -> np.ndarray:
    """Spearman rho (average ranks for ties) between columns of X and Y, NaN rows of Y dropped per column group
    (X is sorted once and ranked on each group's rows). shape=(n_x, n_y)."""
    X = np.ascontiguousarray(X, dtype=float)
    order = _argsort_columns(X) if X.size and not np.isnan(X).any() else None
    return _correlate_rect(X, Y, _rank_columns, x_rows=lambda m: _rank_columns(X, m, order))


@njit(cache=True)
def _count_within_sorted(v, c, r):  # pragma: no cover - compiled
    """``#{j : |v[j] - c| <= r}`` for sorted ``v``, as a KD-tree's radius count: a binary search for each bound,
    then the bounds moved by the exact test (rounding of ``c ± r`` can put the search one element off)."""
    n = v.size
    lo = np.searchsorted(v, c - r, side="left")
    while lo > 0 and abs(v[lo - 1] - c) <= r:
        lo -= 1
    while lo < n and v[lo] < c and abs(v[lo] - c) > r:
        lo += 1
    hi = np.searchsorted(v, c + r, side="right")
    while hi < n and abs(v[hi] - c) <= r:
        hi += 1
    while hi > lo and v[hi - 1] > c and abs(v[hi - 1] - c) > r:
        hi -= 1
    return hi - lo


@njit(cache=True, parallel=True)
def _ksg_counts(x_sorted, x_order, y, y_sorted, k):  # pragma: no cover - compiled
    """KSG-1 marginal counts of every column of X with y. x_sorted, x_order: (p, n) each column of X sorted and
    its argsort; y, y_sorted: (n,). Per point: the Chebyshev distance to its k-th neighbour in (x, y) (a sweep
    outwards in x order, stopped once |dx| exceeds the k-th best), a radius just below it, and the number of other
    points within it in x and in y. Returns nx, ny: (p, n) in the original row order."""
    p, n = x_sorted.shape
    nx = np.empty((p, n), np.int64)
    ny = np.empty((p, n), np.int64)
    for i in prange(p):
        xs = x_sorted[i]
        order = x_order[i]
        ys = y[order]
        best = np.empty(k)
        for s in range(n):
            x0 = xs[s]
            y0 = ys[s]
            m = 0
            lft = s - 1
            rgt = s + 1
            while lft >= 0 or rgt < n:
                dl = x0 - xs[lft] if lft >= 0 else np.inf
                dr = xs[rgt] - x0 if rgt < n else np.inf
                if dl <= dr:
                    dx = dl
                    idx = lft
                    lft -= 1
                else:
                    dx = dr
                    idx = rgt
                    rgt += 1
                if m == k and dx > best[k - 1]:
                    break
                d = max(dx, abs(ys[idx] - y0))
                if m < k:
                    q = m
                    m += 1
                elif d < best[k - 1]:
                    q = k - 1
                else:
                    continue
                while q > 0 and best[q - 1] > d:  # insertion into the k best, ascending
                    best[q] = best[q - 1]
                    q -= 1
                best[q] = d
            radius = np.nextafter(best[k - 1], 0.0)
            nx[i, order[s]] = _count_within_sorted(xs, x0, radius) - 1
            ny[i, order[s]] = _count_within_sorted(y_sorted, y0, radius) - 1
    return nx, ny


def _ksg_prepare(X, random_state: int):
    """sklearn's scaling and 1e-10 noise of X (unit variance, no centring) and the same stream's next draw for y.
    Returns (X, y_noise): X (n, p), y_noise (n,)."""
    from sklearn.preprocessing import scale

    X = np.array(X, dtype=np.float64)
    n = X.shape[0]
    rng = np.random.RandomState(random_state)
    X = scale(X, with_mean=False, copy=False)
    X += 1e-10 * np.maximum(1, np.mean(np.abs(X), axis=0)) * rng.standard_normal(size=X.shape)
    return X, rng.standard_normal(size=n)


def _ksg_columns(X, Ys, n_neighbors: int, y_noise) -> np.ndarray:
    """MI (nats) of every column of prepared X with every column of Ys (n, q), each y scaled and given the noise
    ``y_noise`` as sklearn does. Returns (p, q)."""
    from scipy.special import digamma
    from sklearn.preprocessing import scale

    n, p = X.shape
    x_order = np.ascontiguousarray(np.argsort(X, axis=0, kind="stable").T)
    x_sorted = np.ascontiguousarray(np.take_along_axis(X, x_order.T, axis=0).T)
    const = digamma(n) + digamma(n_neighbors)
    out = np.empty((p, Ys.shape[1]))
    for j in range(Ys.shape[1]):
        y = scale(np.asarray(Ys[:, j], dtype=np.float64), with_mean=False)
        y = y + 1e-10 * np.maximum(1, np.mean(np.abs(y))) * y_noise
        nx, ny = _ksg_counts(x_sorted, x_order, y, np.sort(y), n_neighbors)
        mi = const - np.mean(digamma(nx + 1), axis=1) - np.mean(digamma(ny + 1), axis=1)
        out[:, j] = np.maximum(mi, 0.0)
    return out


def ksg_mutual_info(X, y, n_neighbors: int = 3, random_state: int = 0) -> np.ndarray:
    """Kraskov (KSG-1) mutual information (nats) of each column of X with y: the same numbers as
    ``sklearn.feature_selection.mutual_info_regression(X, y, n_neighbors=n_neighbors, random_state=random_state)``
    for continuous X and y (tested equal), much faster for many columns.

    As sklearn: X's columns and y are scaled to unit variance (no centring) and get Gaussian noise of 1e-10 x
    max(1, mean |value|) from ``np.random.RandomState(random_state)`` (X first, then y); per column the distance
    to the ``n_neighbors``-th neighbour in the joint (x, y) space (Chebyshev) sets a radius just below it, and
    ``MI = ψ(n) + ψ(k) - <ψ(n_x + 1)> - <ψ(n_y + 1)>`` (clipped at 0) from the marginal counts within it. The
    neighbours and counts come from one compiled pass over all columns (:func:`_ksg_counts`: a sweep in x order
    and binary searches, where sklearn builds three KD-trees per column).

    Parameters
    ----------
    X : array-like, shape=(n_samples, n_columns)
    y : array-like, shape=(n_samples,)

    Returns
    -------
    np.ndarray, shape=(n_columns,)
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if n <= n_neighbors:  # as sklearn: the k-th neighbour of a point needs k other points
        raise ValueError(f"kNN mutual information with n_neighbors={n_neighbors} needs more than {n_neighbors} rows, "
                         f"got {n}")
    Xp, y_noise = _ksg_prepare(X, random_state)
    return _ksg_columns(Xp, np.asarray(y, dtype=np.float64)[:, None], n_neighbors, y_noise)[:, 0]


def mutual_info_rect(X, Y, n_neighbors: int = 3, max_samples: int | None = 5000, random_state: int = 0):
    """kNN mutual information (nats) between columns of X and each column of Y.

    Kraskov estimator (:func:`ksg_mutual_info`, the numbers of sklearn's ``mutual_info_regression``) on at most
    ``max_samples`` randomly chosen rows (with NaN rows of that feature removed).

    Returns
    -------
    np.ndarray, shape=(n_x, n_y)
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    rng = np.random.default_rng(random_state)
    out = np.full((X.shape[1], Y.shape[1]), np.nan)
    if X.shape[1] == 0 or Y.shape[1] == 0:
        return out
    for m, cols in _nan_groups(Y):
        rows = np.flatnonzero(m)
        if max_samples is not None and rows.size > max_samples:
            rows = np.sort(rng.choice(rows, max_samples, replace=False))
        if rows.size <= n_neighbors:  # as ksg_mutual_info (and sklearn): k neighbours need k + 1 rows
            continue
        Xp, y_noise = _ksg_prepare(X[rows], random_state)  # = ksg_mutual_info of each column, X prepared once
        out[:, cols] = _ksg_columns(Xp, Y[np.ix_(rows, cols)], n_neighbors, y_noise)
    return out


# -------------------------------------------------------------------- utilities
def constant_columns(features: pd.DataFrame) -> list[str]:
    """Names of columns with fewer than two distinct non-NaN values."""
    return [str(c) for c in features.columns if features[c].nunique(dropna=True) < 2]


def duplicate_columns(features: pd.DataFrame, tol: float = 1e-9) -> dict[str, str]:
    """``{duplicate: kept}`` for columns that are an affine copy of an earlier column (same NaN pattern and
    |Pearson r| >= 1 - ``tol``): e.g. R24 = R22, a note density per step vs per second. Such a copy has the
    same uniform phik bins (up to reversal) and would count twice in every mean over features."""
    cols = [str(c) for c in features.columns]
    A = features.to_numpy(dtype=float)
    nan = np.isnan(A)
    out: dict[str, str] = {}
    kept: list[int] = []
    for j in range(A.shape[1]):
        ok = ~nan[:, j]
        for i in kept:
            if not np.array_equal(nan[:, i], nan[:, j]) or ok.sum() < 3:
                continue
            a, b = A[ok, i], A[ok, j]
            sa, sb = a.std(), b.std()
            if sa == 0 or sb == 0:
                continue
            r = float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))
            if abs(r) >= 1 - tol:
                out[cols[j]] = cols[i]
                break
        else:
            kept.append(j)
    return out


def neuron_correlations(mu, neurons: Sequence[int] | None = None, bins: int = 10) -> dict[str, pd.DataFrame]:
    """Pearson and phik among music neurons.

    Parameters
    ----------
    mu : array-like, shape=(n_samples, n_dims)
    neurons : sequence of int, optional
        Latent indices to use (e.g. ``profile.order_``); default all columns.

    Returns
    -------
    dict
        ``pearson`` and ``phik``: DataFrames indexed and labelled by latent index;
        ``settings``: the phik binning used.
    """
    mu = np.asarray(mu, dtype=float)
    neurons = np.arange(mu.shape[1]) if neurons is None else np.asarray(neurons, dtype=int)
    sub = mu[:, neurons]
    labels = pd.Index([int(n) for n in neurons], name="latent_index")
    pear = np.corrcoef(sub, rowvar=False) if sub.shape[1] > 1 else np.ones((1, 1))
    return {
        "pearson": pd.DataFrame(pear, index=labels, columns=labels),
        "phik": pd.DataFrame(phik_square(sub, bins=bins), index=labels, columns=labels),
        "settings": {"phik_bins": bins, "phik_binning": "uniform min..max per column, all interval"},
    }


# -------------------------------------------------------------------- estimator
class NeuronFeatureCorrelation:
    """Neuron x feature correlations: phik with significance, Spearman and MI cross-checks.

    Parameters
    ----------
    bins : int
        Uniform phik bins per column (features and neurons all declared interval).
    noise_correction : bool
        phik's noise pedestal correction.
    significance : bool
        Compute phik's asymptotic G-test significance (p-value, Z) per cell.
    cross_checks : bool
        Also compute Spearman rho and kNN mutual information.
    mi_neighbors, mi_max_samples : int
        Settings of the kNN MI estimator.
    top_k : int
        Number of top features listed per neuron.
    alpha : float
        Family-wise level for ``significant_`` (Bonferroni over all neuron x feature cells).
    progress : bool
        Show a progress bar while computing phik.
    random_state : int
    drop_duplicates : bool
        Drop features that are affine copies of an earlier one (:func:`duplicate_columns`).
    nominal : sequence of str, optional
        Feature ids whose values are category labels, binned one bin per category in phik (default the
        catalog's :data:`~musicneurons.features.catalog.NOMINAL_FEATURES`, e.g. P16 most common pitch class).

    Attributes
    ----------
    neurons_ : np.ndarray, shape=(n_neurons,)
        Latent indices of the analysed columns, in the order given.
    feature_names_ : list of str
        Features kept (non-constant).
    dropped_constant_ : list of str
        Features constant (or all NaN) over the data, dropped.
    dropped_duplicate_ : dict
        ``{feature: the earlier feature it copies}`` (:func:`duplicate_columns`), dropped when ``drop_duplicates``.
    phik_, pvalue_, z_, spearman_, mi_ : pd.DataFrame, shape=(n_neurons, n_features)
        Indexed by latent index, columns by feature id.
    qvalue_ : pd.DataFrame, shape=(n_neurons, n_features)
        Benjamini-Hochberg adjusted p-values over all cells; ``significant_bh_`` = ``qvalue_ < alpha``.
    significance_summary_ : dict
        Cells tested and the share passing Bonferroni and BH at ``alpha``.
    significant_ : pd.DataFrame of bool, shape=(n_neurons, n_features)
        ``pvalue_ < alpha / n_cells`` (Bonferroni); all False without significance.
    top_features_ : pd.DataFrame
        Long table: latent_index, rank, feature, category, phik, z, spearman.
    category_max_ : pd.DataFrame, shape=(n_neurons, n_categories)
        Per neuron the largest phik within each category.
    dominant_category_ : pd.Series
        Per neuron the category holding its largest phik.
    category_neurons_ : dict
        Per category the neurons dominated by it, strongest first.
    settings_ : dict
    """

    def __init__(self, bins: int = 10, noise_correction: bool = True, significance: bool = True,
                 cross_checks: bool = True, mi_neighbors: int = 3, mi_max_samples: int | None = 2000,
                 top_k: int = 5, alpha: float = 0.01, progress: bool = False, random_state: int = 0,
                 drop_duplicates: bool = True, nominal=None):
        self.bins = bins
        self.nominal = nominal
        self.drop_duplicates = drop_duplicates
        self.noise_correction = noise_correction
        self.significance = significance
        self.cross_checks = cross_checks
        self.mi_neighbors = mi_neighbors
        self.mi_max_samples = mi_max_samples
        self.top_k = top_k
        self.alpha = alpha
        self.progress = progress
        self.random_state = random_state

    def fit(self, mu, features: pd.DataFrame, categories: Mapping[str, str], neurons=None):
        """Correlate latent columns with features.

        Parameters
        ----------
        mu : array-like, shape=(n_samples, n_dims)
        features : pd.DataFrame, shape=(n_samples, n_features)
            Columns named by feature id ("P10", "R2", ...); NaN allowed.
        categories : mapping
            Feature id -> "P" | "R" | "M". Ids not in it get category "?".
        neurons : sequence of int, optional
            Latent indices to analyse (default all columns of ``mu``).
        """
        mu = np.asarray(mu, dtype=float)
        if not isinstance(features, pd.DataFrame):
            raise TypeError("features must be a pandas DataFrame with feature ids as columns")
        if len(features) != mu.shape[0]:
            raise ValueError(f"mu has {mu.shape[0]} rows but features has {len(features)}")
        self.neurons_ = np.arange(mu.shape[1]) if neurons is None else np.asarray(neurons, dtype=int)
        feats = features.copy()
        feats.columns = [str(c) for c in feats.columns]
        feats = feats.apply(pd.to_numeric, errors="coerce").replace([np.inf, -np.inf], np.nan)
        self.dropped_constant_ = constant_columns(feats)
        feats = feats.drop(columns=self.dropped_constant_)
        self.dropped_duplicate_ = duplicate_columns(feats) if self.drop_duplicates else {}
        feats = feats.drop(columns=list(self.dropped_duplicate_))
        self.feature_names_ = list(feats.columns)
        self.categories_ = {f: str(categories.get(f, "?")) for f in self.feature_names_}
        X = mu[:, self.neurons_]
        Y = feats.to_numpy(dtype=float)
        idx = pd.Index([int(n) for n in self.neurons_], name="latent_index")
        cols = pd.Index(self.feature_names_, name="feature")

        def frame(a):
            return pd.DataFrame(a, index=idx, columns=cols)

        nom = nominal_mask(self.feature_names_, self.nominal)
        self.nominal_features_ = [f for f, m in zip(self.feature_names_, nom) if m]
        ph, p, z = phik_rect(X, Y, bins=self.bins, noise_correction=self.noise_correction,
                             significance=self.significance, progress=self.progress, y_nominal=nom)
        self.phik_, self.pvalue_, self.z_ = frame(ph), frame(p), frame(z)
        fin = np.isfinite(p)
        n_cells = max(int(fin.sum()), 1)
        self.significant_ = frame(np.nan_to_num(p, nan=1.0) < self.alpha / n_cells)
        q = np.full_like(p, np.nan)
        if fin.any():
            from scipy.stats import false_discovery_control

            q[fin] = false_discovery_control(p[fin], method="bh")
        self.qvalue_ = frame(q)
        self.significant_bh_ = frame(np.nan_to_num(q, nan=1.0) < self.alpha)
        self.significance_summary_ = {
            "n_cells": int(fin.sum()), "alpha": self.alpha,
            "share_bonferroni": float(self.significant_.to_numpy().sum() / n_cells) if fin.any() else None,
            "share_bh": float(self.significant_bh_.to_numpy().sum() / n_cells) if fin.any() else None,
            "note": "per-cell G-tests; at tens of thousands of windows nearly every cell passes, so significance "
                    "does not separate the neurons -- the permutation null of each neuron's best phik does"}
        nan = np.full_like(ph, np.nan)
        self.spearman_ = frame(spearman_rect(X, Y) if self.cross_checks else nan)
        self.mi_ = frame(mutual_info_rect(X, Y, self.mi_neighbors, self.mi_max_samples, self.random_state)
                         if self.cross_checks else nan)
        self._summaries()
        self.settings_ = {
            "phik_bins": self.bins,
            "phik_binning": "uniform, min..max of each column (phik interval binning); nominal features one bin "
                            "per category (phik categorical binning)",
            "phik_nominal_features": list(self.nominal_features_),
            "phik_noise_correction": self.noise_correction,
            "significance": "phik asymptotic G-test (log-likelihood), ndof=(r-1)(c-1)" if self.significance else None,
            "significant": (f"p < {self.alpha} / n_cells (Bonferroni); also Benjamini-Hochberg q < {self.alpha}"
                            if self.significance else None),
            "spearman": "scipy rankdata (average ties), pairwise-complete rows" if self.cross_checks else None,
            "mutual_information": (f"kNN (Kraskov, = sklearn mutual_info_regression), n_neighbors={self.mi_neighbors}, "
                                   f"max_samples={self.mi_max_samples}, nats") if self.cross_checks else None,
            "dropped_constant_features": list(self.dropped_constant_),
            "dropped_duplicate_features": dict(self.dropped_duplicate_),
            "duplicates": "a column that is an affine copy of an earlier one (|r| = 1, same NaN pattern) on these "
                          "windows is dropped (kept: the first in catalog order)" if self.drop_duplicates else None,
            "n_samples": int(mu.shape[0]),
        }
        return self

    def _summaries(self):
        ph = self.phik_
        rows = []
        for n in ph.index:
            s = ph.loc[n].dropna().sort_values(ascending=False, kind="stable")
            for r, (f, v) in enumerate(s.iloc[: self.top_k].items(), start=1):
                rows.append({"latent_index": int(n), "rank": r, "feature": f, "category": self.categories_[f],
                             "phik": float(v), "z": float(self.z_.loc[n, f]),
                             "spearman": float(self.spearman_.loc[n, f])})
        self.top_features_ = pd.DataFrame(rows, columns=["latent_index", "rank", "feature", "category",
                                                         "phik", "z", "spearman"])
        known = [c for c in CATEGORIES if c in self.categories_.values()]
        cats = known + sorted(set(self.categories_.values()) - set(CATEGORIES))  # P, R, M first
        cm = pd.DataFrame(index=ph.index, columns=pd.Index(cats, name="category"), dtype=float)
        for c in cats:
            fs = [f for f in self.feature_names_ if self.categories_[f] == c]
            cm[c] = ph[fs].max(axis=1, skipna=True)
        self.category_max_ = cm
        dom = cm.fillna(-np.inf).idxmax(axis=1)
        dom[cm.isna().all(axis=1)] = None
        self.dominant_category_ = dom
        self.category_neurons_ = {
            c: [int(n) for n in cm.loc[dom == c, c].sort_values(ascending=False, kind="stable").index]
            for c in cats
        }

    def category_carriers(self, min_phik: float = 0.3) -> dict[str, list[int]]:
        """Per category every neuron whose best phik in it is at least ``min_phik``, strongest first."""
        cm = self.category_max_
        return {c: [int(n) for n in cm[c][cm[c] >= min_phik].sort_values(ascending=False, kind="stable").index]
                for c in cm.columns}

    def top_feature(self, latent_index: int) -> tuple[str | None, float]:
        """The feature with the largest phik for one neuron, and that phik ((None, nan) if not analysed)."""
        if int(latent_index) not in self.phik_.index:
            return None, float("nan")
        s = self.phik_.loc[int(latent_index)].dropna()
        if s.empty:
            return None, float("nan")
        f = s.idxmax()
        return str(f), float(s[f])
