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
import time
from pathlib import Path

import numpy as np
import pandas as pd


MAX_ABLATED = 16  # single-neuron ablations: the top-ranked music neurons (each costs a decode of every melody)
# windows (a seeded subsample of the analysed real windows) for the noise ablation and the model-health numbers,
# by bars: 16-bar greedy decodes cost ~8x more
DECODE_SUBSAMPLE = {2: 1000, 16: 250}


def _write_csv(df, path: Path, index=True):
    if df is None:
        return
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=index)
    tmp.replace(path)


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


class _SubSteps:
    """Prints each analysis sub-step when it starts and its wall time when it ends."""

    def __init__(self, log, key):
        self.log, self.key, self.name, self.t0 = log, key, None, 0.0

    def start(self, name):
        if self.name is not None:
            self.log(f"           {self.key} {self.name}: {time.time() - self.t0:.1f} s")
        self.name, self.t0 = name, time.time()


def analyze_run_model(run, key: str) -> dict:
    """Analyze one model of a :class:`musicneurons.pipeline.Run`; writes tables and returns the summary."""
    from .analysis import analyze_latents, summarize_model
    from .analysis.twinkle import twinkle_events
    from .tables import read_events
    from .features import compute_features

    root = run.root
    s = run.s
    folder = root / "analysis" / key
    folder.mkdir(parents=True, exist_ok=True)
    with np.load(root / "latents" / f"{key}_real.npz", allow_pickle=False) as f:
        mu, sigma = f["mu"], f["sigma"]
    with np.load(root / "latents" / f"{key}_random.npz", allow_pickle=False) as f:
        mu_random = f["mu"]
    mu_u = sigma_u = None
    untrained_path = root / "latents" / f"{key}_untrained.npz"
    if untrained_path.exists():
        with np.load(untrained_path, allow_pickle=False) as f:
            mu_u, sigma_u = f["mu"], f["sigma"]
    features = pd.read_parquet(root / "features" / f"{key}_real.parquet")
    events = read_events(root / "data" / f"melodies_{key}.parquet")
    categories, _ = feature_categories()
    model = run.model(key)
    bars = model.cfg.bars
    _, t_mu, t_sigma = model.encode(twinkle_events(bars)[None])

    def decode_fn(z):
        return model.decode(np.asarray(z, np.float32))

    def features_fn(ev):
        return compute_features(ev, progress=False)

    rng = np.random.default_rng(s.seed)
    n_abl = min(len(events), DECODE_SUBSAMPLE.get(bars, 250))
    abl_idx = np.sort(rng.choice(len(events), n_abl, replace=False))
    clock = _SubSteps(run.log, key)
    n_perm = int(getattr(s, "n_permutations", 0) or 0)
    clock.start("profile, phik, attribute vectors" + (", disentanglement metrics" if s.metrics else "")
                + (f", permutation null ({n_perm} shuffles)" if n_perm else "")
                + (", untrained baseline" if mu_u is not None else ""))
    a = analyze_latents(
        mu, sigma, features, categories, mu_random=mu_random,
        sigma_threshold=s.sigma_threshold, activation_threshold=s.activation_threshold, phik_bins=s.phik_bins,
        metrics=s.metrics, twinkle_mu=t_mu[0], twinkle_sigma=t_sigma[0], random_state=s.seed,
        progress=sys.stderr.isatty(), n_permutations=n_perm, untrained_mu=mu_u, untrained_sigma=sigma_u,
        untrained_seed=s.seed,
    )
    bs = (a.settings.get("baselines") or {})
    if bs:
        run.log(f"           {key} baselines: permutation null {n_perm} shuffles "
                f"{bs.get('seconds_permutation')} s, untrained model {bs.get('seconds_untrained')} s")
    clock.start(f"model health ({n_abl} windows: encode + 2 greedy decodes)")
    from .analysis.health import health_gate
    from .model.health import model_health

    a.health = health_gate(model_health(model, events[abl_idx]))
    a.settings["health"] = {"n_windows": int(n_abl), "max_windows_by_bars": dict(DECODE_SUBSAMPLE),
                            "windows": "the noise ablation's seeded subsample of the real windows",
                            "thresholds": a.health["thresholds"], "rule": a.health["rule"]}
    clock.start(f"noise ablation ({n_abl} greedy decodes)")
    # ablation of noise neurons and interventions on a subsample (decoding is the cost)
    from .analysis import NeuronAblation, Traversal, ablate_noise

    a.ablation = ablate_noise(events[abl_idx], mu[abl_idx], ~a.profile.music_mask_, decode_fn)
    order = a.profile.order_
    if order.size:
        clock.start(f"interventions ({min(MAX_ABLATED, order.size)} ablations, {min(s.n_traversed, order.size)} "
                    f"traversals on {min(s.n_intervention_melodies, len(mu))} melodies)")
        pick = np.sort(rng.choice(len(mu), min(s.n_intervention_melodies, len(mu)), replace=False))
        a.neuron_ablation = NeuronAblation().fit(mu[pick], order[:MAX_ABLATED], decode_fn, features_fn)
        a.traversal = Traversal().fit(mu[pick], order[: s.n_traversed], decode_fn, features_fn, population_mu=mu)
        a.settings["neuron_ablation"] = a.neuron_ablation.settings_
        a.settings["traversal"] = a.traversal.settings_
        ex = intervention_examples(model, mu[pick], order, mu, folder)
        ex.to_parquet(folder / "interventions.parquet", index=False)
    a.settings["noise_ablation"] = {"n_windows": int(n_abl), "value": 0.0, "decode": "greedy"}
    if a.neuron_ablation is not None:
        a.settings["neuron_ablation"]["n_neurons"] = int(min(MAX_ABLATED, order.size))
    a.settings["model"] = {"name": model.cfg.name, "checkpoint": str(s.checkpoints.get(key)),
                           "config": json.loads(model.cfg.to_json())}

    clock.start(None)
    p = a.profile
    prof = pd.DataFrame({
        "latent_index": np.arange(p.n_dims_), "mean_mu": p.mean_mu_, "std_mu": p.std_mu_, "var_mu": p.var_mu_,
        "mean_sigma": p.mean_sigma_, "kl": p.kl_, "active_variance": p.active_variance_, "music": p.music_mask_,
    })
    rank = np.zeros(p.n_dims_, dtype=int)
    rank[order] = np.arange(1, order.size + 1)
    prof["rank"] = rank
    _write_csv(prof, folder / "profile.csv", index=False)
    _write_csv(p.sweep(), folder / "sweep.csv", index=False)
    if a.neuron_correlations:
        for name, df in a.neuron_correlations.items():
            if isinstance(df, pd.DataFrame):
                _write_csv(df, folder / f"neuron_{name}.csv")
    c = a.correlation
    if c is not None:
        for name in ("phik_", "pvalue_", "spearman_", "mi_"):
            _write_csv(getattr(c, name), folder / f"{name.rstrip('_')}.csv")
        _write_csv(c.top_features_, folder / "top_features.csv", index=False)
    if a.attributes is not None:
        _write_csv(a.attributes.comparison_, folder / "attributes.csv", index=False)
    if a.detector is not None:
        counts = a.detector.counts_
        _write_csv(counts, folder / "activation.csv", index=False)
        _write_csv(pd.DataFrame(a.detector.roc_), folder / "roc.csv", index=False)
    _write_csv(a.twinkle, folder / "twinkle.csv", index=False)
    if a.traversal is not None:
        _write_csv(a.traversal.response_, folder / "traversal.csv", index=False)
    if a.neuron_ablation is not None:
        _write_csv(a.neuron_ablation.effect_, folder / "neuron_ablation.csv")
    if a.null is not None:
        _write_csv(pd.DataFrame(a.null.null_, columns=[int(d) for d in a.null.neurons_]),
                   folder / "null_best_phik.csv", index=False)
    if a.untrained_phik is not None:
        _write_csv(a.untrained_phik, folder / "untrained_phik.csv")
    summary = summarize_model(a)
    summary["model"] = a.settings["model"]["name"]
    summary["n_real"] = int(len(mu))
    summary["n_random"] = int(len(mu_random))
    (folder / "summary.json.tmp").write_text(json.dumps(summary, indent=1))
    (folder / "summary.json.tmp").replace(folder / "summary.json")
    return summary
