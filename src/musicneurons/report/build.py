"""``build_report``: ``RUN_DIR/report/index.html`` from a run folder, without recomputation.

Reads ``settings.json``, ``analysis/summary.json``, ``analysis/<key>/*`` (see
:mod:`musicneurons.analysis_io`), ``latents/<key>_{real,random}.npz`` and ``stages/*.json``;
every figure is a base64 PNG inside the page, so the file opens from disk with no network.
Missing pieces (a table not computed, no music neurons at the threshold) become a short note
in their section instead of an error.

Each model's section opens with its health panel (``summary[key]["health"]``; a failing model gets one sentence
saying so and no paper verdicts) and its chance baselines (``summary[key]["baselines"]``: trained vs untrained
vs the permutation null); every stated neuron ↔ feature association is shown next to its null q99, and a concept
label only where it clears it. The real-vs-random detector's Youden cut is not given when its AUC is below 0.5.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import figures as F
from .reader import RunResults
from . import paper
from ..melody import SECONDS_PER_STEP
from .html import (cat_badge, details, empty, esc, figure, fmt, img, kv, page, play_button, section, settings_line,
                   stat, table, verdict_badge)

MAX_HEATMAP = 64  # rows (neurons) shown in the heatmaps
MAX_TABLE = 40  # rows shown before the rest folds into <details>
N_KEY_NEURONS = 3  # mu histograms of the top ranks


# ----------------------------------------------------------------------------------------- helpers


def _rank_map(s: dict) -> dict[int, int]:
    """latent index -> rank (1 = most important music neuron)."""
    return {int(n["latent_index"]): int(n["rank"]) for n in s.get("music_neurons") or []}


def _labels(indices, ranks: dict[int, int]) -> list[str]:
    return [F.neuron_label(ranks.get(int(d), 0), d) for d in indices]


def _ordered(df: pd.DataFrame, ranks: dict[int, int]) -> pd.DataFrame:
    """Rows sorted by rank (unranked last)."""
    key = [ranks.get(int(d), 10 ** 6 + int(d)) for d in df.index]
    return df.iloc[np.argsort(key, kind="stable")]


def _neuron_cell(rank, d) -> str:
    return f"#{int(rank)} <span class=\"settings\">d{int(d)}</span>"


def _feature_name(run: RunResults, f) -> str:
    if f is None or (isinstance(f, float) and math.isnan(f)):
        return "–"
    n = run.names.get(str(f))
    return f"{esc(f)} <span class=\"settings\">{esc(n)}</span>" if n else esc(f)


def _label_cell(m: dict) -> str:
    """The concept label of a summary neuron: its P/R/M badge, or "below chance" when it does not clear the null."""
    if m.get("clears_null") is False:
        return '<span class="settings" title="best φK not above its permutation null\'s 99th percentile">below chance</span>'
    return cat_badge(m.get("category"))


def _detects(act: dict) -> bool:
    """Whether the real-vs-random detector is worth a cut: AUC at least 0.5 (below, its Youden cut is hidden)."""
    return act.get("auc") is not None and act["auc"] >= 0.5


def _split_table(rows, header, numeric=(), raw=(), limit=MAX_TABLE, what="rows") -> str:
    rows = list(rows)
    head = table(rows[:limit], header, numeric, raw)
    if len(rows) <= limit:
        return head
    return head + details(f"show the other {len(rows) - limit} {what}", table(rows[limit:], header, numeric, raw))


# ----------------------------------------------------------------------------------------- sections


def header_html(run: RunResults) -> str:
    s = run.run_settings.get("settings", {})
    models = ", ".join(f"{k}: {v.get('model', '?')}" for k, v in run.summary.items())
    return (
        '<header class="top" id="top"><h1>Music neurons in MusicVAE\'s latent space</h1>'
        "<p>Which of the 512 latent dimensions (\"neurons\") of a MusicVAE carry the music, and which pitch, rhythm "
        "and melody features each one tracks: music vs noise neurons, neuron × feature correlations, real vs "
        "random inputs, ablations and traversals — the study of Barenboim, Del Debbio, Hirn and Sanz, "
        "reproduced on this run.</p>"
        f"<p>Models: {esc(models)} · corpus: {esc(s.get('corpus', '?'))} · "
        f"real windows per model: {esc(s.get('n_melodies', '?'))}</p></header>"
    )


def overview_section(run: RunResults) -> str:
    st = run.run_settings.get("settings", {})
    ver = run.run_settings.get("versions", {})
    rows = []
    for key, s in run.summary.items():
        rows.append((key, s.get("model"), s.get("n_real"), s.get("n_random"), s.get("n_music_neurons"),
                     s.get("n_dims"), s.get("sigma_threshold"), s.get("sigma_threshold_rule")))
    models = table(rows, ["model key", "model", "real inputs", "random inputs", "music neurons", "latent dims",
                          "σ threshold", "threshold rule"], numeric=(2, 3, 4, 5, 6))
    ckpt = st.get("checkpoints") or {}
    settings_pairs = [(k, json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in st.items()
                      if k != "checkpoints"]
    settings_pairs.append(("checkpoints", ", ".join(f"{k}: {v if v else 'shipped weights'}" for k, v in ckpt.items())))
    body = (
        "<p>Neuron numbering: <b>rank 1</b> is the music neuron whose μ varies most over the real inputs "
        "(ranking by var μ unless the settings say otherwise); the model's raw latent index is always shown "
        "beside it as <span class=\"settings\">d&lt;index&gt;</span>.</p>"
        + models
        + '<div class="grid"><div><h3>Run settings (settings.json)</h3>' + kv(settings_pairs) + "</div>"
        + "<div><h3>Versions</h3>" + kv(list(ver.items())) + "</div></div>"
    )
    return section("overview", "Overview", body)


def paper_section(run: RunResults) -> str:
    rows = paper.comparison(run.summary, run.csv)
    body = table([(r["claim"], r["paper"], r["run"], verdict_badge(r["verdict"]), r["rule"]) for r in rows],
                 ["finding", "paper", "this run", "verdict", "rule for the verdict"], raw=(3,))
    n_ag = sum(r["verdict"] == "agrees" for r in rows)
    n_df = sum(r["verdict"] == "differs" for r in rows)
    n_wh = sum(r["verdict"] == paper.WITHHELD for r in rows)
    lead = (f"{n_ag} of {len(rows)} findings agree with the paper, {n_df} differ, "
            f"{len(rows) - n_ag - n_df - n_wh} could not be checked on this run"
            + (f", {n_wh} withheld because their model fails the health gate" if n_wh else "") + ".")
    failing = paper.failing_models(run.summary)
    if failing:
        body = "".join(f'<p class="note fail">The {esc(k)} model fails the model-health gate, so no paper verdict '
                       f'is given for it: {esc("; ".join(f))}.</p>' for k, f in failing.items()) + body
    body += ('<p class="settings">A concept label (P/R/M) counts only when the neuron\'s best φK clears the 99th '
             "percentile of its permutation null; each association is shown with that chance level (null q99) and "
             "the best φK the untrained model reaches with the same feature (untrained).</p>")
    return section("paper-vs-run", "The paper vs this run", body, lead=lead)


def _rank_interval(m: dict) -> str:
    """``1–2 (79 %)``: the bootstrap 95 % interval of a neuron's rank and the share of resamples at its rank."""
    if m.get("rank_lo") is None:
        return "–"
    return f"{m['rank_lo']}–{m['rank_hi']} ({m.get('p_same_rank', 0) * 100:.0f} %)"


