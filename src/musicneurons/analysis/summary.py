"""One call to run the analysis on a model's latents, and a JSON-serialisable summary.

``analyze_latents`` fits the estimators of this package on arrays (no model needed, the
decoder enters only through ``decode_fn``); ``summarize`` turns one or more fitted analyses
(keyed by model, e.g. ``"2bar"``, ``"16bar"``) into plain dicts/lists/floats/ints/None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from .activation import RealRandomDetector
from .attributes import AttributeVectors
from .baselines import (N_TOP, PhikPermutationNull, baselines_summary, metrics_permutation_null, trained_reference,
                        untrained_baseline)
from .correlate import NeuronFeatureCorrelation, neuron_correlations
from .intervene import DECODE_BATCH, NeuronAblation, Traversal, _decode, ablate_noise, zero_dims
from .metrics import disentanglement_report
from .neurons import NeuronProfile
from .twinkle import twinkle_table


def to_jsonable(obj: Any) -> Any:
    """Recursively convert numpy / pandas values to JSON types; NaN and inf become None."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return to_jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)


@dataclass
class LatentAnalysis:
    """The fitted pieces of one model's analysis (any may be None when not computed)."""

    profile: NeuronProfile
    correlation: NeuronFeatureCorrelation | None = None
    neuron_correlations: dict | None = None
    attributes: AttributeVectors | None = None
    detector: RealRandomDetector | None = None
    ablation: dict | None = None
    metrics: dict | None = None
    twinkle: pd.DataFrame | None = None
    neuron_ablation: NeuronAblation | None = None
    traversal: Traversal | None = None
    traversal_null: Traversal | None = None
    null: PhikPermutationNull | None = None
    baselines: dict | None = None
    untrained_phik: pd.DataFrame | None = None
    health: dict | None = None
    intervention_melodies: np.ndarray | None = None  # indices of the melodies the interventions used
    settings: dict = field(default_factory=dict)


#: windows decoded for the noise ablation and the model-health numbers (a seeded subsample of the real windows),
#: by window length in steps: a 16-bar greedy decode costs ~8x a 2-bar one
DECODE_SUBSAMPLE = {32: 1000, 256: 250}
HELD_OUT_MIN_WINDOWS = 100  # fewer held-out windows than this: no held-out panel (too few for a σ rule)
HELD_OUT_MAX_NEURONS = 30  # the held-out panel's per-neuron analyses (φK, its null) on the top 30 music neurons
MAX_ABLATED = 16  # single-neuron ablations: the top-ranked music neurons (each costs a decode of every melody)


class _Clock:
    """Logs each sub-step's name when it starts and its wall time when the next one starts."""

    def __init__(self, log):
        self.log, self.name, self.t0 = log, None, 0.0

    def start(self, name):
        import time

        if self.log is not None and self.name is not None:
            self.log(f"{self.name}: {time.time() - self.t0:.1f} s")
        self.name, self.t0 = name, time.time()


