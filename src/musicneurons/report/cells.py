"""Pieces the report's sections share: rank maps and orderings, neuron / feature / label cells, long tables folded into
<details>.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import figures as F
from .reader import RunResults
from .html import cat_badge, details, esc, table


MAX_HEATMAP = 64  # rows (neurons) shown in the heatmaps
MAX_TABLE = 40  # rows shown before the rest folds into <details>
N_KEY_NEURONS = 3  # mu histograms of the top ranks


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
