"""phik's chi2 -> correlation step with exact bivariate-normal cell probabilities.

phik turns a contingency table's chi2 into a correlation by solving for the ρ of a binned bivariate normal
(bin edges ``linspace(-5, 5, n + 1)`` per axis) whose chi2 equals the observed one (``phik.bivariate
.phik_from_chi2``). Its cell probabilities come from scipy; with scipy >= 1.16 that is a randomized quasi-Monte
Carlo integrator (``scipy.stats._qmvnt``) at 3-8 ms per table, which made a 128-neuron analysis take minutes.
Here the cell probabilities are exact (Owen's T function, ``scipy.special.owens_t``, vectorized over the
grid's corners) and the quantities that depend only on the table's shape (ρ = 0 and ρ = 1 grids, the chi2
scale) are cached, so one table costs ~0.3 ms. Everything else is phik's: its chi2 (dependent frequency
estimates, Pearson), its noise pedestal (``estimate_simple_ndof``), its scale, its brentq with ``xtol=1e-5``.
``tests/test_analysis_correlate.py`` checks the values against ``phik.phik_from_hist2d``.

Many tables at once (:func:`phik_from_hist2d_many`): the tables of one shape are solved together by
:func:`brentq_many`, scipy's brentq steps run in lockstep with one batched cell-probability call per step, so
the values are the same bit for bit and the per-table Python overhead is gone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import optimize, special


def _bvn(H: np.ndarray, K: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Φ2(h, k; ρ) element by element of three broadcast arrays of one shape (|ρ| < 1), by Owen's T:
    Φ2 = ½Φ(h) + ½Φ(k) − T(h, a_h) − T(k, a_k) − β (Owen 1956). :func:`bvn_cdf` and :func:`bvn_cdf_many` both
    go through here, so a table's cell probabilities are the same numbers whichever computes them."""
    s = np.sqrt(1.0 - R * R)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_h = (K - R * H) / (H * s)
        a_k = (H - R * K) / (K * s)
    # T(0, a) = arctan(a) / 2π; for h = 0 the argument a_h is ±inf with the sign of (k - ρh) = k
    t_h = np.where(H == 0, np.sign(K) * 0.25, special.owens_t(H, np.nan_to_num(a_h)))
    t_k = np.where(K == 0, np.sign(H) * 0.25, special.owens_t(K, np.nan_to_num(a_k)))
    beta = np.where((H * K < 0) | ((H * K == 0) & (H + K < 0)), 0.5, 0.0)
    out = 0.5 * special.ndtr(H) + 0.5 * special.ndtr(K) - t_h - t_k - beta
    both0 = (H == 0) & (K == 0)
    return np.where(both0, 0.25 + np.arcsin(R) / (2 * np.pi), out)


def bvn_cdf(h, k, rho: float) -> np.ndarray:
    """P(X <= h, Y <= k) of a standard bivariate normal with correlation ``rho`` (|rho| < 1); h and k broadcast."""
    return _bvn(*np.broadcast_arrays(np.asarray(h, float), np.asarray(k, float), np.float64(rho)))


