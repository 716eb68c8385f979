"""Neuron profile: which latent dims are music neurons and which are noise neurons.

Per dim ``d`` over the inputs: mean and std of mu, the mean sigma, the mean KL of
``N(mu, sigma^2)`` to the prior ``N(0, 1)``, and Burda et al. (2016)'s activity
``A_d = Var_x(E_q[z_d | x]) = Var_x(mu_d)`` (a unit is *active* when ``A_d > 0.01``).

A dim is a music neuron when its mean sigma is below ``sigma_threshold``. The default
threshold rule ("auto"):

1. Fit 1- and 2-component Gaussian mixtures to ``log(mean sigma)`` over the dims.
2. The distribution is called bimodal when the 2-component BIC is lower and the
   gap in sorted log mean-sigma at the mixture's decision boundary (between the highest value
   the lower mode claims and the next value up) is at least ``min_gap_ratio``
   (100) times the median gap of all consecutive values (a real empty stretch, which a
   unimodal or uniform spread does not have). Ashman's D of the two fitted modes
   (``sqrt(2)|m1-m2| / sqrt(s1^2+s2^2)``) is reported but not required: the music mode is
   broad in log sigma, so D is often below 2 even when the gap is clear.
3. If bimodal, the threshold is placed at the geometric midpoint of that gap.
4. Otherwise the fixed ``fallback_threshold`` (0.8) is used.

``threshold_rule_`` says which rule fired; a float ``sigma_threshold`` is used as given.

Dims above the threshold are split further (the paper's noise neuron is sigma ~ 1 *and* mu ~ 0):
**noise** when also Burda-inactive (``Var(mu) <= 0.01``), **leaky** when Burda-active (their mu still
varies with the input: they carry information the music/noise split does not count).

Uncertainty (``n_bootstrap`` > 0): a **cluster bootstrap** when ``groups`` (e.g. the source file of each window)
is given -- whole groups are resampled, since windows of one file are not independent -- else an ordinary one
over inputs. Each resample recomputes mean sigma, Var(mu) and KL, **re-runs the threshold rule** (its mixture
warm-started from the full data's fit; all resamples' mixtures fitted at once by :func:`mixture_em_many`, the
same EM as scikit-learn's), and re-ranks;
the count's interval and every music neuron's rank interval under each ordering (``rank_intervals``) come from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ORDER_KEYS = ("var_mu", "mean_sigma", "kl")
BURDA_ACTIVITY_THRESHOLD = 0.01


def kl_per_dim(mu, sigma) -> np.ndarray:
    """KL( N(mu, sigma^2) || N(0, 1) ) per element, same shape as ``mu``."""
    mu = np.asarray(mu, dtype=float)
    s2 = np.asarray(sigma, dtype=float) ** 2
    return 0.5 * (mu**2 + s2 - 1.0 - np.log(s2))


def ashman_d(m1: float, s1: float, m2: float, s2: float) -> float:
    """Ashman's D separation of two Gaussian modes (D > 2: clean separation)."""
    return float(np.sqrt(2.0) * abs(m1 - m2) / np.sqrt(s1**2 + s2**2 + 1e-300))


def sigma_threshold_auto(mean_sigma, fallback: float = 0.8, min_gap_ratio: float = 100.0,
                         random_state: int = 0) -> tuple[float, dict]:
    """The "auto" threshold rule (see the module docstring).

    Parameters
    ----------
    mean_sigma : array-like, shape=(n_dims,)

    Returns
    -------
    threshold : float
    rule : dict
        ``{"rule": "gap" | "fallback", "reason": str, ...}`` with the fitted modes.
    """
    thr, info, _ = _auto(mean_sigma, fallback, min_gap_ratio, random_state)
    return thr, info


def _gaussian_bic(x: np.ndarray) -> float:
    """BIC of one Gaussian fitted by maximum likelihood (as sklearn's 1-component mixture)."""
    var = x.var() + 1e-6  # sklearn's reg_covar
    ll = -0.5 * x.size * (np.log(2 * np.pi * var) + x.var() / var)
    return float(-2 * ll + 2 * np.log(x.size))