def neurons_part(run: RunResults, key: str, s: dict) -> str:
    n = s.get("n_music_neurons") or 0
    thr = s.get("sigma_threshold")
    ci = s.get("n_music_neurons_ci")
    groups = s.get("bootstrap_groups")
    stats = (stat(f"{n} / {s.get('n_dims', '?')}", "music neurons / latent dims")
             + stat(f"{ci[0]}–{ci[1]}" if ci else "–", "95% CI of the count ("
                    + (f"cluster bootstrap over {groups} source files" if groups else "bootstrap over windows")
                    + ", rule re-run)")
             + stat(fmt(thr), f"σ threshold ({s.get('sigma_threshold_rule')})"))
    if s.get("n_leaky_neurons") is not None:
        share = s.get("kl_share") or {}
        stats += stat(f"{s.get('n_noise_neurons')} / {s['n_leaky_neurons']}",
                      "noise / leaky dims (leaky: above the σ threshold but Burda-active, Var(μ) > 0.01)")
        if share.get("leaky") is not None:
            stats += stat(f"{share['leaky'] * 100:.0f} %", "of the KL held by leaky dims")
    sens = s.get("sensitivity") or {}
    sens_txt = ""
    if sens.get("band") or sens.get("by_min_gap_ratio"):
        parts = [f"threshold ×{k}: {v['n_music']}" for k, v in sorted((sens.get("band") or {}).items(),
                                                                      key=lambda kv: float(kv[0]))]
        parts += [f"min gap ratio {k}×: {v['n_music']} ({v['rule']})" for k, v in
                  sorted((sens.get("by_min_gap_ratio") or {}).items(), key=lambda kv: float(kv[0]))]
        sens_txt = f'<p class="settings">sensitivity of the count: {esc("; ".join(parts))}</p>'
    orderings = s.get("orderings") or {}
    if orderings:
        sens_txt += ('<p class="settings">top 5 under each ordering (latent index): '
                     + esc("; ".join(f"{o}: " + ", ".join(f"d{d}" for d in v[:5]) for o, v in orderings.items()))
                     + f" — the report ranks by {esc(s.get('order_by'))}</p>")
    prof = run.csv(key, "profile.csv")
    figs = ""
    if prof is not None and thr is not None:
        figs += figure(F.sigma_vs_spread(prof, thr),
                       "Each latent dim: mean σ over the real inputs (x) against the spread (std) of μ (y). Music "
                       "neurons sit left of the threshold with a wide μ; noise neurons at σ≈1, μ≈0. The top five "
                       "ranks are circled and named on the right.",
                       {"sigma_threshold": thr, "rule": s.get("sigma_threshold_rule"), "n_inputs": s.get("n_real")},
                       kind="sigma-scatter")
    sweep = run.csv(key, "sweep.csv")
    if sweep is not None and thr is not None:
        figs += figure(F.threshold_sweep(sweep, thr, n, ci),
                       "How the count depends on the σ threshold (sweep.csv) and the bootstrap interval of the "
                       "count at the chosen threshold.",
                       {"thresholds": f"{sweep['sigma_threshold'].min():.2f}..{sweep['sigma_threshold'].max():.2f}",
                        "bootstrap": (s.get("settings") or {}).get("profile", {}).get("n_bootstrap")},
                       kind="threshold-sweep")
    neurons = s.get("music_neurons") or []
    if neurons and any("top_phik_null_q99" in m for m in neurons):
        rows = [(_neuron_cell(m["rank"], m["latent_index"]), _rank_interval(m), m["var_mu"], m["mean_sigma"],
                 m.get("kl"), _feature_name(run, m.get("top_feature")), m.get("top_phik"), m.get("top_phik_null_q99"),
                 m.get("untrained_feature_phik"), _label_cell(m))
                for m in neurons]
        tab = _split_table(rows, ["neuron", "rank 95% (at this rank)", "var μ", "mean σ", "KL to prior", "top feature",
                                  "phik", "null q99 (chance)", "untrained, same feature", "category"],
                           numeric=(2, 3, 4, 6, 7, 8), raw=(0, 5, 9), what="music neurons")
        tab += ('<p class="settings">category: given only when the neuron\'s best φK is above the 99th percentile '
                "of its permutation null (null q99); “untrained, same feature”: the best φK of the untrained "
                "model's top dims with this neuron's top feature.</p>")
    elif neurons:
        rows = [(_neuron_cell(m["rank"], m["latent_index"]), m["var_mu"], m["mean_sigma"], m.get("kl"),
                 _feature_name(run, m.get("top_feature")), m.get("top_phik"), cat_badge(m.get("category")))
                for m in neurons]
        tab = _split_table(rows, ["neuron", "var μ", "mean σ", "KL to prior", "top feature", "phik", "category"],
                           numeric=(1, 2, 3, 5), raw=(0, 4, 6), what="music neurons")
    else:
        tab = empty(f"No music neurons at this threshold (mean σ < {fmt(thr)}): every dim behaves like the prior.")
    rule = ((s.get("settings") or {}).get("profile") or {}).get("sigma_threshold_reason")
    note = (f'<p class="settings">threshold rule: {esc(rule)}</p>' if rule else "") + sens_txt
    return section(f"music-neurons-{key}", "Music and noise neurons", stats + note + f'<div class="grid">{figs}</div>'
                   + tab, level=3)


