"""Disentanglement metrics on fixed data, with the symbolic features as the factors.

``codes`` is (n_samples, n_codes) (usually mu of the music neurons), ``factors`` is
(n_samples, n_factors) (feature values; NaN allowed: each factor uses the rows where it is present).

- **MIG** (Chen et al. 2018): per factor, the gap between the two largest mutual
  informations with single codes, divided by the factor's entropy. MI is the *binned*
  estimator: codes and factors each discretised into ``bins`` (default 20) uniform bins
  (disentanglement_lib's ``_histogram_discretize``), MI and entropy from the contingency
  table (``sklearn.metrics.mutual_info_score``), in nats.
- **SAP** (Kumar et al. 2018), continuous version: score ``[code, factor]`` = squared Pearson
  correlation; SAP = mean over factors of the gap between the two best codes.
- **DCI** (Eastwood & Williams 2018): importances ``R [code, factor]`` from one gradient-boosted tree
  ensemble per factor; disentanglement and completeness are 1 - normalised entropies weighted by importance
  (disentanglement_lib's formulas); informativeness is the mean held-out R^2. ``model="exact"`` is
  disentanglement_lib's ``GradientBoostingRegressor`` (exact splits, impurity importances);
  ``model="hist"`` is ``HistGradientBoostingRegressor`` with the same ensemble (50 trees, depth 3, learning rate
  0.1, no early stopping, leaves of >= 1 window) on 255-bin histograms, and as importance each code's total
  split gain (the same impurity-decrease idea on binned thresholds). It is 9x (2-bar) and 16x (16-bar) faster; on the default run's
  data D / C / I moved by 0.003 / 0.000 / 0.002 (2-bar) and 0.008 / 0.012 / 0.002 (16-bar). The default
  ``model="auto"`` keeps exact boosting for small data (training rows x codes <= 20,000), where it is faster.
- **Interpretability** (Adel et al. 2018, as computed by AR-VAE, Pati & Lerch 2021): per
  factor, the code with the largest kNN mutual information (``mutual_info_regression``),
  then the R^2 of a 1-D linear regression of the factor on that code; mean over factors.
- **Gaussian total correlation** (unsupervised): TC of the Gaussian fitted to the codes,
  ``0.5 * (sum log diag(C) - log det C)`` nats, C their covariance.
"""

from __future__ import annotations

import numpy as np



def _check(codes, factors):
    c = np.asarray(codes, dtype=float)
    f = np.asarray(factors, dtype=float)
    if f.ndim == 1:
        f = f[:, None]
    if c.ndim != 2 or f.ndim != 2 or c.shape[0] != f.shape[0]:
        raise ValueError(f"codes and factors must be 2-D with the same rows, got {c.shape}, {f.shape}")
    return c, f


def histogram_discretize(x, bins: int = 20) -> np.ndarray:
    """Discretise each column into ``bins`` uniform bins (labels 1..bins), shape kept."""
    x = np.asarray(x, dtype=float)
    x2 = x.reshape(x.shape[0], -1)
    out = np.zeros(x2.shape, dtype=np.int64)
    for j in range(x2.shape[1]):
        out[:, j] = np.digitize(x2[:, j], np.histogram(x2[:, j], bins)[1][:-1])
    return out.reshape(x.shape)


DENSE_MI_CELLS = 2 ** 22  # discrete_mutual_info: one dense table of all codes x labels up to this many cells


