"""The report's figures: pure functions from tables/arrays to PNG bytes (matplotlib, Agg backend).

Each function takes plain pandas/numpy data read from a run folder and returns the PNG as
``bytes`` (no files written); labels show rank and raw latent index side by side ("#1 (d137)"),
features as code and name ("P12 Primary Register").

Sizes are chosen for the page (``report.html``): at 100 dpi a figure's pixels are CSS pixels, a
full-width figure has about ``FULL_PX`` and one of two side by side about ``HALF_PX``, so figures
drawn no wider than that are shown unscaled and their 8-9 pt labels stay 11-12 px on screen.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

MUSIC = "#d1495b"
NOISE = "#8d99ae"
REAL = "#2f5fb3"
RANDOM = "#e07a1f"
CAT_COLORS = {"P": "#3a7ca5", "R": "#e07a1f", "M": "#7b4fa0", "?": "#999999"}
DPI = 100
FULL_PX = 1170  # image width of a full-width figure on a page >= 1400 px wide (report/html.py CSS)
HALF_PX = 560  # image width of one of two figures side by side
TICK_PT = 8.5  # tick labels (>= 11 px at 100 dpi)
LABEL_CHARS = 36  # feature tick labels are cut to this many characters
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

plt.rcParams.update({
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "axes.spines.top": False,
    "axes.spines.right": False, "figure.dpi": DPI, "savefig.dpi": DPI, "svg.hashsalt": "mn",
})


def to_png(fig) -> bytes:
    """Render and close a figure; deterministic bytes (no timestamp metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def neuron_label(rank: int, latent_index: int) -> str:
    """``#rank (d<latent index>)``."""
    return f"#{int(rank)} (d{int(latent_index)})"


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch: 60 -> ``C4``, 61 -> ``C#4``."""
    p = int(pitch)
    return f"{NOTE_NAMES[p % 12]}{p // 12 - 1}"


def feature_label(fid, names: dict | None, width: int = LABEL_CHARS) -> str:
    """``"P12 Primary Register"``: the feature id and its catalogue name, cut to ``width`` characters.

    The name is left out when the id already spells it (``arvae_pitch_range`` / "Pitch Range").
    """
    fid = str(fid)
    name = (names or {}).get(fid)
    if not name:
        return fid
    bare = fid.split("_", 1)[1] if fid.startswith(("mvae_", "arvae_")) else fid
    if bare.replace("_", " ").lower() == name.lower():
        return fid
    text = f"{fid} {name}"
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def sigma_vs_spread(profile: pd.DataFrame, threshold: float, n_labels: int = 5) -> bytes:
    """Mean sigma vs std of mu per latent dim, music / noise coloured, the sigma threshold as a line.

    ``profile``: columns ``latent_index, std_mu, mean_sigma, music, rank``. The top ``n_labels``
    ranks are named in a column right of the axes, each joined to its point by a thin line, in the
    order of their points' height: the labels cannot overlap however close the points are.
    """
    fig, ax = plt.subplots(figsize=(3.85, 3.7))
    m = profile["music"].astype(bool).to_numpy()
    ax.scatter(profile.loc[~m, "mean_sigma"], profile.loc[~m, "std_mu"], s=9, c=NOISE, alpha=.7,
               label=f"noise neurons ({int((~m).sum())})", linewidths=0)
    ax.scatter(profile.loc[m, "mean_sigma"], profile.loc[m, "std_mu"], s=14, c=MUSIC, alpha=.85,
               label=f"music neurons ({int(m.sum())})", linewidths=0)
    ax.axvline(threshold, color="#333", lw=1, ls="--", label=f"σ threshold {threshold:.3g}")
    top = profile[profile["rank"].between(1, n_labels)]
    top = top.sort_values(["std_mu", "rank"], ascending=[False, True], kind="stable")
    if len(top):
        ax.scatter(top["mean_sigma"], top["std_mu"], s=34, facecolors="none", edgecolors="#222", linewidths=.8,
                   zorder=4)
    for i, (_, r) in enumerate(top.iterrows()):
        ax.annotate(neuron_label(r["rank"], r["latent_index"]), (r["mean_sigma"], r["std_mu"]), fontsize=TICK_PT,
                    xytext=(1.04, 0.97 - 0.095 * i), textcoords="axes fraction", va="center", ha="left",
                    annotation_clip=False,
                    arrowprops=dict(arrowstyle="-", color="#777", lw=.6, shrinkA=1, shrinkB=3))
    ax.set_xlabel("mean σ over inputs")
    ax.set_ylabel("std of μ over inputs")
    ax.legend(loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize=8, frameon=False, borderaxespad=0.3)
    ax.grid(alpha=.25)
    return to_png(fig)


def threshold_sweep(sweep: pd.DataFrame, threshold: float, n_music: int, ci=None) -> bytes:
    """Music-neuron count per sigma threshold, the chosen threshold and its bootstrap CI."""
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    ax.plot(sweep["sigma_threshold"], sweep["n_music"], marker="o", ms=3, color=REAL, label="count at threshold")
    ax.axvline(threshold, color="#333", lw=1, ls="--")
    ax.scatter([threshold], [n_music], color=MUSIC, zorder=5, label=f"this run: {n_music}")
    if ci:
        ax.errorbar([threshold], [n_music], yerr=[[n_music - ci[0]], [ci[1] - n_music]], color=MUSIC,
                    capsize=4, lw=1.2, label=f"bootstrap 95% CI {ci[0]}–{ci[1]}")
    ax.set_xlabel("σ threshold (music neuron: mean σ < threshold)")
    ax.set_ylabel("music neurons")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.grid(alpha=.25)
    return to_png(fig)


def square_heatmap(mat: pd.DataFrame, labels: list[str], title: str, vmin: float = -1.0, vmax: float = 1.0,
                   cmap: str = "RdBu_r") -> bytes:
    """A neuron x neuron matrix (rank order) with rank/latent labels."""
    n = mat.shape[0]
    # drawn to fit half the page unscaled; every label when they get >= 13 px each, else every step-th
    fig, ax = plt.subplots(figsize=(5.0, 4.6))
    im = ax.imshow(mat.to_numpy(dtype=float), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    step = max(1, int(np.ceil(n * 12.5 / 355)))
    ticks = np.arange(0, n, step)
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=TICK_PT - 0.5)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=TICK_PT - 0.5)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    return to_png(fig)


