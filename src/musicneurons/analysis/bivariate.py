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
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import optimize, special


def bvn_cdf(h, k, rho: float) -> np.ndarray:
    """P(X <= h, Y <= k) of a standard bivariate normal with correlation ``rho`` (|rho| < 1), by Owen's T:
    Φ2 = ½Φ(h) + ½Φ(k) − T(h, a_h) − T(k, a_k) − β (Owen 1956)."""
    h, k = np.broadcast_arrays(np.asarray(h, float), np.asarray(k, float))
    s = np.sqrt(1.0 - rho * rho)
    out = np.empty(h.shape)
    both0 = (h == 0) & (k == 0)
    out[both0] = 0.25 + np.arcsin(rho) / (2 * np.pi)
    m = ~both0
    hm, km = h[m], k[m]
    with np.errstate(divide="ignore", invalid="ignore"):
        a_h = (km - rho * hm) / (hm * s)
        a_k = (hm - rho * km) / (km * s)
    # T(0, a) = arctan(a) / 2π; for h = 0 the argument a_h is ±inf with the sign of (k - ρh) = k
    t_h = np.where(hm == 0, np.sign(km) * 0.25, special.owens_t(hm, np.nan_to_num(a_h)))
    t_k = np.where(km == 0, np.sign(hm) * 0.25, special.owens_t(km, np.nan_to_num(a_k)))
    beta = np.where((hm * km < 0) | ((hm * km == 0) & (hm + km < 0)), 0.5, 0.0)
    out[m] = 0.5 * special.ndtr(hm) + 0.5 * special.ndtr(km) - t_h - t_k - beta
    return out


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