def _labels(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative integer labels of each column and each column's label count: integers in [0, 256) are their
    own labels (empty labels cost nothing but a few table cells), anything else is relabelled by ``np.unique``."""
    if a.dtype.kind in "iub" and a.size and a.min() >= 0 and a.max() < 256:
        lab = a.astype(np.int64)
        return lab, lab.max(axis=0) + 1
    lab = np.empty(a.shape, np.int64)
    for j in range(a.shape[1]):
        lab[:, j] = np.unique(a[:, j], return_inverse=True)[1].ravel()
    return lab, lab.max(axis=0) + 1


def discrete_mutual_info(codes_d, factors_d) -> np.ndarray:
    """MI (nats) between discrete codes and factors, shape=(n_codes, n_factors).

    The value of ``sklearn.metrics.mutual_info_score(factors_d[:, j], codes_d[:, i])`` for every pair (to ~1e-12,
    tested), with the contingency tables of all codes against one factor from one ``np.bincount``.
    """
    c = np.asarray(codes_d)
    f = np.asarray(factors_d)
    n = c.shape[0]
    out = np.zeros((c.shape[1], f.shape[1]))
    if n == 0 or c.shape[1] == 0:
        return out
    c, kc = _labels(c)
    f, kf = _labels(f)
    n_codes, K = c.shape[1], int(kc.max())
    base = (np.arange(n_codes) * K)[None, :] + c  # (n, n_codes): code and its label
    for j in range(f.shape[1]):
        F = int(kf[j])
        if n_codes * K * F <= DENSE_MI_CELLS:
            joint = np.bincount((base * F + f[:, j][:, None]).ravel(), minlength=n_codes * K * F)
            joint = joint.reshape(n_codes, K, F).astype(float)
            rc = joint.sum(axis=2, keepdims=True)
            rf = joint.sum(axis=1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                terms = np.where(joint > 0, joint / n * np.log(joint * n / (rc * rf)), 0.0)
            out[:, j] = terms.sum(axis=(1, 2))
            continue
        rf = np.bincount(f[:, j], minlength=F).astype(float)
        for i in range(n_codes):  # many labels: only the occupied cells of each table
            pair, joint = np.unique(c[:, i] * F + f[:, j], return_counts=True)
            rc = np.bincount(c[:, i], minlength=int(kc[i])).astype(float)
            joint = joint.astype(float)
            out[i, j] = np.sum(joint / n * np.log(joint * n / (rc[pair // F] * rf[pair % F])))
    return np.clip(out, 0.0, None)


def discrete_entropy(factors_d) -> np.ndarray:
    """Entropy (nats) of each discrete factor, shape=(n_factors,)."""
    out = np.zeros(factors_d.shape[1])
    for j in range(factors_d.shape[1]):
        p = np.unique(factors_d[:, j], return_counts=True)[1] / factors_d.shape[0]
        out[j] = -(p * np.log(p)).sum()
    return out


def mig_from_mi(mi, entropy) -> np.ndarray:
    """Per-factor MIG from an MI matrix (n_codes, n_factors) and factor entropies (n_factors,)."""
    mi = np.asarray(mi, dtype=float)
    s = np.sort(mi, axis=0)[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s[0] - s[1]) / np.asarray(entropy, dtype=float)


def mig(codes, factors, bins: int = 20) -> dict:
    """Mutual information gap with the binned MI estimator.

    Returns
    -------
    dict
        ``score`` (mean over factors with non-zero entropy), ``per_factor`` (n_factors,),
        ``mi`` (n_codes, n_factors), ``settings``.
    """
    c, f = _check(codes, factors)
    if c.shape[1] < 2:
        raise ValueError("MIG needs at least 2 codes")
    cd = histogram_discretize(c, bins)
    mi = np.full((c.shape[1], f.shape[1]), np.nan)
    h = np.zeros(f.shape[1])
    for j in range(f.shape[1]):  # rows with this factor present
        ok = ~np.isnan(f[:, j])
        if ok.sum() < 2:
            continue
        fd = histogram_discretize(f[ok, j][:, None], bins)
        mi[:, j] = discrete_mutual_info(cd[ok], fd)[:, 0]
        h[j] = discrete_entropy(fd)[0]
    per = mig_from_mi(mi, h)
    per[h == 0] = np.nan
    return {"score": float(np.nanmean(per)) if np.isfinite(per).any() else float("nan"),
            "per_factor": per, "mi": mi,
            "settings": {"mi": "binned (sklearn mutual_info_score on discretised values), nats",
                         "bins": bins, "binning": "uniform histogram bins per column (disentanglement_lib)"}}


def sap_score_matrix(codes, factors) -> np.ndarray:
    """Squared Pearson correlation of each code with each factor, shape=(n_codes, n_factors).

    Codes with variance <= 1e-12 score 0.
    """
    c, f = _check(codes, factors)
    cc = c - c.mean(axis=0)
    ff = f - f.mean(axis=0)
    cov = cc.T @ ff / (c.shape[0] - 1)
    vc = cc.var(axis=0, ddof=1)
    vf = ff.var(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = cov**2 / np.outer(vc, vf)
    s[vc <= 1e-12] = 0.0
    return np.nan_to_num(s, nan=0.0)


def sap(codes, factors) -> dict:
    """Separated attribute predictability (continuous factors).

    Returns
    -------
    dict
        ``score``, ``per_factor`` (top-1 minus top-2 score per factor), ``score_matrix``, ``settings``.
    """
    c, f = _check(codes, factors)
    if c.shape[1] < 2:
        raise ValueError("SAP needs at least 2 codes")
    m = np.zeros((c.shape[1], f.shape[1]))
    for j in range(f.shape[1]):  # rows with this factor present
        ok = ~np.isnan(f[:, j])
        if ok.sum() > 2:
            m[:, j] = sap_score_matrix(c[ok], f[ok, j])[:, 0]
    s = np.sort(m, axis=0)
    per = s[-1] - s[-2]
    return {"score": float(per.mean()), "per_factor": per, "score_matrix": m,
            "settings": {"score": "squared Pearson correlation (continuous factors)"}}


def _entropy_rows(p, base):
    p = p / p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.where(p > 0, np.log(p), 0.0)
    return -(p * lp).sum(axis=1) / np.log(base)


def dci_from_importance(importance) -> dict:
    """Disentanglement and completeness from an importance matrix (n_codes, n_factors).

    Per code ``1 - H_{n_factors}(R_i. / sum R_i.)``, weighted by the code's share of the total
    importance; per factor ``1 - H_{n_codes}(R_.j / sum R_.j)``, weighted likewise. A small
    1e-11 is added to every entry (as disentanglement_lib does).
    """
    r = np.abs(np.asarray(importance, dtype=float))
    n_codes, n_factors = r.shape
    re = r + 1e-11
    dis_code = 1.0 - _entropy_rows(re, n_factors) if n_factors > 1 else np.ones(n_codes)
    com_factor = 1.0 - _entropy_rows(re.T, n_codes) if n_codes > 1 else np.ones(n_factors)
    w = r if r.sum() > 0 else np.ones_like(r)
    code_w = w.sum(axis=1) / w.sum()
    factor_w = w.sum(axis=0) / w.sum()
    return {"disentanglement": float((dis_code * code_w).sum()),
            "completeness": float((com_factor * factor_w).sum()),
            "disentanglement_per_code": dis_code, "completeness_per_factor": com_factor}


DCI_MODELS = ("auto", "hist", "exact")
DCI_EXACT_MAX_CELLS = 20_000  # "auto": exact boosting up to this many training rows x codes (faster there)


def dci(codes, factors, n_estimators: int = 50, max_depth: int = 3, test_size: float = 0.3,
        max_samples: int | None = 5000, random_state: int = 0, n_jobs: int | None = -1,
        model: str = "auto") -> dict:
    """DCI with gradient-boosting importances (one ensemble per factor; the rows of every factor are drawn
    first, so the result does not depend on ``n_jobs``; factors are fitted on ``n_jobs`` threads). ``model``: "hist"
    (histogram boosting, split-gain importances), "exact" (disentanglement_lib's ``GradientBoostingRegressor``,
    impurity importances; see the module docstring) or "auto": exact when the training rows x codes are at most
    :data:`DCI_EXACT_MAX_CELLS` (histogram boosting has a fixed cost of ~0.1 s per factor, exact boosting grows
    with the data: exact is the faster there), hist above. ``settings["model_rule"]`` says which was used.

    Returns
    -------
    dict
        ``disentanglement``, ``completeness``, ``informativeness`` (mean held-out R^2),
        ``importance`` (n_codes, n_factors), per-code/per-factor arrays, ``settings``.
    """
    from joblib import Parallel, delayed

    if model not in DCI_MODELS:
        raise ValueError(f"model must be one of {DCI_MODELS}, got {model!r}")
    c, f = _check(codes, factors)
    rng = np.random.default_rng(random_state)
    imp = np.zeros((c.shape[1], f.shape[1]))
    r2 = np.full(f.shape[1], np.nan)
    jobs = []
    for j in range(f.shape[1]):
        rows = np.flatnonzero(~np.isnan(f[:, j]))
        if max_samples is not None and rows.size > max_samples:
            rows = rng.choice(rows, max_samples, replace=False)
        rows = rng.permutation(rows)
        n_test = int(round(test_size * rows.size))
        te, tr = rows[:n_test], rows[n_test:]
        if tr.size < 2 or np.ptp(f[tr, j]) == 0:
            continue
        jobs.append((j, c[tr], f[tr, j], c[te], f[te, j]))
    rule = f"model={model!r}"
    if model == "auto":
        cells = max((len(job[2]) for job in jobs), default=0) * c.shape[1]
        model = "exact" if cells <= DCI_EXACT_MAX_CELLS else "hist"
        rule = (f"auto: {cells} training rows x codes {'<=' if model == 'exact' else '>'} {DCI_EXACT_MAX_CELLS} "
                f"-> {model}")
    fit = _fit_hist_importance if model == "hist" else _fit_importance
    fitted = Parallel(n_jobs=n_jobs, prefer="threads")(  # threads: no worker outlives a killed run
        delayed(fit)(c_tr, f_tr, c_te, f_te, n_estimators, max_depth, random_state)
        for _, c_tr, f_tr, c_te, f_te in jobs)
    for (j, *_), (importance, score) in zip(jobs, fitted):
        imp[:, j] = importance
        r2[j] = score
    out = dci_from_importance(imp)
    out.update(informativeness=float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan"),
               informativeness_per_factor=r2, importance=imp,
               settings={"model": (f"GradientBoostingRegressor(n_estimators={n_estimators}, max_depth={max_depth})"
                                   if model == "exact" else
                                   f"HistGradientBoostingRegressor(max_iter={n_estimators}, max_depth={max_depth}, "
                                   "learning_rate=0.1, early_stopping=False, min_samples_leaf=1, max_bins=255)"),
                         "model_rule": rule,
                         "importance": ("impurity-based feature_importances_" if model == "exact" else
                                        "total split gain per code over all trees, normalised"),
                         "test_size": test_size,
                         "max_samples": max_samples, "informativeness": "held-out R^2"})
    return out


def _fit_hist_importance(c_tr, f_tr, c_te, f_te, n_estimators, max_depth, random_state):
    """A ``HistGradientBoostingRegressor`` shaped like disentanglement_lib's ensemble; importance of each code:
    the gain of every split on it, summed over the trees (scikit-learn keeps them in the fitted predictors'
    ``nodes`` records: ``feature_idx``, ``gain``, ``is_leaf``), normalised to sum 1."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    model = HistGradientBoostingRegressor(max_iter=n_estimators, max_depth=max_depth, learning_rate=0.1,
                                          early_stopping=False, min_samples_leaf=1, l2_regularization=0.0,
                                          max_leaf_nodes=None, random_state=random_state)
    with threadpool_limits(1, user_api="openmp"):  # one OpenMP thread per fit: the factors already run in parallel
        model.fit(c_tr, f_tr)
    gain = np.zeros(c_tr.shape[1])
    for (tree,) in model._predictors:
        split = tree.nodes[tree.nodes["is_leaf"] == 0]
        np.add.at(gain, split["feature_idx"], np.maximum(split["gain"], 0.0))
    total = gain.sum()
    return (gain / total if total > 0 else gain), (model.score(c_te, f_te) if len(f_te) > 1 else np.nan)