def correlations_part(run: RunResults, key: str, s: dict, ranks: dict) -> str:
    out = ""
    cset = ((s.get("settings") or {}).get("correlation") or {})
    for name, title, vmin, cmap in (("pearson", "Pearson r", -1.0, "RdBu_r"), ("phik", "phik", 0.0, "viridis")):
        m = run.matrix(key, f"neuron_{name}.csv")
        if m is None or m.shape[0] < 2:
            continue
        m.columns = [int(float(c)) for c in m.columns]
        m = _ordered(m, ranks)
        m = m[list(m.index)]
        shown = m.iloc[:MAX_HEATMAP, :MAX_HEATMAP]
        cap = f"{title} among music neurons (rank order)"
        if shown.shape[0] < m.shape[0]:
            cap += f"; top {shown.shape[0]} of {m.shape[0]} shown"
        off = m.to_numpy(dtype=float)[~np.eye(m.shape[0], dtype=bool)]
        cap += f". Mean |off-diagonal| = {np.nanmean(np.abs(off)):.3f}."
        out += figure(F.square_heatmap(shown, _labels(shown.index, ranks), title, vmin=vmin, vmax=1.0, cmap=cmap),
                      cap, {"phik_bins": cset.get("phik_bins")} if name == "phik" else {"estimator": "Pearson"},
                      kind="neuron-heatmap")
    if not out:
        out = empty("Fewer than two music neurons: no correlation matrix.")
    return section(f"neuron-correlations-{key}", "Are the music neurons independent?",
                   f'<div class="grid">{out}</div>', level=3,
                   lead="The paper finds the music neurons largely uncorrelated among themselves.")


def features_part(run: RunResults, key: str, s: dict, ranks: dict) -> str:
    ph = run.matrix(key, "phik.csv")
    cset = ((s.get("settings") or {}).get("correlation") or {})
    if ph is None or ph.shape[0] == 0:
        return section(f"features-{key}", "Which features each neuron tracks",
                       empty("No neuron × feature correlations for this model (no music neurons analysed)."),
                       level=3)
    ph = _ordered(ph, ranks)
    shown = ph.iloc[:MAX_HEATMAP]
    cap = ("phik between each music neuron's μ (rows, by rank) and each feature (columns grouped pitch | rhythm | "
           "melody; constant features dropped), labelled by feature id and name.")
    if shown.shape[0] < ph.shape[0]:
        cap += f" Top {shown.shape[0]} of {ph.shape[0]} analysed neurons shown."
    body = figure(F.feature_heatmap(shown, _labels(shown.index, ranks), run.categories, run.names), cap,
                  {"phik_bins": cset.get("phik_bins"), "binning": cset.get("phik_binning"),
                   "noise_correction": cset.get("phik_noise_correction"), "n_samples": cset.get("n_samples")},
                  kind="feature-heatmap")
    top = run.csv(key, "top_features.csv")
    if top is not None and len(top):
        rows = []
        for d, g in top.groupby("latent_index", sort=False):
            g = g.sort_values("rank")
            cells = "<br>".join(f"{cat_badge(r.category)} {_feature_name(run, r.feature)} "
                                f"<span class=\"settings\">phik {r.phik:.2f}, ρ {r.spearman:+.2f}</span>"
                                for r in g.head(3).itertuples())
            rk = ranks.get(int(d), 0)
            m = next((m for m in s.get("music_neurons", []) if m["latent_index"] == int(d)), {})
            rows.append((rk, _neuron_cell(rk, d), _label_cell(m), cells))
        rows.sort(key=lambda r: r[0])
        body += "<h4>Top features per neuron</h4>" + _split_table(
            [r[1:] for r in rows], ["neuron", "dominant", "strongest features (phik, Spearman ρ)"], raw=(0, 1, 2),
            what="neurons")
    dropped = s.get("dropped_constant_features")
    if dropped:
        body += f'<p class="settings">constant on these windows, dropped: {esc(", ".join(dropped))}</p>'
    return section(f"features-{key}", "Which features each neuron tracks", body, level=3)