def analyze_latents(mu, sigma, features: pd.DataFrame | None = None, categories: Mapping[str, str] | None = None,
                    mu_random=None, events=None, decode_fn: Callable | None = None, *,
                    model=None, sigma_threshold="auto", order_by: str = "var_mu", n_bootstrap: int = 200,
                    activation_threshold: float = 0.1, phik_bins: int = 10, cross_checks: bool = True,
                    metrics: bool = False, twinkle_mu=None, twinkle_sigma=None,
                    features_fn: Callable | None = None, n_decoded: int | str | None = "auto",
                    n_intervention_melodies: int = 32, n_traversed: int = 5, max_ablated: int | None = MAX_ABLATED,
                    max_neurons: int | None = 128, progress: bool = False,
                    n_permutations: int = 0, n_metric_permutations: int = 0, untrained_mu=None, untrained_sigma=None, untrained_seed=None,
                    n_top: int = N_TOP, random_state: int = 0, log: Callable[[str], None] | None = None,
                    groups=None) -> LatentAnalysis:
    """Run the array-level analysis of one model.

    Parameters
    ----------
    mu, sigma : array-like, shape=(n_samples, n_dims)
        Posterior of the real inputs.
    features : pd.DataFrame, shape=(n_samples, n_features), optional
        Feature table of the same inputs (columns feature ids), with ``categories``.
    mu_random : array-like, shape=(n_random, n_dims), optional
        Posterior means of random note sequences (real vs random detector).
    events, decode_fn : optional
        The inputs' events (n_samples, T) and a greedy decoder ``z (n, z_size) -> events (n, T)``, for the
        noise ablation (on ``n_decoded`` windows).
    model : MusicVAE, optional
        The model behind ``mu``: its greedy decode is ``decode_fn`` when that is not given, and with ``events``
        the model-health gate is computed (:func:`musicneurons.model.health.model_health` +
        :func:`musicneurons.analysis.health.health_gate`) on the noise ablation's windows.
    n_decoded : int, "auto" or None
        Windows (a seeded subsample) for the noise ablation and the health gate; "auto":
        :data:`DECODE_SUBSAMPLE` by window length (1000 for 2 bars, 250 for 16); None: all.
    metrics : bool
        Also compute the disentanglement metrics (MIG, SAP, DCI, Interpretability, TC) on the
        music neurons (DCI trains one gradient-boosting model per feature).
    twinkle_mu, twinkle_sigma : array-like, shape=(n_dims,), optional
        The posterior of ``twinkle_events(n_bars)``; adds :func:`twinkle_table`.
    features_fn : callable, optional
        ``events -> DataFrame``; with ``decode_fn`` adds the single-neuron ablation of every
        top ``max_ablated`` music neurons (None: all) and the traversal of the ``n_traversed``
        top-ranked ones, on ``n_intervention_melodies`` randomly chosen inputs.
    max_neurons : int or None
        The per-neuron analyses (phik among neurons and with features, MI, single-neuron
        ablation) use the top ``max_neurons`` ranked music neurons (phik costs ~2.5 ms per
        pair; all 512 dims of an untrained model would take many minutes). None: all.
    progress : bool
        Progress bar for the phik computation.
    log : callable, optional
        Called with one line per finished sub-step and its wall time.
    groups : array-like, shape=(n_samples,), optional
        The source file of each input: the bootstrap of the count and of the ranks resamples whole files
        (windows of one file are not independent).
    n_permutations : int
        With features: the permutation null of each analysed neuron's best-feature phik
        (:class:`~musicneurons.analysis.baselines.PhikPermutationNull`, seeded by ``random_state``);
        the summary then labels (P/R/M) only the neurons whose best phik clears its 99th percentile.
        The same shuffles give each neuron's null of its best |Spearman ρ|. With ``groups`` the shuffles
        exchange whole source files. 0: no null, labels ungated.
    n_metric_permutations : int
        With ``metrics``: shuffles of the features for the metrics' null
        (:func:`~musicneurons.analysis.baselines.metrics_permutation_null`; each costs one metrics pass).
    untrained_mu, untrained_sigma : array-like, shape=(n_samples, n_dims), optional
        The posterior of the same architecture, untrained, on the same inputs: analysed by
        :func:`~musicneurons.analysis.baselines.untrained_baseline` (its top ``n_top`` dims; the metrics
        too when ``metrics``) and compared with the trained model's top ``n_top`` music neurons.
    """
    clock = _Clock(log)
    clock.start("profile" + (", phik, attribute vectors" if features is not None else "")
                + (", disentanglement metrics" if metrics and features is not None else ""))
    mu = np.asarray(mu, dtype=float)
    profile = NeuronProfile(sigma_threshold=sigma_threshold, order_by=order_by, n_bootstrap=n_bootstrap,
                            random_state=random_state).fit(mu, sigma, groups=groups)
    out = LatentAnalysis(profile=profile)
    metric_factors = None  # the features as the metrics' factors (numeric, inf -> NaN), when metrics are computed
    order = profile.order_ if max_neurons is None else profile.order_[:max_neurons]
    if order.size > 1:
        out.neuron_correlations = neuron_correlations(mu, order, bins=phik_bins)
    if features is not None:
        if categories is None:
            raise ValueError("categories (feature id -> 'P'|'R'|'M') are needed with features")
        out.correlation = NeuronFeatureCorrelation(bins=phik_bins, cross_checks=cross_checks, progress=progress,
                                                   random_state=random_state).fit(mu, features, categories, order)
        out.attributes = AttributeVectors(random_state=random_state).fit(mu, features)
        if metrics and order.size > 1:
            kept = out.correlation.feature_names_
            fac = metric_factors = (features[kept].apply(pd.to_numeric, errors="coerce")
                                    .replace([np.inf, -np.inf], np.nan).to_numpy(dtype=float))
            c = out.correlation
            reuse = {}
            if cross_checks:  # the cross-check's kNN MI of these codes and factors: not estimated twice
                reuse = {"mi_table": c.mi_.loc[[int(d) for d in order], kept].to_numpy(dtype=float),
                         "mi_table_source": f"the correlation's kNN cross-check, n_neighbors={c.mi_neighbors}, "
                                            f"at most {c.mi_max_samples} windows"}
            out.metrics = disentanglement_report(
                mu[:, order], fac, factor_names=kept,
                dci_kwargs={"random_state": random_state},
                interpretability_kwargs={"random_state": random_state, **reuse})
    if mu_random is not None:
        out.detector = RealRandomDetector(threshold=activation_threshold).fit(mu, mu_random, profile.music_mask_,
                                                                              noise_mask=profile.noise_mask_)
    models_decode = model is not None and decode_fn is None  # the health gate may then reuse decode_fn's decodes
    if models_decode:
        def decode_fn(z):
            return model.decode(np.asarray(z, np.float32))
    rng = np.random.default_rng(random_state)  # one stream: the decoded subsample, then the intervention melodies
    decoded_settings = health_settings = None
    if events is not None and decode_fn is not None:
        events = np.asarray(events)
        if events.shape[0] != mu.shape[0]:
            raise ValueError(f"events {events.shape} and mu {mu.shape} do not match")
        n_dec = (DECODE_SUBSAMPLE.get(events.shape[1], 250) if n_decoded == "auto"
                 else events.shape[0] if n_decoded is None else int(n_decoded))
        n_dec = min(n_dec, events.shape[0])
        idx = np.sort(rng.choice(events.shape[0], n_dec, replace=False))
        noise = ~profile.music_mask_
        clock.start(f"greedy decodes of mu, and of mu with the noise neurons at 0 ({n_dec} windows each, the "
                    f"health gate's and the noise ablation's)")
        full = _decode(decode_fn, np.asarray(mu[idx]), DECODE_BATCH)
        zeroed = _decode(decode_fn, zero_dims(mu[idx], noise), DECODE_BATCH)
        if model is not None:
            from ..model.health import model_health
            from .health import health_gate

            clock.start(f"model health ({n_dec} windows; one more greedy decode only where its own σ split differs)")
            out.health = health_gate(model_health(model, events[idx], mu=mu[idx], sigma=np.asarray(sigma)[idx],
                                                  recon=full if models_decode else None,
                                                  zeroed=(noise, zeroed) if models_decode else None))
            health_settings = {"n_windows": int(n_dec), "max_windows_by_steps": dict(DECODE_SUBSAMPLE),
                               "windows": "the noise ablation's seeded subsample of the real windows",
                               "thresholds": out.health["thresholds"], "rule": out.health["rule"]}
        clock.start("noise ablation")
        out.ablation = ablate_noise(events[idx], mu[idx], noise, decode_fn, full=full, ablated=zeroed)
        decoded_settings = {"n_windows": int(n_dec), "value": 0.0, "decode": "greedy",
                            "windows": f"seeded subsample (random_state {random_state}) of the real windows; "
                                       f"n_decoded={n_decoded!r}"}
    if decode_fn is not None and features_fn is not None and order.size:
        ablated = order if max_ablated is None else order[:max_ablated]
        n_pick = min(n_intervention_melodies, mu.shape[0])
        clock.start(f"interventions ({ablated.size} ablations, {min(n_traversed, order.size)} traversals on "
                    f"{n_pick} melodies)")
        pick = np.sort(rng.choice(mu.shape[0], n_pick, replace=False))
        out.neuron_ablation = NeuronAblation().fit(mu[pick], ablated, decode_fn, features_fn)
        out.traversal = Traversal().fit(mu[pick], order[:n_traversed], decode_fn, features_fn, population_mu=mu)
        out.intervention_melodies = pick
        # the chance level of a traversal effect: as many non-music dims, noise (Burda-inactive) ones first,
        # swept over the prior's range on the same melodies (a seeded choice of its own stream)
        pool = [np.flatnonzero(profile.noise_mask_), np.flatnonzero(profile.leaky_mask_)]
        k = min(n_traversed, sum(p.size for p in pool))
        if k:
            null_rng = np.random.default_rng([random_state, 7])
            chosen = []
            for p_ in pool:
                take = min(k - len(chosen), p_.size)
                chosen += [int(d) for d in np.sort(null_rng.choice(p_, take, replace=False))] if take else []
            out.traversal_null = Traversal(sweep="prior").fit(mu[pick], chosen, decode_fn, features_fn)
    if twinkle_mu is not None and twinkle_sigma is not None:
        out.twinkle = twinkle_table(twinkle_mu, twinkle_sigma, mu, sigma, profile.music_mask_, order)
    base_settings = None
    if out.correlation is not None and (n_permutations or n_metric_permutations or untrained_mu is not None):
        import time

        clock.start((f"permutation null ({n_permutations} shuffles)" if n_permutations else "")
                    + (f", metrics null ({n_metric_permutations} shuffles)"
                       if n_metric_permutations and out.metrics is not None else "")
                    + (", untrained baseline" if untrained_mu is not None else ""))
        kept = out.correlation.feature_names_
        t0 = time.time()
        if n_permutations and order.size:
            out.null = PhikPermutationNull(n_permutations=n_permutations, bins=phik_bins,
                                           noise_correction=out.correlation.noise_correction,
                                           random_state=random_state).fit(mu, features, order, feature_names=kept,
                                                                          groups=groups)
        t1 = time.time()
        metrics_null = None
        if n_metric_permutations and out.metrics is not None:
            c = out.correlation
            metrics_null = metrics_permutation_null(
                mu[:, order], metric_factors, factor_names=kept, n_permutations=n_metric_permutations,
                random_state=random_state, mi_neighbors=c.mi_neighbors,
                mi_max_samples=c.mi_max_samples if cross_checks else None, groups=groups)
        t2 = time.time()
        untrained = None
        n_cmp = min(n_top, order.size) if order.size else n_top  # the same number of dims on both sides
        if untrained_mu is not None:
            untrained, out.untrained_phik = untrained_baseline(
                untrained_mu, untrained_sigma, features, categories, sigma_threshold=sigma_threshold,
                order_by=order_by, phik_bins=phik_bins, n_top=n_cmp, feature_names=kept,
                metrics=metrics and out.metrics is not None, metrics_n_dims=order.size, random_state=random_state,
                seed=untrained_seed, mi_neighbors=out.correlation.mi_neighbors,
                mi_max_samples=out.correlation.mi_max_samples if cross_checks else None)
        trained = (trained_reference(mu, out.correlation.phik_, order, n_cmp, out.metrics,
                                     spearman=out.correlation.spearman_ if cross_checks else None,
                                     mi=out.correlation.mi_ if cross_checks else None) if order.size else None)
        out.baselines = baselines_summary(out.null, untrained, trained, metrics_null)
        base_settings = {"permutation": out.null.settings_ if out.null is not None else None,
                         "untrained": ({"n_top": n_cmp, "init": untrained["init"], "seed": untrained_seed,
                                        "n_top_rule": f"min({n_top}, the trained model's analysed music neurons)",
                                        "ranking": f"by {order_by} among its music neurons (same sigma rule), "
                                                   f"or among all dims when it has fewer than {n_cmp}",
                                        "metrics_n_dims": untrained["metrics_n_dims"]} if untrained else None),
                         "label_rule": out.baselines.get("rule"),
                         "metrics_null": ({k: metrics_null[k] for k in ("n_permutations", "shuffle")}
                                          if metrics_null else None),
                         "seconds_permutation": round(t1 - t0, 2), "seconds_metrics_null": round(t2 - t1, 2),
                         "seconds_untrained": round(time.time() - t2, 2)}
    out.settings = {"profile": profile.settings_,
                    "correlation": out.correlation.settings_ if out.correlation else None,
                    "attributes": out.attributes.settings_ if out.attributes else None,
                    "activation": (out.detector.settings_ if out.detector
                                   else {"activation_threshold": activation_threshold}),
                    "metrics": out.metrics["settings"] if out.metrics else None,
                    "neuron_ablation": ({**out.neuron_ablation.settings_, "n_neurons": int(ablated.size),
                                         "max_ablated": max_ablated} if out.neuron_ablation else None),
                    "traversal": out.traversal.settings_ if out.traversal else None,
                    "traversal_null": ({**out.traversal_null.settings_, "dims": [int(d) for d in out.traversal_null.grid_],
                                        "kind": _null_kind(profile, out.traversal_null),
                                        "rule": "a traversal effect clears the null when it exceeds the largest "
                                                "effect on the same feature among the traversed non-music dims"}
                                       if out.traversal_null else None),
                    "noise_ablation": decoded_settings,
                    "health": health_settings,
                    "baselines": base_settings,
                    "analysed_neurons": (f"top {order.size} of {profile.n_music_} music neurons by {order_by}"
                                         if order.size < profile.n_music_ else f"all {order.size} music neurons"),
                    "random_state": random_state}
    clock.start(None)
    return out