def _feature_columns(ax, cols: list, categories: dict, names: dict | None):
    """Feature tick labels on the x axis: ``code name``, coloured by category, one per column."""
    ax.set_xticks(range(len(cols)), [feature_label(f, names) for f in cols], rotation=90, fontsize=TICK_PT)
    for f, lab in zip(cols, ax.get_xticklabels()):
        lab.set_color(CAT_COLORS.get(categories.get(str(f), "?"), "#333"))


def _neuron_rows(ax, row_labels: list[str], row_px: float):
    """Neuron tick labels on the y axis: all of them when rows get >= 12 px, else every step-th."""
    n = len(row_labels)
    step = max(1, int(np.ceil(12.0 / max(row_px, 1e-9))))
    ax.set_yticks(range(0, n, step), [row_labels[i] for i in range(0, n, step)], fontsize=TICK_PT)


def _grid_size(n: int, m: int) -> tuple[float, float, float]:
    """Figure (width, height) in inches of an n x m neuron x feature heatmap, and the px per row.

    Full page width (about ``FULL_PX`` with the labels and the colour bar), 20 px per row up to 12 in.
    """
    h = min(12.0, 0.9 + 0.2 * n)
    return 11.6, h, (h - 0.9) * DPI / max(n, 1)


def feature_heatmap(phik: pd.DataFrame, row_labels: list[str], categories: dict, names: dict | None = None) -> bytes:
    """Neuron (rows, rank order) x feature (columns grouped P | R | M) phik heatmap.

    ``phik`` columns are feature ids; ``categories`` maps id -> P/R/M; ``names`` id -> catalogue
    name, shown beside the id in the column labels.
    """
    cols = []
    groups = []
    for c in ("P", "R", "M", "?"):
        fs = [f for f in phik.columns if categories.get(f, "?") == c]
        if fs:
            groups.append((c, len(cols), len(cols) + len(fs)))
            cols += fs
    data = phik[cols].to_numpy(dtype=float)
    n, m = data.shape
    w, h, row_px = _grid_size(n, m)
    fig, ax = plt.subplots(figsize=(w, h))
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    _feature_columns(ax, cols, categories, names)
    _neuron_rows(ax, row_labels, row_px)
    for c, a, b in groups:
        if a > 0:
            ax.axvline(a - .5, color="white", lw=2)
        ax.text((a + b - 1) / 2, -0.6, {"P": "pitch (P)", "R": "rhythm (R)", "M": "melody (M)"}.get(c, c),
                ha="center", va="bottom", fontsize=10, color=CAT_COLORS.get(c, "#333"), fontweight="bold")
    ax.set_ylabel("music neuron: rank (latent index)")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.015, label="phik")
    return to_png(fig)