def attributes_part(run: RunResults, key: str, s: dict, ranks: dict) -> str:
    a = run.csv(key, "attributes.csv")
    title = "Attribute vectors vs single neurons"
    if a is None or len(a) == 0:
        return section(f"attributes-{key}", title, empty("No attribute-vector comparison for this model."), level=3)
    aset = (s.get("settings") or {}).get("attributes") or {}
    w = a["winner"].value_counts(dropna=True).to_dict() if "winner" in a else {}
    lead = ("An attribute vector is the difference of mean μ between inputs in the top and bottom quantile of a "
            "feature; the paper found such vectors less useful than single neurons. Winners here: "
            + ", ".join(f"{esc(k)} {v}" for k, v in w.items()) + ".")
    body = figure(F.attributes_plot(a, run.categories),
                  "Per feature: held-out |Spearman| of the best single neuron (x) against the projection on the "
                  "attribute vector (y).", aset, kind="attributes")
    rows = []
    for r in a.sort_values("best_neuron_spearman", ascending=False, na_position="last").itertuples():
        bn = r.best_neuron
        bn_cell = "–" if pd.isna(bn) else _neuron_cell(ranks.get(int(bn), 0), bn) if int(bn) in ranks \
            else f"<span class=\"settings\">d{int(bn)}</span>"
        lo, hi = getattr(r, "diff_lo", float("nan")), getattr(r, "diff_hi", float("nan"))
        interval = "–" if pd.isna(lo) else f"{lo:+.3f} … {hi:+.3f}"
        rows.append((_feature_name(run, r.feature), cat_badge(run.categories.get(str(r.feature))), bn_cell,
                     r.best_neuron_spearman, r.projection_spearman, interval,
                     r.winner if isinstance(r.winner, str) else None, r.top_axis_cosine))
    body += _split_table(rows, ["feature", "cat.", "best neuron", "neuron |ρ|", "vector |ρ|",
                                "vector − neuron, 95 % CI", "winner", "vector's top-axis cosine"],
                         numeric=(3, 4, 7), raw=(0, 1, 2), limit=20, what="features")
    if aset.get("winner"):
        body += f'<p class="settings">winner rule: {esc(aset["winner"])}</p>'
    return section(f"attributes-{key}", title, body, level=3, lead=lead)


def real_random_part(run: RunResults, key: str, s: dict) -> str:
    act = s.get("activation") or {}
    aset = (s.get("settings") or {}).get("activation") or {}
    thr = aset.get("activation_threshold")
    body = ""
    neurons = (s.get("music_neurons") or [])[:N_KEY_NEURONS]
    mu_r, mu_x = run.latents(key, "real"), run.latents(key, "random")
    if neurons and mu_r is not None and mu_x is not None:
        body += figure(F.mu_histograms(mu_r, mu_x, [(m["rank"], m["latent_index"]) for m in neurons]),
                       "μ of the key music neurons for real melodies vs random note sequences.",
                       {"bins": 40, "edges": "common, min..max of both", "density": True}, kind="mu-histograms")
    elif not neurons:
        body += empty("No music neurons at this threshold: no key-neuron histograms.")
    counts = run.csv(key, "activation.csv")
    n_music = s.get("n_music_neurons") or 0
    if counts is not None and len(counts):
        body += '<div class="grid">' + figure(
            F.activation_counts(counts, n_music, (s.get("n_dims") or 0) - n_music),
            f"Activated neurons (|μ| &gt; {fmt(thr)}) per input. The paper: both kinds activate most music "
            "neurons, random sequences activate many more noise neurons.", {"activation_threshold": thr},
            kind="activation-counts", wide=True)
        roc = run.csv(key, "roc.csv")
        if roc is not None and len(roc):
            body += figure(F.roc_plot(roc, act.get("auc")),
                           "Detector “is this music?”: score = −(activated noise neurons).",
                           {"auc": act.get("auc"), "cut": act.get("noise_count_cut") if _detects(act) else "–"},
                           kind="roc")
        body += "</div>"
    else:
        body += empty("No activation counts (random inputs were not encoded).")
    if act.get("auc") is not None:
        body += table([("music neurons", act.get("activated_music_real_mean"), act.get("activated_music_random_mean"),
                        n_music),
                       ("noise neurons", act.get("activated_noise_real_mean"), act.get("activated_noise_random_mean"),
                        (s.get("n_dims") or 0) - n_music)],
                      ["activated (mean per input)", "real", "random", "of"], numeric=(1, 2, 3))
        body += f"<p>Detector AUC (real vs random, from noise-neuron counts): <b>{fmt(act.get('auc'))}</b>"
        if act.get("auc_music_count") is not None:
            body += f"; with music-neuron counts instead: {fmt(act.get('auc_music_count'))}"
        body += "."
        if act.get("noise_count_cut") is not None and _detects(act):
            body += f" Inputs with ≤ {fmt(act.get('noise_count_cut'))} activated noise neurons are called music."
        elif act.get("auc") < 0.5:
            body += (" AUC below 0.5: the noise-neuron count does not tell real from random here (real inputs "
                     "activate more noise neurons), so no detector cut is given.")
        body += "</p>"
    return section(f"real-vs-random-{key}", "Real melodies vs random note sequences", body, level=3)


def ablation_part(run: RunResults, key: str, s: dict) -> str:
    abl = s.get("ablation") or {}
    full, zero = abl.get("recon_accuracy_full"), abl.get("recon_accuracy_noise_zeroed")
    nset = (s.get("settings") or {}).get("noise_ablation") or {}
    if full is None:
        body = empty("The noise ablation was not computed for this model.")
    else:
        body = (stat(fmt(full), "reconstruction accuracy, full μ")
                + stat(fmt(zero), "with every noise neuron set to 0")
                + "<p>If the noise neurons carry nothing, zeroing them leaves the greedy reconstruction unchanged. "
                  "Accuracy = fraction of the 16th-note steps decoded exactly.</p>" + settings_line(nset))
    return section(f"ablation-{key}", "Ablation: decoding without the noise neurons", body, level=3)