def _top_effects(effect: pd.DataFrame, null: Traversal | None = None) -> list[dict]:
    """Per neuron (row) the feature with the largest standardised effect (None if nothing moved); with a
    traversal ``null``, also the largest null effect on that feature and whether the neuron's effect exceeds it."""
    out = []
    null_max = null.effect_.max(axis=0, skipna=True) if null is not None and len(null.effect_) else None
    for d, row in effect.iterrows():
        r = row.dropna()
        moved = not r.empty and r.max() > 0
        e = {"latent_index": int(d), "feature": str(r.idxmax()) if moved else None,
             "effect": float(r.max()) if not r.empty else None}
        if null_max is not None:
            q = null_max.get(e["feature"]) if e["feature"] is not None else None
            q = float(q) if q is not None and np.isfinite(q) else (0.0 if e["feature"] is not None else None)
            e.update(null_max_effect=q, clears_null=(bool(e["effect"] > q) if q is not None else None))
        out.append(e)
    return out


def _null_kind(profile: NeuronProfile, null: Traversal) -> str:
    """"noise", "leaky" or "noise and leaky": which non-music dims the traversal null swept."""
    noise = profile.noise_mask_[[int(d) for d in null.grid_]]
    return "noise" if noise.all() else "leaky" if not noise.any() else "noise and leaky"