def _fit_importance(c_tr, f_tr, c_te, f_te, n_estimators, max_depth, random_state):
    from sklearn.ensemble import GradientBoostingRegressor

    model = GradientBoostingRegressor(n_estimators=n_estimators, max_depth=max_depth,
                                      random_state=random_state).fit(c_tr, f_tr)
    return model.feature_importances_, (model.score(c_te, f_te) if len(f_te) > 1 else np.nan)


def interpretability(codes, factors, mi: str = "knn", n_neighbors: int = 3, bins: int = 20,
                     max_samples: int | None = 5000, random_state: int = 0, mi_table=None,
                     mi_table_source: str = "given") -> dict:
    """Interpretability metric of Adel et al. (2018) as in AR-VAE.

    Parameters
    ----------
    mi : {"knn", "binned"}
        How the most informative code is chosen: kNN MI (``mutual_info_regression``, as
        AR-VAE) or the binned MI of :func:`mig`.
    mi_table : array-like, shape=(n_codes, n_factors), optional
        An MI table already computed for these codes and factors (e.g. the kNN cross-check of
        :class:`~musicneurons.analysis.NeuronFeatureCorrelation`): the most informative code is read from it
        instead of computed again; a factor whose column is all NaN falls back to ``mi``.
    mi_table_source : str
        How ``mi_table`` was computed, for the settings.

    Returns
    -------
    dict
        ``score`` (mean R^2), ``per_factor`` R^2 (n_factors,), ``best_code`` (n_factors,) column
        index in ``codes``, ``settings``.
    """
    from .correlate import ksg_mutual_info

    c, f = _check(codes, factors)
    if mi_table is not None:
        mi_table = np.asarray(mi_table, dtype=float)
        if mi_table.shape != (c.shape[1], f.shape[1]):
            raise ValueError(f"mi_table must have shape {(c.shape[1], f.shape[1])}, got {mi_table.shape}")
    rng = np.random.default_rng(random_state)
    per = np.full(f.shape[1], np.nan)
    best = np.full(f.shape[1], -1)
    from_table = 0
    for j in range(f.shape[1]):
        rows = np.flatnonzero(~np.isnan(f[:, j]))
        if rows.size < 3 or rows.size <= n_neighbors or np.ptp(f[rows, j]) == 0:
            continue
        sel = rows if max_samples is None or rows.size <= max_samples else rng.choice(rows, max_samples, replace=False)
        if mi_table is not None and np.isfinite(mi_table[:, j]).any():
            m = np.nan_to_num(mi_table[:, j], nan=-np.inf)
            from_table += 1
        elif mi == "knn":
            m = ksg_mutual_info(c[sel], f[sel, j], n_neighbors=n_neighbors, random_state=random_state)
        elif mi == "binned":
            m = discrete_mutual_info(histogram_discretize(c[sel], bins),
                                     histogram_discretize(f[sel, j][:, None], bins))[:, 0]
        else:
            raise ValueError(f"mi must be 'knn' or 'binned', got {mi!r}")
        d = int(np.argmax(m))
        x, y = c[rows, d], f[rows, j]
        best[j] = d
        per[j] = float(np.corrcoef(x, y)[0, 1] ** 2) if np.ptp(x) > 0 else 0.0  # = LinearRegression R^2
    return {"score": float(np.nanmean(per)) if np.isfinite(per).any() else float("nan"),
            "per_factor": per, "best_code": best,
            "settings": {"mi": (f"kNN (Kraskov, = sklearn mutual_info_regression, n_neighbors={n_neighbors})" if mi == "knn"
                                else f"binned, {bins} uniform bins"), "max_samples": max_samples,
                         "mi_table": (f"most informative code read from an MI table ({mi_table_source}) for "
                                      f"{from_table} of {f.shape[1]} factors" if mi_table is not None else None),
                         "score": "R^2 of a 1-D linear regression on the chosen code"}}