def _traversal_panels(tr: pd.DataFrame, ranks: dict, n_features: int = 4):
    panels = []
    for d in sorted(tr["latent_index"].unique(), key=lambda d: ranks.get(int(d), 10 ** 6)):
        t = tr[tr["latent_index"] == d]
        g = t.groupby("feature")
        rng = (g["mean"].max() - g["mean"].min())
        pooled = g["std"].apply(lambda x: float(np.sqrt(np.mean(np.square(x.dropna())))) if x.notna().any()
                                else np.nan)
        score = (rng / pooled.replace(0, np.nan)).dropna()
        score = score[score > 0].sort_values(ascending=False, kind="stable")
        panels.append((ranks.get(int(d), 0), int(d), list(score.index[:n_features])))
    return panels


def interventions_part(run: RunResults, key: str, s: dict, ranks: dict) -> str:
    tr = run.csv(key, "traversal.csv")
    tset = (s.get("settings") or {}).get("traversal") or {}
    body = ""
    if tr is not None and len(tr):
        panels = _traversal_panels(tr, ranks)
        if not any(f for _, _, f in panels):
            body += empty("No decoded feature changed along any traversal: the decoder ignores these neurons "
                          f"over their observed range ({len(panels)} neurons traversed).")
        else:
            body += figure(F.traversal_curves(tr, panels, run.names),
                       "Sweep one music neuron across its observed range (others held at each melody's μ), decode "
                       "greedily and recompute the features: the features that move most per neuron (range of the "
                       "mean response / pooled std over melodies).",
                       {k: tset.get(k) for k in ("n_values", "quantiles", "n_melodies")}, kind="traversal")
    else:
        body += empty("No traversals (no music neurons at this threshold, or interventions not run).")
    ex = run.parquet(key, "interventions.parquet")
    if ex is not None and len(ex):
        body += rolls_html(run, key, ex, ranks)
    body += f"<p>To move these neurons yourself, open the explorer for this run: <code>musicneurons explore {esc(run.root)}</code>.</p>"
    return section(f"interventions-{key}", "Interventions: traversing single neurons", body, level=3)


def rolls_html(run: RunResults, key: str, ex: pd.DataFrame, ranks: dict) -> str:
    """Piano rolls of the decoded example traversals, with links to their MIDI files."""
    from ..melody import MIN_PITCH, piano_roll

    evs = [np.asarray(e, dtype=int) for e in ex["events"]]
    rows = np.flatnonzero(np.any([piano_roll(e).any(axis=1) for e in evs], axis=0))
    lo, hi = (int(rows.min()) + MIN_PITCH - 1, int(rows.max()) + MIN_PITCH + 1) if rows.size else (58, 74)

    def cell(r, ev, title):
        href = f"../analysis/{key}/{r['midi']}"
        return (f'<div class="roll">{img(F.piano_roll_png(ev, None, lo, hi), title, kind="piano-roll")}'
                f'<div>{play_button(ev, SECONDS_PER_STEP)}{esc(title)} · <a href="{esc(href)}">MIDI</a></div></div>')

    cls = "rolls" if evs[0].size <= 64 else "rolls wide"
    out = "<h4>Decoded windows of one melody, one neuron traversed</h4>"
    orig = ex[ex["rank"] == 0]
    if len(orig):
        r = orig.iloc[0]
        out += (f'<div class="{cls}">' + cell(r, np.asarray(r["events"], int), "unmodified decode of the melody")
                + "</div>")
    for rank, g in ex[ex["rank"] > 0].groupby("rank", sort=True):
        g = g.sort_values("step")
        d = int(g["latent_index"].iloc[0])
        out += f"<p><b>{esc(F.neuron_label(rank, d))}</b> set to its population's 2nd…98th percentile:</p>"
        out += f'<div class="{cls}">' + "".join(
            cell(r, np.asarray(r["events"], int), f"step {int(r['step'])}: μ = {r['value']:+.2f}")
            for _, r in g.iterrows()) + "</div>"
    out += (f'<p class="settings">pitch axis {F.note_name(lo)}–{F.note_name(hi)} (MIDI {lo}–{hi}, C4 = 60); '
            "grey lines = bar lines, darker cells = note onsets; “play” uses a simple "
            f"synthesizer in the page (120 qpm); MIDI files are in analysis/{esc(key)}/interventions/ (links "
            "relative to this report).</p>")
    return out


def neuron_ablation_part(run: RunResults, key: str, s: dict, ranks: dict) -> str:
    eff = run.matrix(key, "neuron_ablation.csv")
    nset = (s.get("settings") or {}).get("neuron_ablation") or {}
    title = "Single-neuron ablation"
    if eff is None or eff.shape[0] == 0:
        return section(f"neuron-ablation-{key}", title,
                       empty("No single-neuron ablation (no music neurons at this threshold, or not run)."), level=3)
    eff = _ordered(eff, ranks)
    shown = eff.iloc[:MAX_HEATMAP]
    cap = "Set one music neuron at a time to 0 (the prior mean), decode, and measure how far each feature moves."
    if shown.shape[0] < eff.shape[0]:
        cap += f" Top {shown.shape[0]} of {eff.shape[0]} shown."
    vals = shown.to_numpy(dtype=float)
    if not np.any(np.nan_to_num(vals) > 0):
        return section(f"neuron-ablation-{key}", title, empty(
            f"Setting any of the {eff.shape[0]} music neurons to 0 changed no decoded feature "
            f"({fmt(nset.get('n_melodies'))} melodies)."), level=3)
    gone = [str(f) for f in shown.columns if not shown[f].notna().any()]
    if gone:
        cap += f" Not shown (no value for any neuron: constant on these windows): {', '.join(gone)}."
    body = figure(F.ablation_heatmap(shown, _labels(shown.index, ranks), run.categories, run.names), cap, nset,
                  kind="ablation-heatmap")
    return section(f"neuron-ablation-{key}", title, body, level=3)