def _log_x(mean_sigma) -> np.ndarray:
    """log mean sigma, the rule's variable (clipped at 1e-12)."""
    return np.log(np.clip(np.asarray(mean_sigma, dtype=float), 1e-12, None))


def _degenerate(x: np.ndarray) -> bool:
    return x.shape[-1] < 4 or np.ptp(x) < 1e-9


def _auto(mean_sigma, fallback, min_gap_ratio, random_state, init=None):
    """The rule on one mean-sigma vector: (threshold, rule dict, the fitted sklearn mixture or None)."""
    from sklearn.mixture import GaussianMixture

    x = _log_x(mean_sigma).reshape(-1, 1)
    if _degenerate(x.ravel()):
        return float(fallback), {"rule": "fallback", "threshold": float(fallback),
                                 "reason": "too few or identical mean-sigma values"}, None
    if init is None:
        g2 = GaussianMixture(2, n_init=3, random_state=random_state).fit(x)
    else:  # warm start from a previous fit
        g2 = GaussianMixture(2, random_state=random_state, weights_init=init.weights_, means_init=init.means_,
                             precisions_init=init.precisions_).fit(x)
    thr, info = _decide(x.ravel(), fallback, min_gap_ratio, g2.means_.ravel(), g2.covariances_.ravel(), g2.bic(x),
                        lambda xs: g2.predict_proba(xs.reshape(-1, 1)))
    return thr, info, g2


def _decide(x, fallback, min_gap_ratio, means, variances, bic2, predict_proba):
    """Steps 2-4 of the rule from a fitted 2-component mixture (``means``, ``variances`` (2,), its BIC on ``x``
    and ``predict_proba(values) -> (n, 2)``): (threshold, rule dict)."""
    fb = {"rule": "fallback", "threshold": float(fallback)}
    bic1 = _gaussian_bic(x)
    m = np.asarray(means, dtype=float)
    sd = np.sqrt(np.asarray(variances, dtype=float))
    lo, hi = np.argsort(m)
    d = ashman_d(m[lo], sd[lo], m[hi], sd[hi])
    info = {"bic_1": float(bic1), "bic_2": float(bic2), "ashman_d": d,
            "modes_sigma": [float(np.exp(m[lo])), float(np.exp(m[hi]))]}
    if bic2 >= bic1:
        return float(fallback), {**fb, **info, "reason": "not bimodal (1-component BIC lower)"}
    xs = np.sort(x)
    gaps = np.diff(xs)
    # the boundary: the last sorted value (going up) that the lower mode still claims. (The widest gap between
    # the two modes' means was tried instead: in a sparse, broad music mode it lands inside that mode.)
    p_hi = predict_proba(xs)[:, hi]
    cand = np.flatnonzero((xs[:-1] >= m[lo]) & (xs[:-1] <= m[hi]) & (p_hi[:-1] < 0.5) & (p_hi[1:] >= 0.5))
    if cand.size == 0:
        return float(fallback), {**fb, **info, "reason": "not bimodal (no boundary between the two modes)"}
    k = int(cand[-1])
    mid = (xs[:-1] + xs[1:]) / 2
    med = float(np.median(gaps))
    ratio = float(gaps[k] / med) if med > 0 else float("inf")
    info["gap_ratio"] = ratio
    info["gap_sigma"] = [float(np.exp(xs[k])), float(np.exp(xs[k + 1]))]
    if ratio < min_gap_ratio:
        why = f"not bimodal (boundary gap {ratio:.1f}x the median gap < {min_gap_ratio})"
        return float(fallback), {**fb, **info, "reason": why}
    thr = float(np.exp(mid[k]))
    return thr, {"rule": "gap", "threshold": thr, **info,
                 "reason": f"bimodal log mean-sigma (BIC2 < BIC1, gap {ratio:.0f}x the median gap, "
                           f"Ashman D {d:.2f}); "
                           f"threshold at the geometric middle of the gap at the mixture boundary"}


# ----------------------------------------------------------------- the bootstrap's warm-started mixtures, batched
_LOG_2PI = np.log(2 * np.pi)


