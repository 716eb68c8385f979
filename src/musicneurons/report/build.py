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

This module only assembles the page: each model's section from the parts in :mod:`.neuron_parts` and
:mod:`.effect_parts`, then the sections of :mod:`.page_sections`; the pieces they share are in :mod:`.cells`.
"""

from __future__ import annotations

from pathlib import Path

from .reader import RunResults
from .html import esc, page, section
from .cells import _rank_map
from .effect_parts import (ablation_part, interventions_part, neuron_ablation_part,
                           real_random_part)
from .neuron_parts import (attributes_part, baselines_part, correlations_part, features_part,
                           health_part, held_out_part, melody_part, metrics_part, neurons_part)
from .page_sections import (footer_html, header_html, overview_section, paper_section,
                            settings_section, timings_section, twinkle_section)


def model_section(run: RunResults, key: str) -> str:
    s = run.summary[key]
    ranks = _rank_map(s)
    parts = [health_part(run, key, s), held_out_part(run, key, s), baselines_part(run, key, s),
             neurons_part(run, key, s), correlations_part(run, key, s, ranks), features_part(run, key, s, ranks)]
    parts = [p for p in parts if p is not None]
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