def metrics_part(run: RunResults, key: str, s: dict) -> str:
    m = s.get("metrics")
    mset = (s.get("settings") or {}).get("metrics") or {}
    title = "Disentanglement metrics"
    if not m:
        return section(f"metrics-{key}", title, empty("Disentanglement metrics were not computed (metrics off, or "
                                                         "fewer than two music neurons)."), level=3)
    keys = [k for k in ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness",
                        "interpretability", "gaussian_total_correlation") if k in m]
    body = '<div class="grid"><div>' + table([(k, m[k]) for k in keys], ["metric (music neurons × features)",
                                                                       "value"], numeric=(1,)) + "</div>"
    body += figure(F.metrics_bar(m), "The metrics on the music neurons' μ against the feature table.",
                   {k: json.dumps(v) if isinstance(v, dict) else v for k, v in mset.items()},
                   kind="metrics") + "</div>"
    pf = m.get("per_factor") or {}
    if pf:
        rows = sorted(((f, run.categories.get(f), v.get("mig"), v.get("sap"), v.get("interpretability"))
                       for f, v in pf.items()), key=lambda r: -(r[2] or 0))
        body += details("per feature", table([(_feature_name(run, r[0]), cat_badge(r[1]), *r[2:]) for r in rows],
                                             ["feature", "cat.", "MIG", "SAP", "interpretability"],
                                             numeric=(2, 3, 4), raw=(0, 1)))
    return section(f"metrics-{key}", title, body, level=3)


def melody_part(run: RunResults, key: str, s: dict, ranks: dict) -> str:
    cn = s.get("category_neurons") or {}
    mel = cn.get("M") or []
    by_d = {m["latent_index"]: m for m in s.get("music_neurons") or []}
    title = "Melody candidates"
    lead = ("The paper's 16-bar candidates for melody-specific neurons appear late in the ranking (around ranks 23, "
            "30, 43, 62, 68, 72). Here: music neurons whose strongest feature is a melody (M) feature.")
    if not mel:
        body = empty("No music neuron is dominated by a melody feature in this run.")
    else:
        mel = sorted(mel, key=lambda d: ranks.get(int(d), 10 ** 6))
        rows = [(_neuron_cell(ranks.get(int(d), 0), d), _feature_name(run, by_d.get(d, {}).get("top_feature")),
                 by_d.get(d, {}).get("top_phik")) for d in mel]
        body = (f"<p>{len(mel)} melody-dominated neurons; ranks: "
                f"{esc(', '.join(str(ranks.get(int(d), '?')) for d in mel))}"
                "</p>" + _split_table(rows, ["neuron", "top feature", "phik"], numeric=(2,), raw=(0, 1)))
    return section(f"melody-candidates-{key}", title, body, level=3, lead=lead)


def health_part(run: RunResults, key: str, s: dict) -> str:
    h = s.get("health")
    title = "Model health"
    if not isinstance(h, dict):
        return section(f"health-{key}", title, empty("No model-health numbers in this run's summary."), level=3)
    stats = (stat(fmt(h.get("recon_accuracy")), "greedy per-step accuracy")
             + stat(fmt(h.get("always_hold_accuracy")), "always-hold baseline")
             + stat("yes" if h.get("sigma_gap_found") else "no", f"σ gap found ({h.get('sigma_threshold_rule')})")
             + stat(f"{(h.get('noise_zeroing_changed_steps') or 0) * 100:.1f} %", "decoded steps changed by zeroing "
                                                                                  "the noise dims")
             + stat(fmt(h.get("kl_bits"), 1), "KL to the prior (bits)")
             + stat("passes" if h.get("passes") else "FAILS", "the health gate"))
    rows = [(c["check"], c["value"], c["limit"], verdict_badge("agrees" if c["passes"] else "differs")
             .replace(">agrees<", ">pass<").replace(">differs<", ">fail<")) for c in h.get("checks") or []]
    body = stats + table(rows, ["check", "value", "limit", ""], numeric=(1, 2), raw=(3,))
    body += (f'<p class="settings">gate: {esc(h.get("rule"))}; on {esc(h.get("n_windows"))} real windows '
             f"(model_health: encode, greedy decode of μ, and again with every noise dim of its own σ rule set to 0; "
             f"{esc(h.get('noise_dims'))} noise dims, {esc(h.get('noise_dims_burda_active'))} of them still "
             "Burda-active).</p>")
    return section(f"health-{key}", title, body, level=3)