def _logsumexp_last(a: np.ndarray) -> np.ndarray:
    """scikit-learn's ``_logsumexp`` over the last axis, elementwise the same arithmetic."""
    a_max = a.max(axis=-1, keepdims=True)
    is_max = a == a_max
    rest = np.where(is_max, -np.inf, a)
    m = is_max.sum(axis=-1, keepdims=True).astype(float)
    shift = np.where(np.isfinite(a_max), a_max, 0.0)
    s = np.exp(rest - shift).sum(axis=-1, keepdims=True)
    s = np.where(s == 0, s, s / m)
    return (np.log1p(s) + np.log(m) + a_max)[..., 0]


def _log_resp(x, weights, means, prec_chol):
    """E-step of 1-D 2-component mixtures, one per row: x (B, n); weights, means, prec_chol (B, 2).
    Returns log p(x) (B, n) and the log responsibilities (B, n, 2), as scikit-learn's ``_estimate_log_prob_resp``
    (full covariance, 1 feature: y = x·L − μ·L, log N = −½(log 2π + y²) + log L)."""
    y = x[:, :, None] * prec_chol[:, None, :] - (means * prec_chol)[:, None, :]
    wlp = -0.5 * (_LOG_2PI + y * y) + np.log(prec_chol)[:, None, :] + np.log(weights)[:, None, :]
    lpn = _logsumexp_last(wlp)
    return lpn, wlp - lpn[:, :, None]