def attributes_plot(attr: pd.DataFrame, categories: dict) -> bytes:
    """Held-out |Spearman| of the attribute-vector projection vs the best single neuron, per feature."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    d = attr.dropna(subset=["projection_spearman", "best_neuron_spearman"])
    for c in ("P", "R", "M", "?"):
        s = d[[categories.get(f, "?") == c for f in d["feature"]]]
        if len(s):
            ax.scatter(s["best_neuron_spearman"], s["projection_spearman"], s=18, color=CAT_COLORS[c],
                       label={"P": "pitch", "R": "rhythm", "M": "melody"}.get(c, "other"), alpha=.85)
    ax.plot([0, 1], [0, 1], color="#555", lw=.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("best single neuron |Spearman| (held out)")
    ax.set_ylabel("attribute-vector projection |Spearman| (held out)")
    ax.text(0.03, 0.95, "above the line: vector wins", fontsize=8, color="#555", transform=ax.transAxes)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=.25)
    return to_png(fig)


def mu_histograms(mu_real: np.ndarray, mu_random: np.ndarray, neurons: list[tuple[int, int]], bins: int = 40) -> bytes:
    """Histograms (densities, common edges) of mu of the given ``(rank, latent index)`` for real vs random."""
    from ..analysis.activation import key_neuron_histograms

    h = key_neuron_histograms(mu_real, mu_random, [d for _, d in neurons], bins=bins)
    k = len(neurons)
    fig, axes = plt.subplots(1, k, figsize=(min(3.8 * k, FULL_PX / DPI), 3.0), squeeze=False)
    for ax, (rank, d) in zip(axes[0], neurons):
        e = h[d]["edges"]
        w = np.diff(e)
        ax.bar(e[:-1], h[d]["real"], width=w, align="edge", color=REAL, alpha=.55, label="real")
        ax.bar(e[:-1], h[d]["random"], width=w, align="edge", color=RANDOM, alpha=.55, label="random")
        ax.set_title(f"music neuron {neuron_label(rank, d)}")
        ax.set_xlabel("μ")
        ax.set_ylabel("density")
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return to_png(fig)


def activation_counts(counts: pd.DataFrame, n_music: int, n_noise: int) -> bytes:
    """Distribution of activated music and noise neurons per input, real vs random."""
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2))
    for ax, col, total, title in ((axes[0], "n_music", n_music, "activated music neurons"),
                                  (axes[1], "n_noise", n_noise, "activated noise neurons")):
        vals = counts[col].to_numpy()
        hi = max(int(vals.max()) if vals.size else 1, 1)
        edges = np.arange(-0.5, hi + 1.5, max(1, int(np.ceil((hi + 1) / 60))))
        for kind, color in (("real", REAL), ("random", RANDOM)):
            v = counts.loc[counts["kind"] == kind, col]
            ax.hist(v, bins=edges, color=color, alpha=.55, label=f"{kind} (mean {v.mean():.1f})")
        ax.set_title(f"{title} (of {total})")
        ax.set_xlabel("count per input")
        ax.set_ylabel("inputs")
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return to_png(fig)


def roc_plot(roc: pd.DataFrame, auc: float | None) -> bytes:
    """The detector's ROC curve."""
    fig, ax = plt.subplots(figsize=(3.8, 3.6))
    ax.plot(roc["fpr"], roc["tpr"], color=REAL, lw=1.6, label=f"AUC {auc:.3f}" if auc is not None else "ROC")
    ax.plot([0, 1], [0, 1], color="#999", lw=.8, ls="--")
    ax.set_xlabel("false positive rate (random called music)")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=.25)
    return to_png(fig)


