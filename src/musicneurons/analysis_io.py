"""The ``analyze`` stage: run :func:`musicneurons.analysis.analyze_latents` on a run folder's arrays for
one model and write every table behind the findings to ``RUN_DIR/analysis/<key>/``.

Files written (all read back by the report without recomputation):

=============================  =====================================================================
``summary.json``               the findings (see :func:`musicneurons.analysis.summarize`), with their chance
                               baselines under ``"baselines"`` (:mod:`musicneurons.analysis.baselines`) and
                               the model-health gate under ``"health"`` (:mod:`musicneurons.analysis.health`)
``profile.csv``                per latent dim: mean/std/var of mu, mean sigma, KL, music flag, rank
``sweep.csv``                  music-neuron count per sigma threshold
``neuron_pearson.csv``         Pearson correlation among music neurons (rank order)
``neuron_phik.csv``            phik among music neurons
``phik.csv`` ``pvalue.csv``    neuron x feature phik and its p-value (rows = latent index, rank order)
``spearman.csv`` ``mi.csv``    cross-checks
``top_features.csv``           per neuron its strongest features
``attributes.csv``             attribute vector vs best single neuron, per feature
``activation.csv``             per input: kind (real/random), activated music and noise neurons
``roc.csv``                    the detector's ROC curve
``twinkle.csv``                Twinkle's mu/sigma per dim against the population
``traversal.csv``              response curves (latent_index, step, value, feature, mean, ...)
``neuron_ablation.csv``        standardized feature shift when one music neuron is set to 0
``null_best_phik.csv``         permutation null: best-feature phik per analysed neuron (columns) per shuffle
``untrained_phik.csv``         the untrained model's top dims x features phik
``interventions.parquet``      decoded windows of the example traversals (+ ``interventions/*.mid``)
=============================  =====================================================================
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .fileio import atomic_write


def _write_csv(df, path: Path, index=True):
    if df is not None:
        atomic_write(path, lambda tmp: df.to_csv(tmp, index=index))


def feature_categories() -> tuple[dict, list]:
    """{feature id: category} and the ids flagged constant on melodies."""
    from .features import catalog

    cat = catalog()
    return {c["id"]: c["category"] for c in cat}, [c["id"] for c in cat if c.get("constant")]


def intervention_examples(model, mu, order, population_mu, folder: Path, n_neurons: int = 3, n_values: int = 7,
                          melody_index: int = 0) -> pd.DataFrame:
    """Traverse the top ``n_neurons`` music neurons of one melody across the population's 2nd..98th
    percentile, decode greedily, write each decode as MIDI; returns the table of decoded windows."""
    from .melody import write_midi

    rows = []
    mid_dir = folder / "interventions"
    mid_dir.mkdir(parents=True, exist_ok=True)
    base = mu[melody_index]
    for rank, d in enumerate(order[:n_neurons], start=1):
        values = np.quantile(population_mu[:, d], np.linspace(0.02, 0.98, n_values))
        z = np.repeat(base[None], n_values, axis=0).astype(np.float32)
        z[:, d] = values
        decoded = model.decode(z)
        for step, (v, ev) in enumerate(zip(values, decoded)):
            name = f"rank{rank}_dim{int(d)}_step{step}.mid"
            write_midi(ev, mid_dir / name)
            rows.append({"rank": rank, "latent_index": int(d), "step": step, "value": float(v),
                         "events": ev.tolist(), "midi": f"interventions/{name}"})
    original = model.decode(base[None].astype(np.float32))[0]
    write_midi(original, mid_dir / "original.mid")
    rows.append({"rank": 0, "latent_index": -1, "step": -1, "value": float("nan"), "events": original.tolist(),
                 "midi": "interventions/original.mid"})
    return pd.DataFrame(rows)


def _in_training(melodies: Path) -> pd.Series | None:
    """Per analysed window whether its source is in the model's training split (``in_training`` of the table:
    True / False / NA), None when the table has no such column."""
    import pyarrow.parquet as pq

    if "in_training" not in pq.read_schema(melodies).names:
        return None
    return pd.read_parquet(melodies, columns=["in_training"])["in_training"].astype("boolean")


def _training_share(flag: pd.Series | None, windows: str) -> dict:
    """How many analysed windows come from sources the model was trained on."""
    out = {"setting": windows, "n_in_training": None, "n_held_out": None, "n_unknown": None}
    if flag is not None:
        out.update(n_in_training=int(flag.eq(True).sum()), n_held_out=int(flag.eq(False).sum()),
                   n_unknown=int(flag.isna().sum()))
    return out


def analyze_run_model(run, key: str) -> dict:
    """Analyze one model of a :class:`musicneurons.pipeline.Run`: :func:`~musicneurons.analysis.analyze_latents`
    on the run's arrays with the run's settings (the one orchestration a Python user calls too); writes every
    table to ``analysis/<key>/`` and returns the summary."""
    from .analysis import analyze_latents, summarize_model
    from .analysis.summary import HELD_OUT_MAX_NEURONS, HELD_OUT_MIN_WINDOWS, held_out_comparison
    from .analysis.twinkle import twinkle_events
    from .features import compute_features
    from .tables import read_table

    folder, s = run.folder, run.s
    melodies_path = folder.melodies(key)
    out_dir = folder.analysis_dir(key)
    out_dir.mkdir(parents=True, exist_ok=True)
    with np.load(folder.latents(key, "real"), allow_pickle=False) as f:
        mu, sigma = f["mu"], f["sigma"]
    with np.load(folder.latents(key, "random"), allow_pickle=False) as f:
        mu_random = f["mu"]
    mu_u = sigma_u = None
    if folder.latents(key, "untrained").exists():
        with np.load(folder.latents(key, "untrained"), allow_pickle=False) as f:
            mu_u, sigma_u = f["mu"], f["sigma"]
    features = pd.read_parquet(folder.features(key))
    events, keys = read_table(melodies_path)
    groups = keys["source"].astype(str).to_numpy() if "source" in keys else None
    categories, _ = feature_categories()
    model = run.model(key)
    _, t_mu, t_sigma = model.encode(twinkle_events(model.cfg.bars)[None])

    def features_fn(ev):
        return compute_features(ev, progress=False)

    n_perm = int(s.n_permutations or 0)
    a = analyze_latents(
        mu, sigma, features, categories, mu_random=mu_random, events=events, model=model, features_fn=features_fn,
        sigma_threshold=s.sigma_threshold, activation_threshold=s.activation_threshold, phik_bins=s.phik_bins,
        metrics=s.metrics, twinkle_mu=t_mu[0], twinkle_sigma=t_sigma[0], random_state=s.seed,
        n_intervention_melodies=s.n_intervention_melodies, n_traversed=s.n_traversed,
        progress=sys.stderr.isatty(), n_permutations=n_perm, n_metric_permutations=int(s.n_metric_permutations or 0),
        untrained_mu=mu_u, untrained_sigma=sigma_u,
        untrained_seed=s.seed, log=lambda line: run.log(f"           {key} {line}"), groups=groups,
    )
    if a.traversal is not None:
        ex = intervention_examples(model, mu[a.intervention_melodies], a.profile.order_, mu, out_dir)
        ex.to_parquet(out_dir / "interventions.parquet", index=False)
    a.settings["model"] = {"name": model.cfg.name, "checkpoint": str(s.checkpoints.get(key)),
                           "config": json.loads(model.cfg.to_json())}
    order = a.profile.order_
    p = a.profile
    prof = pd.DataFrame({
        "latent_index": np.arange(p.n_dims_), "mean_mu": p.mean_mu_, "std_mu": p.std_mu_, "var_mu": p.var_mu_,
        "mean_sigma": p.mean_sigma_, "kl": p.kl_, "active_variance": p.active_variance_, "music": p.music_mask_,
    })
    rank = np.zeros(p.n_dims_, dtype=int)
    rank[order] = np.arange(1, order.size + 1)
    prof["rank"] = rank
    _write_csv(prof, out_dir / "profile.csv", index=False)
    _write_csv(p.sweep(), out_dir / "sweep.csv", index=False)
    if a.neuron_correlations:
        for name, df in a.neuron_correlations.items():
            if isinstance(df, pd.DataFrame):
                _write_csv(df, out_dir / f"neuron_{name}.csv")
    c = a.correlation
    if c is not None:
        for name in ("phik_", "pvalue_", "spearman_", "mi_"):
            _write_csv(getattr(c, name), out_dir / f"{name.rstrip('_')}.csv")
        _write_csv(c.top_features_, out_dir / "top_features.csv", index=False)
    if a.attributes is not None:
        _write_csv(a.attributes.comparison_, out_dir / "attributes.csv", index=False)
    if a.detector is not None:
        counts = a.detector.counts_
        _write_csv(counts, out_dir / "activation.csv", index=False)
        _write_csv(pd.DataFrame(a.detector.roc_), out_dir / "roc.csv", index=False)
    _write_csv(a.twinkle, out_dir / "twinkle.csv", index=False)
    if a.traversal is not None:
        _write_csv(a.traversal.response_, out_dir / "traversal.csv", index=False)
    if a.traversal_null is not None:
        _write_csv(a.traversal_null.response_, out_dir / "traversal_null.csv", index=False)
    if a.neuron_ablation is not None:
        _write_csv(a.neuron_ablation.effect_, out_dir / "neuron_ablation.csv")
    if a.null is not None:
        _write_csv(pd.DataFrame(a.null.null_, columns=[int(d) for d in a.null.neurons_]),
                   out_dir / "null_best_phik.csv", index=False)
    if a.untrained_phik is not None:
        _write_csv(a.untrained_phik, out_dir / "untrained_phik.csv")
    summary = summarize_model(a)
    summary["model"] = a.settings["model"]["name"]
    summary["n_real"] = int(len(mu))
    summary["n_random"] = int(len(mu_random))
    flag = _in_training(melodies_path)
    summary["analysed_windows"] = _training_share(flag, s.windows)
    held = (flag.eq(False).fillna(False).to_numpy(dtype=bool)  # unknown (NA) is not held out
            if flag is not None and s.windows == "all" else None)
    if held is not None and held.sum() >= HELD_OUT_MIN_WINDOWS:
        # the key findings again on the windows of sources the model never saw, beside those on all windows
        ah = analyze_latents(
            mu[held], sigma[held], features[held].reset_index(drop=True), categories, events=events[held], model=model,
            sigma_threshold=s.sigma_threshold, activation_threshold=s.activation_threshold, phik_bins=s.phik_bins,
            metrics=False, cross_checks=False, random_state=s.seed, n_permutations=n_perm, n_decoded="auto",
            max_neurons=HELD_OUT_MAX_NEURONS,
            groups=groups[held] if groups is not None else None,
            log=lambda line: run.log(f"           {key} held-out {line}"))
        summary["held_out"] = held_out_comparison(summary, summarize_model(ah))
    text = json.dumps(summary, indent=1)
    atomic_write(out_dir / "summary.json", lambda tmp: tmp.write_text(text))
    return summary