def mixture_em_many(x, weights_init, means_init, precisions_init, tol: float = 1e-3, max_iter: int = 100,
                    reg_covar: float = 1e-6) -> dict:
    """scikit-learn's ``GaussianMixture(2, weights_init=, means_init=, precisions_init=).fit`` on many 1-D data
    sets at once (the σ rule's bootstrap fits 200 warm-started mixtures; one at a time, scikit-learn's per-call
    checks cost ~3 ms each). Same EM: E-step, M-step (responsibility-weighted means and variances + ``reg_covar``,
    weights normalised), lower bound = mean log p(x), stop when it changes by less than ``tol``; each row stops
    on its own, keeping that iteration's parameters. ``tests/test_analysis_neurons.py`` checks parameters, BIC and
    the rule's decisions against scikit-learn row by row.

    Parameters
    ----------
    x : array-like, shape=(B, n)
    weights_init, means_init, precisions_init : array-like, shape=(2,)
        The start of every row (a fitted mixture's ``weights_``, ``means_``, ``precisions_``).

    Returns
    -------
    dict
        ``weights``, ``means``, ``variances``, ``prec_chol`` (B, 2), ``bic`` (B,) on ``x``, ``n_iter`` (B,),
        ``converged`` (B,) bool.
    """
    x = np.asarray(x, dtype=float)
    b, n = x.shape
    w = np.tile(np.asarray(weights_init, float).ravel(), (b, 1))
    mu = np.tile(np.asarray(means_init, float).ravel(), (b, 1))
    pc = np.tile(np.sqrt(np.asarray(precisions_init, float).ravel()), (b, 1))  # 1x1 Cholesky of the precision
    var = 1.0 / (pc * pc)
    lower = np.full(b, -np.inf)
    active = np.ones(b, bool)
    n_iter = np.zeros(b, int)
    eps10 = 10 * np.finfo(float).eps
    for _ in range(max_iter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        xr = x[rows]
        lpn, log_resp = _log_resp(xr, w[rows], mu[rows], pc[rows])
        resp = np.exp(log_resp)
        nk = resp.sum(axis=1) + eps10
        means = np.einsum("bnk,bn->bk", resp, xr) / nk
        diff = xr[:, :, None] - means[:, None, :]
        v = np.einsum("bnk,bnk->bk", resp, diff * diff) / nk + reg_covar
        w[rows] = nk / nk.sum(axis=1, keepdims=True)
        mu[rows], var[rows], pc[rows] = means, v, 1.0 / np.sqrt(v)
        new = lpn.mean(axis=1)
        n_iter[rows] += 1
        done = np.abs(new - lower[rows]) < tol
        lower[rows] = new
        active[rows[done]] = False
    score = _log_resp(x, w, mu, pc)[0].mean(axis=1)
    bic = -2 * score * n + 5 * np.log(n)  # 5 free parameters: 2 means, 2 variances, 1 weight
    return {"weights": w, "means": mu, "variances": var, "prec_chol": pc, "bic": bic, "n_iter": n_iter,
            "converged": ~active}


def _auto_many(mean_sigma, fallback, min_gap_ratio, init) -> np.ndarray:
    """The rule's threshold for each row of ``mean_sigma`` (B, n_dims), every mixture warm-started from ``init``
    (a fitted sklearn mixture) and fitted at once (:func:`mixture_em_many`). Returns (B,)."""
    x = _log_x(mean_sigma)
    out = np.full(x.shape[0], float(fallback))
    ok = np.flatnonzero([not _degenerate(r) for r in x])
    if ok.size == 0:
        return out
    fit = mixture_em_many(x[ok], init.weights_, init.means_, init.precisions_, tol=init.tol,
                          max_iter=init.max_iter, reg_covar=init.reg_covar)
    for i, r in enumerate(ok):
        def proba(xs, i=i):
            return np.exp(_log_resp(xs[None, :], fit["weights"][i:i + 1], fit["means"][i:i + 1],
                                    fit["prec_chol"][i:i + 1])[1][0])
        out[r] = _decide(x[r], fallback, min_gap_ratio, fit["means"][i], fit["variances"][i], fit["bic"][i], proba)[0]
    return out


class NeuronProfile:
    """Per-dim statistics of an encoder's posterior and the music/noise split.

    Parameters
    ----------
    sigma_threshold : "auto" or float
        Music neurons have mean sigma below it. "auto": see the module docstring.
    fallback_threshold : float
        Used by "auto" when mean sigma is not bimodal.
    min_gap_ratio : float
        "auto": the boundary gap must be this many times the median gap.
    order_by : {"var_mu", "mean_sigma", "kl"}
        Ranking of music neurons (rank 1 = largest var of mu / smallest mean sigma / largest KL).
    n_bootstrap : int
        Bootstrap resamples of the inputs for the confidence interval of the count (0: none).
    ci : float
        Confidence level of the percentile bootstrap interval.
    random_state : int

    Attributes
    ----------
    n_samples_, n_dims_ : int
    mean_mu_, std_mu_, var_mu_, mean_sigma_, kl_, active_variance_ : np.ndarray, shape=(n_dims,)
    active_mask_ : np.ndarray of bool, Burda activity > 0.01
    sigma_threshold_ : float
    threshold_rule_ : dict, which rule fired and why
    music_mask_ : np.ndarray of bool, shape=(n_dims,)
    n_music_ : int
    order_ : np.ndarray, latent indices of music neurons, rank 1 first
    n_music_ci_ : tuple (low, high) or None
    n_music_bootstrap_ : np.ndarray, shape=(n_bootstrap,)
    noise_mask_, leaky_mask_ : np.ndarray of bool, shape=(n_dims,), not music and Burda-inactive / -active
    n_noise_, n_leaky_ : int
    rank_bootstrap_ : dict ordering -> np.ndarray (n_bootstrap, n_music), each music neuron's rank in each
        resample under that ordering (0: not a music neuron in that resample)
    n_groups_ : int or None, groups of the cluster bootstrap
    mixture_ : sklearn GaussianMixture or None, the 2-component fit of the "auto" rule
    settings_ : dict
    """

    def __init__(self, sigma_threshold="auto", fallback_threshold: float = 0.8, min_gap_ratio: float = 100.0,
                 order_by: str = "var_mu", n_bootstrap: int = 200, ci: float = 0.95, random_state: int = 0):
        self.sigma_threshold = sigma_threshold
        self.fallback_threshold = fallback_threshold
        self.min_gap_ratio = min_gap_ratio
        self.order_by = order_by
        self.n_bootstrap = n_bootstrap
        self.ci = ci
        self.random_state = random_state

    def _threshold(self, mean_sigma, init=None):
        """(threshold, rule dict, fitted mixture or None)."""
        if isinstance(self.sigma_threshold, str):
            if self.sigma_threshold != "auto":
                raise ValueError(f"sigma_threshold must be 'auto' or a float, got {self.sigma_threshold!r}")
            return _auto(mean_sigma, self.fallback_threshold, self.min_gap_ratio, self.random_state, init)
        t = float(self.sigma_threshold)
        return t, {"rule": "fixed", "threshold": t, "reason": "given by the user"}, None

    def fit(self, mu, sigma, groups=None):
        """Profile the latents.

        Parameters
        ----------
        mu, sigma : array-like, shape=(n_samples, n_dims)
            Posterior means and standard deviations (not log-variances) per input.
        groups : array-like, shape=(n_samples,), optional
            Cluster labels (the source file of each window): the bootstrap resamples whole groups.
        """
        mu = np.asarray(mu, dtype=float)
        sigma = np.asarray(sigma, dtype=float)
        if mu.ndim != 2 or mu.shape != sigma.shape:
            raise ValueError(f"mu and sigma must be 2-D of equal shape, got {mu.shape} and {sigma.shape}")
        if mu.shape[0] < 2:
            raise ValueError("need at least 2 inputs to profile neurons")
        if np.any(sigma <= 0) or not np.all(np.isfinite(sigma)):
            raise ValueError("sigma must be finite and > 0 (pass standard deviations, not log-variances)")
        if self.order_by not in ORDER_KEYS:
            raise ValueError(f"order_by must be one of {ORDER_KEYS}, got {self.order_by!r}")
        self.n_samples_, self.n_dims_ = mu.shape
        self.mean_mu_ = mu.mean(axis=0)
        self.std_mu_ = mu.std(axis=0)
        self.var_mu_ = mu.var(axis=0)
        self.mean_sigma_ = sigma.mean(axis=0)
        self.kl_ = kl_per_dim(mu, sigma).mean(axis=0)
        self.active_variance_ = self.var_mu_.copy()
        self.active_mask_ = self.active_variance_ > BURDA_ACTIVITY_THRESHOLD
        self.sigma_threshold_, self.threshold_rule_, self.mixture_ = self._threshold(self.mean_sigma_)
        self.music_mask_ = self.mean_sigma_ < self.sigma_threshold_
        self.n_music_ = int(self.music_mask_.sum())
        self.noise_mask_ = ~self.music_mask_ & ~self.active_mask_
        self.leaky_mask_ = ~self.music_mask_ & self.active_mask_
        self.n_noise_, self.n_leaky_ = int(self.noise_mask_.sum()), int(self.leaky_mask_.sum())
        self.order_ = self.ranking(self.order_by)
        if groups is not None and len(groups) != mu.shape[0]:
            raise ValueError(f"groups has {len(groups)} labels for {mu.shape[0]} inputs")
        self._bootstrap(mu, sigma, groups)
        self.settings_ = {
            "sigma_threshold": self.sigma_threshold_,
            "sigma_threshold_rule": self.threshold_rule_["rule"],
            "sigma_threshold_reason": self.threshold_rule_["reason"],
            "sigma_threshold_rule_definition": ("auto: 2-component Gaussian mixture on log mean-sigma preferred by "
                                                f"BIC and a boundary gap >= {self.min_gap_ratio}x the median gap, "
                                                f"else {self.fallback_threshold}") if self.sigma_threshold == "auto"
            else "fixed",
            "bootstrap": (f"cluster bootstrap: resample the {self.n_groups_} groups (source files) with replacement"
                          if self.n_groups_ else "resample inputs with replacement")
                         + "; recompute mean sigma, Var(mu), KL, re-run the threshold rule and re-rank; percentile "
                           "intervals",
            "noise_definition": f"not music and Burda-inactive (Var(mu) <= {BURDA_ACTIVITY_THRESHOLD}); "
                                "leaky: not music but Burda-active",
            "order_by": self.order_by,
            "burda_activity_threshold": BURDA_ACTIVITY_THRESHOLD,
            "n_bootstrap": self.n_bootstrap,
            "ci": self.ci,
            "n_samples": int(self.n_samples_),
        }
        return self

    def _bootstrap(self, mu, sigma, groups=None):
        self.n_music_bootstrap_ = np.zeros(0, dtype=int)
        self.n_music_ci_ = None
        self.rank_bootstrap_ = {}
        self.n_groups_ = None
        if not self.n_bootstrap:
            return
        rng = np.random.default_rng(self.random_state)
        n = sigma.shape[0]
        if groups is not None:
            _, gidx = np.unique(np.asarray(groups).astype(str), return_inverse=True)
            self.n_groups_ = int(gidx.max()) + 1
        kl, mu2 = kl_per_dim(mu, sigma), mu * mu
        counts = np.empty(self.n_bootstrap, dtype=int)
        ranks = {by: np.zeros((self.n_bootstrap, self.n_music_), dtype=int) for by in ORDER_KEYS}
        music = np.flatnonzero(self.music_mask_)
        block = max(1, min(self.n_bootstrap, 2 ** 24 // max(n, 1)))  # resamples per matrix product (<= 128 MB)
        for b0 in range(0, self.n_bootstrap, block):
            # the resample weights (how often each input is drawn), then every weighted mean in one product each
            W = np.empty((min(block, self.n_bootstrap - b0), n))
            for i in range(W.shape[0]):
                if self.n_groups_:
                    drawn = np.bincount(rng.integers(0, self.n_groups_, self.n_groups_), minlength=self.n_groups_)
                    W[i] = drawn[gidx]
                else:
                    W[i] = rng.multinomial(n, np.full(n, 1.0 / n))
            W /= W.sum(axis=1, keepdims=True)
            MS, M1, KL = W @ sigma, W @ mu, W @ kl
            VAR = np.maximum(W @ mu2 - M1 * M1, 0.0)
            thresholds = self._thresholds_many(MS)
            for i in range(W.shape[0]):
                self._bootstrap_one(b0 + i, thresholds[i], MS[i], VAR[i], KL[i], music, counts, ranks)
        a = (1 - self.ci) / 2
        self.n_music_bootstrap_ = counts
        self.n_music_ci_ = (int(np.floor(np.quantile(counts, a))), int(np.ceil(np.quantile(counts, 1 - a))))
        self.rank_bootstrap_ = ranks

    def _thresholds_many(self, mean_sigma) -> np.ndarray:
        """The threshold rule on each row of ``mean_sigma`` (B, n_dims), "auto" mixtures warm-started from the
        full data's fit (all rows fitted at once, :func:`mixture_em_many`). Returns (B,)."""
        if self.sigma_threshold == "auto" and self.mixture_ is not None:
            return _auto_many(mean_sigma, self.fallback_threshold, self.min_gap_ratio, self.mixture_)
        return np.array([self._threshold(ms, init=self.mixture_)[0] for ms in mean_sigma])

    def _bootstrap_one(self, b, t, ms, var, klb, music, counts, ranks):
        """Resample ``b`` with threshold ``t``: its count and every ordering's ranks from its mean sigma ``ms``."""
        mask = ms < t
        counts[b] = int(mask.sum())
        idx = np.flatnonzero(mask)
        for by, key in (("var_mu", -var), ("mean_sigma", ms), ("kl", -klb)):
            order = idx[np.argsort(key[idx], kind="stable")]
            r = np.zeros(self.n_dims_, dtype=int)
            r[order] = np.arange(1, order.size + 1)
            ranks[by][b] = r[music]

    def sensitivity(self, ratios=(30.0, 100.0, 300.0), scale=(0.95, 1.05)) -> dict:
        """How the count moves with the rule's choices: the count the "auto" rule gives at other ``min_gap_ratio``
        values, and the counts at the chosen threshold scaled by ``scale`` (a +-5 % band in sigma)."""
        out = {"by_min_gap_ratio": {}, "band": {}}
        if self.sigma_threshold == "auto":
            for r in ratios:
                t, info, _ = _auto(self.mean_sigma_, self.fallback_threshold, r, self.random_state)
                out["by_min_gap_ratio"][f"{r:g}"] = {"n_music": int((self.mean_sigma_ < t).sum()),
                                                    "threshold": float(t), "rule": info["rule"]}
        for f in scale:
            t = self.sigma_threshold_ * f
            out["band"][f"{f:g}"] = {"threshold": float(t), "n_music": int((self.mean_sigma_ < t).sum())}
        return out

    def rank_intervals(self, by: str | None = None) -> pd.DataFrame:
        """Per music neuron (rank order under ``by``): its rank, the bootstrap percentile interval of its rank
        (resamples where it is no music neuron count as rank n_music + 1), ``p_same_rank`` (share of resamples
        with exactly this rank), ``p_music`` (share where it is a music neuron), and its ranks by each ordering."""
        by = by or self.order_by
        order = self.ranking(by)
        music = np.flatnonzero(self.music_mask_)
        col = {int(d): i for i, d in enumerate(music)}
        rows = []
        alt = {o: {int(d): r for r, d in enumerate(self.ranking(o), start=1)} for o in ORDER_KEYS}
        a = (1 - self.ci) / 2
        for rank, d in enumerate(order, start=1):
            row = {"rank": rank, "latent_index": int(d), **{f"rank_by_{o}": alt[o][int(d)] for o in ORDER_KEYS}}
            rb = self.rank_bootstrap_.get(by)
            if rb is not None and rb.size:
                r = rb[:, col[int(d)]]
                r_or_out = np.where(r > 0, r, self.n_music_ + 1)
                row.update({"rank_lo": int(np.floor(np.quantile(r_or_out, a))),
                            "rank_hi": int(np.ceil(np.quantile(r_or_out, 1 - a))),
                            "p_same_rank": float((r == rank).mean()), "p_music": float((r > 0).mean())})
            rows.append(row)
        return pd.DataFrame(rows)

    def ranking(self, by: str = "var_mu") -> np.ndarray:
        """Latent indices of the music neurons, rank 1 first, by "var_mu", "mean_sigma" or "kl"."""
        key = {"var_mu": -self.var_mu_, "mean_sigma": self.mean_sigma_, "kl": -self.kl_}[by]
        idx = np.flatnonzero(self.music_mask_)
        return idx[np.argsort(key[idx], kind="stable")]

    def table(self, by: str | None = None, music_only: bool = True) -> pd.DataFrame:
        """Per-neuron statistics with rank (1 = most important) and raw latent index side by side.

        ``rank`` follows ``by`` (default ``order_by``); ``rank_by_var_mu``, ``rank_by_mean_sigma``
        and ``rank_by_kl`` give the alternatives. Noise neurons have rank 0.
        """
        order = self.ranking(by or self.order_by)
        rank = np.zeros(self.n_dims_, dtype=int)
        rank[order] = np.arange(1, order.size + 1)
        df = pd.DataFrame({
            "rank": rank, "latent_index": np.arange(self.n_dims_), "var_mu": self.var_mu_,
            "std_mu": self.std_mu_, "mean_mu": self.mean_mu_, "mean_sigma": self.mean_sigma_,
            "kl": self.kl_, "active_variance": self.active_variance_, "music": self.music_mask_,
            "kind": np.where(self.music_mask_, "music", np.where(self.leaky_mask_, "leaky", "noise")),
        })
        for alt in ORDER_KEYS:
            r = np.zeros(self.n_dims_, dtype=int)
            o = self.ranking(alt)
            r[o] = np.arange(1, o.size + 1)
            df[f"rank_by_{alt}"] = r
        if music_only:
            return df.iloc[order].reset_index(drop=True)
        rest = np.setdiff1d(np.arange(self.n_dims_), order)
        return pd.concat([df.iloc[order], df.iloc[rest]]).reset_index(drop=True)

    def sweep(self, thresholds=None) -> pd.DataFrame:
        """Number of music neurons for each sigma threshold (default 0.1..1.0 by 0.05)."""
        th = np.round(np.arange(0.1, 1.0001, 0.05), 4) if thresholds is None else np.asarray(thresholds, float)
        return pd.DataFrame({"sigma_threshold": th,
                             "n_music": [int((self.mean_sigma_ < t).sum()) for t in th]})

    def describe(self) -> str:
        """One line with the threshold, the rule that fired and the count."""
        ci = ""
        if self.n_music_ci_:
            ci = f" (bootstrap {int(self.ci * 100)}% CI {self.n_music_ci_[0]}-{self.n_music_ci_[1]})"
        return (f"{self.n_music_} music neurons of {self.n_dims_}{ci}: mean sigma < {self.sigma_threshold_:.4g} "
                f"[rule {self.threshold_rule_['rule']}: {self.threshold_rule_['reason']}]; "
                f"ranked by {self.order_by}")