def baselines_part(run: RunResults, key: str, s: dict) -> str:
    b = s.get("baselines")
    title = "Chance baselines"
    if not isinstance(b, dict) or not (b.get("untrained") or b.get("permutation")):
        return section(f"baselines-{key}", title, empty("No chance baselines in this run's summary."), level=3)
    u, p, t = b.get("untrained") or {}, b.get("permutation") or {}, b.get("trained") or {}
    n_top = t.get("n_top") or u.get("n_top")
    strong = [k for k in (*t, *u) if k.startswith("n_best_phik_ge_")]
    strong = strong[0] if strong else None
    neurons = s.get("music_neurons") or []
    judged = [m for m in neurons if m.get("clears_null") is not None]
    n_clear = sum(bool(m["clears_null"]) for m in judged)
    rows = [(f"median best φK of the top {n_top} dims", t.get("median_best_phik_top"), u.get("median_best_phik_top"),
             p.get("best_phik_q99")),
            (f"dims with best φK ≥ {strong.rsplit('_', 1)[-1] if strong else '0.5'} (of the top {n_top})",
             t.get(strong) if strong else None, u.get(strong) if strong else None, None),
            ("music neurons by the σ rule", f"{s.get('n_music_neurons')} ({s.get('sigma_threshold_rule')})",
             f"{u.get('n_music_neurons')} ({u.get('sigma_threshold_rule')})" if u else None, None),
            (f"median |Pearson r| among the top {n_top}", t.get("median_abs_pearson_top"),
             u.get("median_abs_pearson_top"), None)]
    tm, um = t.get("metrics") or {}, u.get("metrics") or {}
    for k in ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness"):
        if k in tm or k in um:
            rows.append((k, tm.get(k), um.get(k), None))
    body = table(rows, ["", "trained (this model)", "untrained (same architecture)",
                        "permutation null, q99 (median over neurons)"], numeric=(1, 2, 3))
    if judged:
        body += (f"<p><b>{n_clear} of {len(judged)}</b> analysed music neurons have a best φK above their "
                 f"permutation null's 99th percentile (per neuron; largest q99 {fmt(p.get('best_phik_q99_max'))}); "
                 "only these get a concept label.</p>")
    counts = u.get("top_feature_counts") or {}
    if counts:
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
        body += ("<p>The untrained model's top dims are most often tied to: "
                 + ", ".join(f"{_feature_name(run, f)} ×{n}" for f, n in top) + ".</p>")
    line = {"n_permutations": p.get("n_permutations"), "quantile": p.get("quantile"),
            "statistic": p.get("statistic"), "untrained_seed": u.get("seed"),
            "untrained_ranked_among": u.get("ranked_among"), "untrained_sigma_rule": u.get("sigma_threshold_rule"),
            "untrained_metrics_dims": u.get("metrics_n_dims")}
    body += settings_line({k: v for k, v in line.items() if v is not None})
    lead = ("Every association stated below is compared with two chance levels: an untrained model of the same "
            "architecture (Magenta's initial weights, seeded) encoding the same windows, and a permutation null "
            "(the features shuffled across windows; per neuron the best φK over all features, so picking the best "
            "feature is accounted for).")
    return section(f"baselines-{key}", title, body, level=3, lead=lead)


def model_section(run: RunResults, key: str) -> str:
    s = run.summary[key]
    ranks = _rank_map(s)
    parts = [health_part(run, key, s), baselines_part(run, key, s),
             neurons_part(run, key, s), correlations_part(run, key, s, ranks), features_part(run, key, s, ranks)]
    if key == "16bar":
        parts.append(melody_part(run, key, s, ranks))
    parts += [attributes_part(run, key, s, ranks), real_random_part(run, key, s), ablation_part(run, key, s),
              interventions_part(run, key, s, ranks), neuron_ablation_part(run, key, s, ranks),
              metrics_part(run, key, s)]
    ana = (s.get("settings") or {}).get("analysed_neurons")
    lead = f"Model <b>{esc(s.get('model'))}</b>: {esc(s.get('n_real'))} real windows, {esc(s.get('n_random'))} random."
    if ana:
        lead += f" Per-neuron analyses: {esc(ana)}."
    h = s.get("health")
    if isinstance(h, dict) and h.get("passes") is False:
        fail = (f'<p class="note fail" id="health-fail-{esc(key)}">This model fails the model-health gate — '
                f'{esc("; ".join(h.get("failures") or []))} — so its numbers below are shown without any paper '
                "verdict.</p>")
        return section(f"model-{key}", f"{key} model", fail + "".join(parts), lead=lead)
    return section(f"model-{key}", f"{key} model", "".join(parts), lead=lead)


def twinkle_section(run: RunResults) -> str:
    body = ""
    for key in run.keys:
        tw = run.csv(key, "twinkle.csv")
        if tw is None or len(tw) == 0:
            body += f"<h3>{esc(key)}</h3>" + empty("No Twinkle table for this model.")
            continue
        music = tw[tw["rank"] > 0]
        body += f"<h3>{esc(key)}</h3>"
        from ..analysis.twinkle import twinkle_events

        ev = twinkle_events(2 if key == "2bar" else 16)
        body += (f'<div class="roll single{"" if key == "2bar" else " wide"}">'
                 f'{img(F.piano_roll_png(ev, wide=key != "2bar"), "Twinkle piano roll", kind="piano-roll")}'
                 f"<div>{play_button(ev, SECONDS_PER_STEP)}the input melody</div></div>")
        if len(music) == 0:
            body += empty("No music neurons at this threshold: nothing to compare.")
            continue
        bars = "2" if key == "2bar" else "16"
        body += figure(F.twinkle_plot(tw), f"“Twinkle, Twinkle, Little Star” (first {bars} "
                       "bars) encoded: its μ and σ on each music neuron (by rank) against the real inputs.",
                       {"neurons_shown": min(40, len(music))}, kind="twinkle")
        rows = [(_neuron_cell(r.rank, r.latent_index), r.twinkle_mu, r.mu_percentile, r.pop_mean_mu, r.pop_std_mu,
                 r.twinkle_sigma) for r in music.itertuples()]
        body += _split_table(rows, ["neuron", "Twinkle μ", "μ percentile in population", "population mean μ",
                                    "population std μ", "Twinkle σ"], numeric=(1, 2, 3, 4, 5), raw=(0,), limit=10,
                             what="music neurons")
    return section("twinkle", "Twinkle, Twinkle, Little Star", body,
                   lead="The paper's running example: one familiar melody, seen through the music neurons.")