def traversal_curves(traversal: pd.DataFrame, panels: list[tuple[int, int, list[str]]], names: dict) -> bytes:
    """Per traversed neuron (``(rank, latent index, features)``) the mean decoded feature vs the swept value.

    Each curve is standardised (mean response minus its value at the first step, divided by the
    std of the response over steps' melodies, pooled) so several features share an axis.
    """
    k = len(panels)
    cols = min(k, 3)
    rows = int(np.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.85 * cols, 4.3 * rows), squeeze=False)
    for ax in axes.ravel()[k:]:
        ax.axis("off")
    for ax, (rank, d, feats) in zip(axes.ravel(), panels):
        t = traversal[traversal["latent_index"] == d]
        for f in feats:
            c = t[t["feature"] == f].sort_values("step")
            sd = float(np.sqrt(np.nanmean(np.square(c["std"])))) if len(c) else 0.0
            y = (c["mean"] - c["mean"].iloc[0]) / (sd if sd > 0 else 1.0)
            ax.plot(c["value"], y, marker="o", ms=3, label=feature_label(f, names, 40))
        ax.axhline(0, color="#999", lw=.6)
        if not feats:
            ax.text(0.5, 0.5, "no decoded feature moved", ha="center", va="center", transform=ax.transAxes,
                    color="#777")
        ax.set_title(f"traversing {neuron_label(rank, d)}")
        ax.set_xlabel("value of μ")
        ax.set_ylabel("Δ mean feature / pooled std")
        if feats:
            ax.legend(fontsize=7.5, frameon=False, loc="upper left", bbox_to_anchor=(0.0, -0.2), borderaxespad=0)
    fig.tight_layout()
    return to_png(fig)


def pitch_ticks(lo: int, hi: int) -> list[int]:
    """Pitches to name on a piano roll's axis: every C (and G when the range is short), at least two."""
    span = hi - lo
    classes = (0,) if span > 26 else (0, 7) if span > 9 else (0, 4, 7, 9) if span > 4 else tuple(range(12))
    ticks = [p for p in range(lo, hi + 1) if p % 12 in classes]
    return ticks if len(ticks) >= 2 else sorted({lo, hi, *ticks})


def piano_roll_png(events, title: str | None = None, lo: int | None = None, hi: int | None = None,
                   wide: bool = False) -> bytes:
    """A piano-roll image of one window (``melody.piano_roll``), pitch range ``lo..hi`` (MIDI).

    About ``HALF_PX`` wide, or ``FULL_PX`` when ``wide`` (a roll on its own row); the pitch axis is
    labelled with note names (``C4`` = MIDI 60), the time axis with bar numbers.
    """
    from ..melody import MIN_PITCH, event_to_pitch, piano_roll

    ev = np.asarray(events, dtype=int)
    roll = piano_roll(ev)
    rows = np.flatnonzero(roll.any(axis=1))
    shade = roll.astype(float) * 0.55
    on = np.flatnonzero(ev >= 2)
    shade[event_to_pitch(ev[on]) - MIN_PITCH, on] = 1.0  # onsets darker: repeated notes stay distinguishable
    if lo is None or hi is None:
        lo, hi = (int(rows.min()) + MIN_PITCH - 2, int(rows.max()) + MIN_PITCH + 2) if rows.size else (58, 74)
    sub = shade[lo - MIN_PITCH: hi - MIN_PITCH + 1]
    T = roll.shape[1]
    fig, ax = plt.subplots(figsize=(14.4, 2.4) if wide else (6.9, 2.3))
    ax.imshow(sub, origin="lower", aspect="auto", cmap="Blues", vmin=0, vmax=1.1, interpolation="nearest",
              extent=(0, T, lo - .5, hi + .5))
    ticks = pitch_ticks(lo, hi)
    for p in ticks:
        ax.axhline(p, color="#c8cdd6", lw=.5, zorder=0.5)
    for b in range(0, T + 1, 16):
        ax.axvline(b, color="#999", lw=.6)
    ax.set_yticks(ticks, [note_name(p) for p in ticks])
    bars = range(0, T, 16)
    ax.set_xticks([b + 8 for b in bars], [str(i + 1) for i in range(len(bars))])
    ax.tick_params(axis="y", labelsize=TICK_PT, length=2)
    ax.tick_params(axis="x", labelsize=TICK_PT - 1, length=0, pad=2)
    ax.set_xlim(0, T)
    ax.set_xlabel("bar", fontsize=TICK_PT - 1, labelpad=1)
    if title:
        ax.set_title(title, fontsize=9)
    if not rows.size:
        ax.text(T / 2, (lo + hi) / 2, "(silence)", ha="center", va="center", fontsize=9, color="#777")
    return to_png(fig)


