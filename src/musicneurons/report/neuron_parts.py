"""The parts of a model's section about its neurons: health, chance baselines, music vs noise neurons, neuron × feature
correlations, features, melody, attributes, disentanglement metrics.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from . import figures as F
from .reader import RunResults
from .html import cat_badge, details, empty, esc, figure, fmt, section, settings_line, stat, table, verdict_badge
from .cells import MAX_HEATMAP, _feature_name, _label_cell, _labels, _neuron_cell, _ordered, _split_table


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


def held_out_part(run: RunResults, key: str, s: dict) -> str | None:
    """All windows beside held-out windows only (sources the model was not trained on); None when the run has no
    such comparison (``--windows held_out``, no training split, or too few held-out windows)."""
    ho = s.get("held_out")
    if not isinstance(ho, dict):
        return None
    a, h = ho.get("all") or {}, ho.get("held_out") or {}

    def health(k, f):
        return (f.get("health") or {}).get(k)

    def gate(f):
        g = f.get("health") or {}
        return None if g.get("passes") is None else ("passes" if g["passes"] else "fails")

    def count(f):
        ci = f.get("n_music_neurons_ci")
        return f"{f.get('n_music_neurons')}" + (f" (95% CI {ci[0]}–{ci[1]})" if ci else "")

    def neuron(f, i):
        top = f.get("top") or []
        if i >= len(top):
            return None
        m = top[i]
        lab = m.get("category") or ("below chance" if m.get("clears_null") is False else m.get("category_raw"))
        q = m.get("top_phik_null_q99")
        return (f"d{esc(m.get('latent_index'))}: {_feature_name(run, m.get('top_feature'))} "
                f"φK {fmt(m.get('top_phik'), 2)}" + (f" (null q99 {fmt(q, 2)})" if q is not None else "")
                + f", {esc(lab or '–')}")

    rows = [("windows (sources)", f"{a.get('n_windows')} ({a.get('n_sources')})",
             f"{h.get('n_windows')} ({h.get('n_sources')})"),
            ("greedy per-step accuracy", fmt(health("recon_accuracy", a)), fmt(health("recon_accuracy", h))),
            ("always-hold baseline", fmt(health("always_hold_accuracy", a)), fmt(health("always_hold_accuracy", h))),
            ("windows reconstructed exactly", fmt(health("recon_exact_windows", a)),
             fmt(health("recon_exact_windows", h))),
            ("decoded steps changed by zeroing noise", fmt(health("noise_zeroing_changed_steps", a)),
             fmt(health("noise_zeroing_changed_steps", h))),
            ("health gate", gate(a), gate(h)),
            ("music neurons", count(a), count(h)),
            ("σ threshold (rule)", f"{fmt(a.get('sigma_threshold'))} ({a.get('sigma_threshold_rule')})",
             f"{fmt(h.get('sigma_threshold'))} ({h.get('sigma_threshold_rule')})"),
            ("neurons whose best φK clears the null", f"{a.get('n_clear_null')} of {a.get('n_judged')}",
             f"{h.get('n_clear_null')} of {h.get('n_judged')}")]
    rows = [tuple(esc(c) if c is not None else "–" for c in r) for r in rows]  # the neuron cells below are HTML
    rows += [(f"rank {i + 1}", neuron(a, i) or "–", neuron(h, i) or "–")
             for i in range(max(len(a.get("top") or []), len(h.get("top") or [])))]
    ov = ho.get("music_overlap") or {}
    body = table(rows, ["", "all analysed windows", "held-out windows only"], raw=(0, 1, 2))
    body += (f"<p>Music neurons in both: <b>{ov.get('both')}</b>; only on all windows: {ov.get('only_all')}; only on "
             f"held-out windows: {ov.get('only_held_out')}. Rank 1 is "
             + ("the same dim in both" if ho.get("same_rank_1") else "not the same dim in the two") + ".</p>")
    body += settings_line(ho.get("settings") or {})
    lead = ("The paper analysed the corpus its models were trained on, and so does the default run. Here the key "
            "findings are recomputed on the windows of sources the model never saw in training, to show whether "
            "they depend on training data.")
    return section(f"held-out-{key}", "All windows vs held-out windows", body, level=3, lead=lead)


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
    if t.get("median_best_abs_spearman") is not None:
        rows.append(("median best |Spearman ρ| of the analysed neurons", t.get("median_best_abs_spearman"), None,
                     p.get("best_abs_spearman_q99")))
    mn = b.get("metrics_null") or {}
    if t.get("median_best_mi") is not None:
        rows.append(("median best kNN MI (nats) of the analysed neurons", t.get("median_best_mi"), None,
                     mn.get("best_mi_null_median")))
    tm, um, nm = t.get("metrics") or {}, u.get("metrics") or {}, mn.get("max") or {}
    for k in ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness", "interpretability"):
        if k in tm or k in um:
            rows.append((k, tm.get(k), um.get(k), nm.get(k)))
    body = table(rows, ["", "trained (this model)", "untrained (same architecture)",
                        "permutation null (features shuffled)"], numeric=(1, 2, 3))
    body += ('<p class="settings">permutation null column: for φK and Spearman ρ the 99th percentile of each '
             f"neuron's best value over {p.get('n_permutations')} shuffles, median over neurons; "
             + (f"for MI and the metrics the largest value over {mn.get('n_permutations')} shuffle(s) (each is a "
                "full metrics pass), MI per neuron its best feature, median over neurons"
                if mn else "no metrics null in this run")
             + ".</p>")
    if judged:
        body += (f"<p><b>{n_clear} of {len(judged)}</b> analysed music neurons have a best φK above their "
                 f"permutation null's 99th percentile (per neuron; largest q99 {fmt(p.get('best_phik_q99_max'))}); "
                 f"only these get a concept label. Each neuron is judged at 1 %: about {0.01 * len(judged):.1f} of "
                 f"{len(judged)} would clear by chance alone.")
        rj = [m for m in neurons if m.get("clears_spearman_null") is not None]
        if rj:
            body += (f" On the same shuffles, {sum(bool(m['clears_spearman_null']) for m in rj)} of {len(rj)} have a "
                     f"best |Spearman ρ| above theirs (largest q99 {fmt(p.get('best_abs_spearman_q99_max'))}).")
        body += "</p>"
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
            "(the features exchanged between whole source files, since windows of one file are alike; per neuron "
            "the best φK and the best |Spearman ρ| over all "
            "features, so picking the best feature is accounted for; the kNN MI and the disentanglement metrics "
            "recomputed on shuffled features).")
    return section(f"baselines-{key}", title, body, level=3, lead=lead)


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


def _rank_interval(m: dict) -> str:
    """``1–2 (79 %)``: the bootstrap 95 % interval of a neuron's rank and the share of resamples at its rank."""
    if m.get("rank_lo") is None:
        return "–"
    return f"{m['rank_lo']}–{m['rank_hi']} ({m.get('p_same_rank', 0) * 100:.0f} %)"


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
    sig = s.get("significance") or {}
    if sig.get("share_bonferroni") is not None:
        body += (f"<p><b>Significance does not discriminate here:</b> of {sig['n_cells']:,} neuron × feature cells, "
                 f"{sig['share_bonferroni']:.0%} pass Bonferroni and {sig['share_bh']:.0%} Benjamini–Hochberg at "
                 f"α = {sig['alpha']:g} (phik's asymptotic G-test). A neuron's label therefore rests on its best φK "
                 "clearing the permutation null of the best of all features, not on a p-value.</p>")
    dropped = s.get("dropped_constant_features")
    if dropped:
        body += f'<p class="settings">constant on these windows, dropped: {esc(", ".join(dropped))}</p>'
    return section(f"features-{key}", "Which features each neuron tracks", body, level=3)


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