def _settings_rows(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and k != "config":
            rows += _settings_rows(v, name + ".")
        else:
            rows.append((name, json.dumps(v) if isinstance(v, (dict, list)) else ("–" if v is None else str(v))))
    return rows


def settings_section(run: RunResults) -> str:
    body = ""
    for key, s in run.summary.items():
        st = s.get("settings") or {}
        body += f"<h3>{esc(key)}</h3>" + table(_settings_rows(st), ["estimator.setting", "value"])
    return section("settings", "Settings of every estimator", body,
                   lead="Everything each number above depends on, as recorded in analysis/summary.json.")


def _stage_order(name: str, keys) -> tuple:
    """Sort key of a stage record: by model key, then in pipeline order."""
    parts = name.split("_")
    kinds = ("melodies", "random", "encode", "features", "analyze")
    k = next((i for i, key in enumerate(keys) if key in parts), len(keys))
    return (k, kinds.index(parts[0]) if parts[0] in kinds else len(kinds), name)


def timings_section(run: RunResults) -> str:
    recs = run.stage_records()
    compute = run.compute_stages()
    last = run.last_reproduce() or {}
    rt = run.run_time()

    def cached(k, r):
        v = last.get(k)
        return v.get("cached") if isinstance(v, dict) and v.get("key") == r.get("key") else None

    names = sorted(compute, key=lambda k: _stage_order(k, run.keys))
    rows = [(k, recs[k].get("seconds"), recs[k].get("peak_rss_mb"), cached(k, recs[k])) for k in names]
    if rows:
        rows.append(("all stages: the results", rt["seconds"], max((r[2] or 0) for r in rows) or None, None))
        if "report" in recs:  # the previous build of this page, not counted above
            r = recs["report"]
            rows.append(("report (a build of this page; not counted)", r.get("seconds"), r.get("peak_rss_mb"),
                         cached("report", r)))
        rows = [(a, b, c, "–" if d is None else "yes" if d else "no") for a, b, c, d in rows]
        body = table(rows, ["stage", "seconds", "peak memory (MB, RSS)", "cached on the last reproduce"],
                     numeric=(1, 2), digits=1)
    else:
        body = empty("No stage records in stages/.")
    if rt["last_wall_seconds"] is not None:
        body += (f"<p>The last <code>musicneurons reproduce</code> on this folder took "
                 f"{fmt(rt['last_wall_seconds'], 1)} s wall time, with {rt['last_cached']} of "
                 f"{rt['last_n_stages']} stages cached (stages/timings.json); the stage times above are those of "
                 "the runs that computed each stage.</p>")
    return section("timings", "Timings", body,
                   lead="Compute time and peak resident memory of each pipeline stage, as recorded by the run that "
                        "computed it (stages/*.json; a cached rerun keeps these records).")


def footer_html(run: RunResults) -> str:
    """The page footer: the version, the folder, and the time the results took to compute.

    The time is the sum of the stage records (:meth:`RunResults.run_time`), not a cached rerun's wall
    time; a page rebuilt from cached stages says so.
    """
    ver = run.run_settings.get("versions", {}).get("musicneurons", "?")
    rt = run.run_time()
    out = (f"<p>Built by musicneurons {esc(ver)} from the run folder “{esc(run.root.name)}” "
           "(figures: matplotlib; no network needed). Rebuild with <code>musicneurons report RUN_DIR</code>.</p>")
    if rt["seconds"] is None:
        return out + '<p id="run-time" data-rebuilt="unknown">No stage records in stages/: compute time unknown.</p>'
    out += (f'<p id="run-time" data-seconds="{rt["seconds"]:.2f}" data-rebuilt="{"yes" if rt["rebuilt"] else "no"}">'
            f"Results computed in <b>{fmt(rt['seconds'], 1)} s</b>: the sum of the {rt['n_stages']} stage "
            "records' compute times (stages/*.json; building this page not included).")
    if rt["rebuilt"]:
        out += (" <b>This page was rebuilt from cached stages</b>: nothing was recomputed for it")
        if rt["last_wall_seconds"] is not None:
            out += (f"; the last <code>reproduce</code> took {fmt(rt['last_wall_seconds'], 1)} s wall time with "
                    f"{rt['last_cached']} of {rt['last_n_stages']} stages cached")
        out += "."
    return out + "</p>"


def render(run: RunResults) -> str:
    """The whole page as a string."""
    sections = [overview_section(run), paper_section(run)]
    toc = [("overview", "Overview"), ("paper-vs-run", "Paper vs run")]
    for key in run.keys:
        sections.append(model_section(run, key))
        toc.append((f"model-{key}", f"{key} model"))
    sections += [twinkle_section(run), settings_section(run), timings_section(run)]
    toc += [("twinkle", "Twinkle"), ("settings", "Settings"), ("timings", "Timings")]
    return page("musicneurons report", header_html(run), toc, "".join(sections), footer_html(run))


def build_report(run_dir, out=None) -> Path:
    """Write the report (``RUN_DIR/report/index.html``, or the file ``out``) from the run folder; returns its path.
    The run folder is only read, so a read-only copy of a finished run can be reported to ``out``.

    Raises
    ------
    FileNotFoundError
        When ``RUN_DIR/analysis/summary.json`` is missing.
    """
    from ..fileio import atomic_write

    run = RunResults(run_dir)
    out = Path(out) if out is not None else run.folder.report_file
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render(run)
    atomic_write(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return out