def _null_summary(null: Traversal | None, profile: NeuronProfile) -> dict | None:
    if null is None:
        return None
    eff = null.effect_
    best = eff.max(axis=1, skipna=True) if len(eff) else pd.Series(dtype=float)
    return {"dims": [int(d) for d in null.grid_], "kind": _null_kind(profile, null),
            "max_effect": float(np.nanmax(best.to_numpy(float))) if best.notna().any() else 0.0,
            "per_dim_max_effect": {str(int(d)): (float(v) if np.isfinite(v) else 0.0) for d, v in best.items()}}


def summarize_model(analysis: LatentAnalysis) -> dict:
    """The JSON summary of one model's analysis (see :func:`summarize`)."""
    p = analysis.profile
    c = analysis.correlation
    null = analysis.null
    up = analysis.untrained_phik
    neurons = []
    cleared = {}
    intervals = p.rank_intervals().set_index("latent_index")
    for rank, d in enumerate(p.order_, start=1):
        top, val = c.top_feature(int(d)) if c is not None else (None, None)
        cat = c.dominant_category_.get(int(d)) if c is not None else None
        entry = {
            "rank": rank, "latent_index": int(d), "var_mu": float(p.var_mu_[d]),
            "mean_sigma": float(p.mean_sigma_[d]), "kl": float(p.kl_[d]),
            "top_feature": top, "top_phik": val, "category": cat,
            **{k: (float(v) if k.startswith("p_") else int(v)) for k, v in intervals.loc[int(d)].items()
               if k != "rank"},
        }
        if null is not None:
            q = null.q99_.get(int(d))
            q = float(q) if q is not None and np.isfinite(q) else None
            ok = (bool(val > q) if (q is not None and val is not None and np.isfinite(val)) else None)
            cleared[int(d)] = ok
            entry.update({"top_phik_null_q99": q, "clears_null": ok, "category_raw": cat,
                          "category": cat if ok else None,
                          "label": (cat if ok else "below chance" if ok is False else None)})
            rq = null.spearman_q99_.get(int(d))
            rho = (float(c.spearman_.loc[int(d)].abs().max()) if int(d) in c.spearman_.index
                   and c.spearman_.loc[int(d)].notna().any() else None)
            rq = float(rq) if rq is not None and np.isfinite(rq) else None
            entry.update({"best_abs_spearman": rho, "spearman_null_q99": rq,
                          "clears_spearman_null": bool(rho > rq) if rho is not None and rq is not None else None})
        if up is not None:
            entry["untrained_feature_phik"] = (float(up[top].max()) if top is not None and top in up.columns
                                               and up[top].notna().any() else None)
        neurons.append(entry)
    category_neurons = c.category_neurons_ if c is not None else None
    if category_neurons is not None and null is not None:  # only neurons whose label clears the null
        category_neurons = {k: [d for d in v if cleared.get(int(d))] for k, v in category_neurons.items()}
    keys = ["activated_music_real_mean", "activated_noise_real_mean", "activated_music_random_mean",
            "activated_noise_random_mean", "auc"]
    act = {k: (analysis.detector.summary_[k] if analysis.detector else None) for k in keys}
    if analysis.detector:
        act.update({k: v for k, v in analysis.detector.summary_.items() if k not in act})
    abl = {"recon_accuracy_full": None, "recon_accuracy_noise_zeroed": None}
    if analysis.ablation:
        abl.update(analysis.ablation)
    kl_total = float(p.kl_.sum())
    s = {
        "n_music_neurons": p.n_music_,
        "n_music_neurons_ci": list(p.n_music_ci_) if p.n_music_ci_ else None,
        "n_noise_neurons": p.n_noise_,
        "n_leaky_neurons": p.n_leaky_,
        "kl_share": {kind: (float(p.kl_[mask].sum()) / kl_total if kl_total > 0 else None)
                     for kind, mask in (("music", p.music_mask_), ("noise", p.noise_mask_), ("leaky", p.leaky_mask_))},
        "kl_bits_per_window": {kind: float(p.kl_[mask].sum() / math.log(2.0)) for kind, mask in
                               (("music", p.music_mask_), ("noise", p.noise_mask_), ("leaky", p.leaky_mask_))},
        "sensitivity": p.sensitivity(),
        "orderings": {o: [int(d) for d in p.ranking(o)[:10]] for o in ("var_mu", "mean_sigma", "kl")},
        "bootstrap_groups": p.n_groups_,
        "n_dims": p.n_dims_,
        "n_samples": p.n_samples_,
        "sigma_threshold": p.sigma_threshold_,
        "sigma_threshold_rule": p.threshold_rule_["rule"],
        "order_by": p.order_by,
        "sigma_threshold_sweep": p.sweep().to_dict(orient="list"),
        "music_neurons": neurons,
        "significance": c.significance_summary_ if c is not None else None,
        "dropped_constant_features": c.dropped_constant_ if c is not None else None,
        "dropped_duplicate_features": c.dropped_duplicate_ if c is not None else None,
        "category_neurons": category_neurons,
        "activation": act,
        "ablation": abl,
        "metrics": ({k: v for k, v in analysis.metrics.items() if k != "settings"} if analysis.metrics else None),
        "interventions": {
            "ablation_top_moved": _top_effects(analysis.neuron_ablation.effect_) if analysis.neuron_ablation else None,
            "traversal_top_moved": (_top_effects(analysis.traversal.effect_, analysis.traversal_null)
                                    if analysis.traversal else None),
            "traversal_null": _null_summary(analysis.traversal_null, p),
        },
        "twinkle": (analysis.twinkle[analysis.twinkle["rank"] > 0][
            ["rank", "latent_index", "twinkle_mu", "twinkle_sigma", "mu_percentile"]]
            if analysis.twinkle is not None else None),
        "baselines": analysis.baselines,
        "health": analysis.health,
        "settings": analysis.settings,
    }
    return to_jsonable(s)


