"""The parts of a model's section about what its neurons do: real vs random inputs, ablations, interventions and
traversals, piano rolls, per-neuron ablation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import figures as F
from .reader import RunResults
from ..melody import SECONDS_PER_STEP
from .html import empty, esc, figure, fmt, img, play_button, section, settings_line, stat, table
from .cells import MAX_HEATMAP, N_KEY_NEURONS, _detects, _labels, _ordered


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
        bc = act.get("by_class")
        if bc:
            rows = []
            for cls in ("music", "noise", "leaky"):
                f, z = bc["fixed"][cls], bc["spread_scaled"][cls]
                rows.append((f"{cls} ({bc['n_dims'][cls]} dims)", f["real_mean"], f["random_mean"], f["auc"],
                             z["real_mean"], z["random_mean"], z["auc"]))
            body += ("<h4>By class: prior-like noise dims vs leaky dims</h4>"
                     + table(rows, ["activated (mean per input)", f"real, |μ| > {fmt(thr)}", "random", "AUC",
                                    "real, outside 2 sd", "random", "AUC"], numeric=(1, 2, 3, 4, 5, 6))
                     + "<p class=\"settings\">noise = non-music and Burda-inactive; leaky = non-music but Burda-active. "
                       "“Outside 2 sd”: |μ − its mean on real melodies| &gt; 2 × its sd there (a threshold scaled to "
                       "each dim's spread). AUC: that count as a real-vs-random score.</p>")
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


def _traversal_null_line(s: dict) -> str:
    """One sentence: the traversal chance level (non-music dims swept over the prior's range) and how many
    traversed music neurons beat it on their most-moved feature."""
    iv = s.get("interventions") or {}
    null, top = iv.get("traversal_null"), iv.get("traversal_top_moved") or []
    if not null:
        return "<p>No traversal chance level (no non-music dims to traverse).</p>"
    judged = [t for t in top if t.get("clears_null") is not None]
    n_clear = sum(bool(t["clears_null"]) for t in judged)
    return (f"<p><b>Chance level:</b> traversing {len(null['dims'])} {esc(str(null.get('kind')))} dims "
            f"({', '.join(f'd{d}' for d in null['dims'])}) over the prior's 1–99 % range on the same melodies moves a "
            f"feature by at most {null['max_effect']:.2f} (same effect measure); {n_clear} of {len(judged)} traversed "
            "music neurons move their top feature by more than any of them moves that feature.</p>")


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
        body += _traversal_null_line(s)
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