def gaussian_total_correlation(codes, extra_variance=None) -> float:
    """Total correlation (nats) of the Gaussian fitted to ``codes`` (n_samples, n_codes).

    ``extra_variance`` (n_codes,), e.g. the mean sigma^2, is added to the diagonal to get the
    Gaussian approximation of the aggregate posterior instead of the distribution of mu.
    """
    c = np.asarray(codes, dtype=float)
    cov = np.atleast_2d(np.cov(c, rowvar=False))
    if extra_variance is not None:
        cov = cov + np.diag(np.asarray(extra_variance, dtype=float))
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.log(np.diag(cov)).sum() - logdet))


def disentanglement_report(codes, factors, factor_names=None, bins: int = 20, dci_kwargs=None,
                           interpretability_kwargs=None) -> dict:
    """All five metrics at once, as plain floats plus their settings."""
    m = mig(codes, factors, bins=bins)
    s = sap(codes, factors)
    d = dci(codes, factors, **(dci_kwargs or {}))
    i = interpretability(codes, factors, **(interpretability_kwargs or {}))
    names = list(factor_names) if factor_names is not None else [str(j) for j in range(np.shape(factors)[1])]
    return {
        "mig": m["score"], "sap": s["score"], "dci_disentanglement": d["disentanglement"],
        "dci_completeness": d["completeness"], "dci_informativeness": d["informativeness"],
        "interpretability": i["score"], "gaussian_total_correlation": gaussian_total_correlation(codes),
        "per_factor": {n: {"mig": float(m["per_factor"][k]), "sap": float(s["per_factor"][k]),
                           "interpretability": float(i["per_factor"][k])} for k, n in enumerate(names)},
        "settings": {"mig": m["settings"], "sap": s["settings"], "dci": d["settings"],
                     "interpretability": i["settings"], "total_correlation": "Gaussian fit to the codes, nats"},
    }