def summarize(models: Mapping[str, LatentAnalysis] | None = None, **kwargs: LatentAnalysis) -> dict:
    """JSON-serialisable summary per model key.

    Call as ``summarize({"2bar": a2, "16bar": a16})`` or ``summarize(**{"2bar": a2})``. Each
    value holds at least ``n_music_neurons``, ``sigma_threshold``, ``music_neurons`` (list of
    ``{rank, latent_index, var_mu, mean_sigma, top_feature, top_phik, category}``),
    ``activation`` (``activated_{music,noise}_{real,random}_mean``, ``auc``), ``ablation``
    (``recon_accuracy_full``, ``recon_accuracy_noise_zeroed``) and ``settings``; parts not
    computed are None. ``baselines`` holds the chance levels (permutation null, untrained model; shape in
    :mod:`musicneurons.analysis.baselines`) and, with a null, each music neuron also has
    ``top_phik_null_q99``, ``clears_null``, ``category_raw`` and ``label`` (``category`` is then None when
    the neuron does not clear its null); ``health`` is the gate of :mod:`musicneurons.analysis.health`
    when the caller computed it.
    """
    all_models = dict(models or {})
    all_models.update(kwargs)
    return {str(k): summarize_model(v) for k, v in all_models.items()}



def key_findings(summary: dict, n_top: int = 5) -> dict:
    """The findings a reader checks first, from one model's :func:`summarize_model` dict: windows, health gate,
    music-neuron count (CI, threshold rule), and the top ``n_top`` ranked neurons with their top feature, φK,
    null q99 and label."""
    h = summary.get("health") or {}
    neurons = summary.get("music_neurons") or []
    judged = [m for m in neurons if m.get("clears_null") is not None]
    return {
        "n_windows": summary.get("n_samples"), "n_sources": summary.get("bootstrap_groups"),
        "health": {k: h.get(k) for k in ("passes", "recon_accuracy", "always_hold_accuracy", "recon_exact_windows",
                                         "noise_zeroing_changed_steps", "n_windows", "failures")} if h else None,
        "n_music_neurons": summary.get("n_music_neurons"), "n_music_neurons_ci": summary.get("n_music_neurons_ci"),
        "sigma_threshold": summary.get("sigma_threshold"), "sigma_threshold_rule": summary.get("sigma_threshold_rule"),
        "n_clear_null": sum(bool(m["clears_null"]) for m in judged) if judged else None, "n_judged": len(judged),
        "top": [{k: m.get(k) for k in ("rank", "latent_index", "top_feature", "top_phik", "top_phik_null_q99",
                                       "clears_null", "category", "category_raw", "rank_lo", "rank_hi")}
                for m in neurons[:n_top]],
    }