def ablation_heatmap(effect: pd.DataFrame, row_labels: list[str], categories: dict,
                     names: dict | None = None) -> bytes:
    """Standardised feature change (rows: ablated neuron, rank order; columns: features by category).

    Features with no value for any neuron (constant on these windows) are left out.
    """
    effect = effect.loc[:, effect.notna().any(axis=0)]
    cols = [f for c in ("P", "R", "M", "?") for f in effect.columns if categories.get(f, "?") == c]
    data = effect[cols].to_numpy(dtype=float)
    n, m = data.shape
    w, h, row_px = _grid_size(n, m)
    fig, ax = plt.subplots(figsize=(w, h))
    vmax = float(np.nanmax(data)) if np.isfinite(data).any() else 1.0
    im = ax.imshow(data, cmap="magma_r", vmin=0, vmax=max(vmax, 1e-9), aspect="auto", interpolation="nearest")
    _feature_columns(ax, cols, categories, names)
    _neuron_rows(ax, row_labels, row_px)
    ax.set_ylabel("ablated neuron (set to 0)")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.015, label="mean |Δ feature| / std")
    return to_png(fig)


def twinkle_plot(tw: pd.DataFrame, max_neurons: int = 40) -> bytes:
    """Twinkle's mu (and sigma) per music neuron against the population's mean ± std of mu."""
    t = tw[tw["rank"] > 0].sort_values("rank").head(max_neurons)
    x = np.arange(len(t))
    fig, axes = plt.subplots(2, 1, figsize=(min(max(6.0, 0.22 * len(t) + 2.5), 11.2), 5.0), sharex=True)
    ax = axes[0]
    ax.fill_between(x, t["pop_mean_mu"] - t["pop_std_mu"], t["pop_mean_mu"] + t["pop_std_mu"], color=REAL,
                    alpha=.18, step="mid", label="population mean ± std of μ")
    ax.plot(x, t["pop_mean_mu"], color=REAL, lw=.8, drawstyle="steps-mid")
    ax.scatter(x, t["twinkle_mu"], color=MUSIC, s=16, zorder=4, label="Twinkle μ")
    ax.set_ylabel("μ")
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.grid(alpha=.2)
    ax = axes[1]
    if "pop_mean_sigma" in t:
        ax.plot(x, t["pop_mean_sigma"], color=REAL, lw=.8, drawstyle="steps-mid", label="population mean σ")
    ax.scatter(x, t["twinkle_sigma"], color=MUSIC, s=16, zorder=4, label="Twinkle σ")
    ax.set_ylabel("σ")
    ax.set_ylim(0, max(1.05, float(t["twinkle_sigma"].max()) * 1.05 if len(t) else 1.05))
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=.2)
    ax.set_xticks(x, [neuron_label(r, d) for r, d in zip(t["rank"], t["latent_index"])], rotation=90,
                  fontsize=TICK_PT - 0.5)
    fig.tight_layout()
    return to_png(fig)


def metrics_bar(metrics: dict) -> bytes:
    """The scalar disentanglement metrics as bars."""
    keys = [k for k in ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness",
                        "interpretability") if metrics.get(k) is not None]
    fig, ax = plt.subplots(figsize=(5.6, 2.8))
    ax.barh(keys[::-1], [metrics[k] for k in keys[::-1]], color=REAL)
    for i, k in enumerate(keys[::-1]):
        ax.text(metrics[k], i, f" {metrics[k]:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, max(1.0, max([metrics[k] for k in keys], default=1.0) * 1.15))
    ax.set_xlabel("score (higher = more disentangled / informative)")
    return to_png(fig)