def binned_bvn(rho: float, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Probability of every cell of the grid ``sx`` × ``sy`` under a standard bivariate normal with correlation
    ``rho`` in [0, 1]; shape (len(sx) - 1, len(sy) - 1)."""
    if rho == 0:
        return np.outer(np.diff(special.ndtr(sx)), np.diff(special.ndtr(sy)))
    if rho >= 1:  # all mass on the diagonal x = y
        lo = np.maximum.outer(sx[:-1], sy[:-1])
        hi = np.minimum.outer(sx[1:], sy[1:])
        return np.where(hi > lo, special.ndtr(hi) - special.ndtr(lo), 0.0)
    F = bvn_cdf(sx[:, None], sy[None, :], rho)
    return np.maximum(F[1:, 1:] - F[:-1, 1:] - F[1:, :-1] + F[:-1, :-1], 0.0)


@lru_cache(maxsize=256)
def _grid(nx: int, ny: int):
    sx, sy = np.linspace(-5, 5, nx + 1), np.linspace(-5, 5, ny + 1)
    corr0 = binned_bvn(0.0, sx, sy).ravel()
    corr1 = binned_bvn(1.0, sx, sy).ravel()
    return sx, sy, corr0, _chi2_sum(corr1, corr0)


def _chi2_sum(corr, corr0) -> float:
    d2 = (corr - corr0) ** 2
    return float(np.sum(np.divide(d2, corr0, out=np.zeros_like(d2), where=corr0 != 0)))


def phik_from_chi2(chi2: float, n: float, nx: int, ny: int, pedestal: float = 0.0) -> float:
    """phik's ``phik_from_chi2`` on the default [-5, 5] grid, with exact cell probabilities."""
    if pedestal < 0:
        raise ValueError("noise pedestal should be greater than zero.")
    sx, sy, corr0, one = _grid(int(nx), int(ny))
    chi2_max = n * min(nx - 1, ny - 1)
    scale = (chi2_max - pedestal) / (n * one)
    if chi2 > chi2_max and np.isclose(chi2, chi2_max, atol=1e-14):
        chi2 = chi2_max
    if chi2 <= pedestal:
        return 0.0
    if chi2 >= chi2_max:
        return 1.0

    def f(rho):
        return pedestal + n * _chi2_sum(binned_bvn(rho, sx, sy).ravel(), corr0) * scale - chi2

    return float(optimize.brentq(f, 0, 1, xtol=1e-5))


def chi2_dependent(observed: np.ndarray, lambda_: str = "log-likelihood") -> float:
    """phik's ``get_chi2_using_dependent_frequency_estimates``: empty rows and columns dropped, then scipy's
    ``chi2_contingency(observed, lambda_=lambda_)`` statistic (expected counts from the margins, Yates' correction
    when dof == 1) — the same arithmetic in the same order, without scipy's per-call overhead (~0.5 ms, which
    was a third of a neuron x feature table's cost). Equal to phik's value bit for bit (tested)."""
    o = np.asarray(observed, dtype=float)
    o = o[~np.all(o == 0, axis=1)]
    o = o.T[~np.all(o.T == 0, axis=1)].T
    e = o.sum(axis=1, keepdims=True) * o.sum(axis=0, keepdims=True) / o.sum()
    dof = e.size - sum(e.shape) + e.ndim - 1
    if dof == 0:
        return 0.0
    if dof == 1:
        d = e - o
        o = o + np.minimum(0.5, np.abs(d)) * np.sign(d)
    if lambda_ == "pearson":
        terms = (o - e) ** 2 / e
    elif lambda_ == "log-likelihood":
        terms = 2.0 * special.xlogy(o, o / e)
    else:
        raise ValueError(f"lambda_ must be 'pearson' or 'log-likelihood', got {lambda_!r}")
    return float(np.sum(terms))


def phik_from_hist2d(observed: np.ndarray, noise_correction: bool = True) -> float:
    """``phik.phik.phik_from_hist2d`` with exact cell probabilities (same chi2, pedestal and solver)."""
    from phik.statistics import estimate_simple_ndof

    observed = np.asarray(observed, dtype=float)
    chi2 = chi2_dependent(observed, lambda_="pearson")
    pedestal = max(estimate_simple_ndof(observed), 0) if noise_correction else 0
    return phik_from_chi2(chi2, observed.sum(), *observed.shape, pedestal=pedestal)


# --------------------------------------------------------------------------- many tables at once
def bvn_cdf_many(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """:func:`bvn_cdf` on the grid ``h`` x ``k`` for many ``rho`` in (-1, 1) at once: (n_rho, nh, nk)."""
    return _bvn(*np.broadcast_arrays(np.asarray(h, float)[None, :, None], np.asarray(k, float)[None, None, :],
                                     np.asarray(rho, float)[:, None, None]))


def _chi2_sums(rho: np.ndarray, nx: int, ny: int) -> np.ndarray:
    """``_chi2_sum(binned_bvn(r, sx, sy).ravel(), corr0)`` of each ``r`` in ``rho`` (in [0, 1], as phik's
    solver uses it) on the nx x ny grid: (m,)."""
    if (rho < 0).any():
        raise ValueError("rho must be in [0, 1]")
    sx, sy, corr0, one = _grid(nx, ny)
    inner = (rho > 0) & (rho < 1)
    # binned_bvn's closed forms: at 0 the grid's own corr0 (a sum of 0.0), at 1 the grid's chi2 scale ``one``
    out = np.where(rho >= 1, one, 0.0)
    if inner.any():
        F = bvn_cdf_many(sx, sy, rho[inner])
        P = np.maximum(F[:, 1:, 1:] - F[:, :-1, 1:] - F[:, 1:, :-1] + F[:, :-1, :-1], 0.0).reshape(F.shape[0], -1)
        d2 = (P - corr0) ** 2
        out[inner] = np.divide(d2, corr0, out=np.zeros_like(d2), where=corr0 != 0).sum(axis=1)
    return out


_RTOL = 4 * np.finfo(float).eps  # scipy.optimize.brentq's default rtol


def brentq_many(f, m: int, xtol: float, maxiter: int = 100) -> np.ndarray:
    """``scipy.optimize.brentq(f_i, 0, 1, xtol=xtol)`` of m functions at once: scipy's algorithm (Brent's method
    as in its ``brentq.c``, bracket signs by sign bit) run in lockstep, one batched call
    ``f(x (k,), which (k,)) -> (k,)`` per step for the k unfinished functions. The same floating-point steps as
    scipy's, so the same roots (tested on phik's functions). Like scipy it raises when a function is NaN at a
    step or has one sign at both ends (naming the first such function)."""

    def values(x, which):
        v = np.asarray(f(x, which), dtype=float)
        if np.isnan(v).any():
            raise ValueError(f"function {int(which[np.isnan(v)][0])} is NaN at x = {x[np.isnan(v)][0]!r}")
        return v

    out = np.full(m, np.nan)
    which = np.arange(m)
    xpre, xcur = np.zeros(m), np.ones(m)
    fpre, fcur = values(xpre, which), values(xcur, which)
    same = (fpre != 0) & (fcur != 0) & (np.signbit(fpre) == np.signbit(fcur))
    if same.any():
        raise ValueError(f"f(a) and f(b) must have different signs (function {int(np.flatnonzero(same)[0])})")
    out[fpre == 0] = 0.0
    out[(fpre != 0) & (fcur == 0)] = 1.0
    keep = (fpre != 0) & (fcur != 0)
    which, xpre, xcur, fpre, fcur = which[keep], xpre[keep], xcur[keep], fpre[keep], fcur[keep]
    xblk, fblk, spre, scur = (np.zeros(which.size) for _ in range(4))
    for _ in range(maxiter):
        if not which.size:
            return out
        s = (fpre != 0) & (fcur != 0) & (np.signbit(fpre) != np.signbit(fcur))
        xblk, fblk = np.where(s, xpre, xblk), np.where(s, fpre, fblk)
        spre, scur = np.where(s, xcur - xpre, spre), np.where(s, xcur - xpre, scur)
        sw = np.abs(fblk) < np.abs(fcur)
        xpre, xcur, xblk = np.where(sw, xcur, xpre), np.where(sw, xblk, xcur), np.where(sw, xcur, xblk)
        fpre, fcur, fblk = np.where(sw, fcur, fpre), np.where(sw, fblk, fcur), np.where(sw, fcur, fblk)
        delta = (xtol + _RTOL * np.abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        done = (fcur == 0) | (np.abs(sbis) < delta)
        out[which[done]] = xcur[done]
        go = ~done
        which, xpre, xcur, xblk, fpre, fcur, fblk, spre, scur, delta, sbis = (
            a[go] for a in (which, xpre, xcur, xblk, fpre, fcur, fblk, spre, scur, delta, sbis))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            interp = -fcur * (xcur - xpre) / (fcur - fpre)
            dpre = (fpre - fcur) / (xpre - xcur)
            dblk = (fblk - fcur) / (xblk - xcur)
            extrap = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            stry = np.where(xpre == xblk, interp, extrap)
            tried = (np.abs(spre) > delta) & (np.abs(fcur) < np.abs(fpre))
            good = tried & (2 * np.abs(stry) < np.minimum(np.abs(spre), 3 * np.abs(sbis) - delta))
        spre, scur = np.where(good, scur, sbis), np.where(good, stry, sbis)
        xpre, fpre = xcur, fcur
        xcur = np.where(np.abs(scur) > delta, xcur + scur, xcur + np.where(sbis > 0, delta, -delta))
        if which.size:
            fcur = values(xcur, which)
    if which.size:
        raise RuntimeError(f"brentq did not converge in {maxiter} iterations for {which.size} functions")
    return out


def phik_from_chi2_many(chi2, n, nx: int, ny: int, pedestal) -> np.ndarray:
    """:func:`phik_from_chi2` of many tables of one shape (nx, ny) at once (chi2, n, pedestal: (m,)); the same
    values (the same brentq steps, :func:`brentq_many`)."""
    chi2 = np.array(chi2, dtype=float)
    n = np.asarray(n, dtype=float)
    pedestal = np.asarray(pedestal, dtype=float)
    if (pedestal < 0).any():
        raise ValueError("noise pedestal should be greater than zero.")
    one = _grid(int(nx), int(ny))[3]
    chi2_max = n * min(nx - 1, ny - 1)
    scale = (chi2_max - pedestal) / (n * one)
    snap = (chi2 > chi2_max) & np.isclose(chi2, chi2_max, atol=1e-14)
    chi2[snap] = chi2_max[snap]
    out = np.where(chi2 <= pedestal, 0.0, np.where(chi2 >= chi2_max, 1.0, np.nan))
    solve = np.flatnonzero(np.isnan(out))
    if solve.size:
        p, nn, sc, c2 = pedestal[solve], n[solve], scale[solve], chi2[solve]

        def f(rho, i):
            return p[i] + nn[i] * _chi2_sums(rho, int(nx), int(ny)) * sc[i] - c2[i]

        out[solve] = brentq_many(f, solve.size, xtol=1e-5)
    return out


def phik_from_hist2d_many(tables, noise_correction: bool = True) -> np.ndarray:
    """:func:`phik_from_hist2d` of each table in ``tables`` (a list of 2-D count arrays, each with >= 2 rows and
    columns): the same values, the tables of one shape solved together. Returns (len(tables),)."""
    from phik.statistics import estimate_simple_ndof

    tables = [np.asarray(t, dtype=float) for t in tables]
    chi2 = np.array([chi2_dependent(t, lambda_="pearson") for t in tables])
    ped = np.array([max(estimate_simple_ndof(t), 0) if noise_correction else 0 for t in tables], dtype=float)
    n = np.array([t.sum() for t in tables])
    shapes, group = np.unique(np.array([t.shape for t in tables]).reshape(-1, 2), axis=0, return_inverse=True)
    out = np.empty(len(tables))
    for g, (nx, ny) in enumerate(shapes):
        m = np.flatnonzero(group.ravel() == g)
        out[m] = phik_from_chi2_many(chi2[m], n[m], int(nx), int(ny), ped[m])
    return out