def held_out_comparison(full: dict, held: dict, n_top: int = 5) -> dict:
    """``summary["<key>"]["held_out"]`` from two :func:`summarize_model` dicts, all windows (``full``) and the
    held-out windows only (``held``: sources the model was not trained on): :func:`key_findings` of each and
    how the two music-neuron sets overlap."""
    fa = {m["latent_index"] for m in full.get("music_neurons") or []}
    ha = {m["latent_index"] for m in held.get("music_neurons") or []}
    first = [(s.get("music_neurons") or [{}])[0].get("latent_index") for s in (full, held)]
    return to_jsonable({
        "all": key_findings(full, n_top), "held_out": key_findings(held, n_top),
        "music_overlap": {"both": len(fa & ha), "only_all": len(fa - ha), "only_held_out": len(ha - fa)},
        "same_rank_1": first[0] is not None and first[0] == first[1],
        "settings": {"windows": "the analysed windows whose source is not in the model's training split (its card)",
                     "analysis": "the same analyze_latents call on the subset without metrics, interventions or "
                                 "the untrained baseline; its own σ rule, bootstrap, permutation null and health gate",
                     "per_neuron": f"φK and its null on the top {HELD_OUT_MAX_NEURONS} ranked music neurons",
                     "min_windows": HELD_OUT_MIN_WINDOWS},
    })
