"""The model-health gate: has the model learned enough for its latent space to be read as the paper reads it?

Input: the numbers of :func:`musicneurons.model.health.model_health` (greedy per-step reconstruction accuracy,
the always-hold baseline, whether the sigma rule found a gap, the fraction of decoded steps that change when
every noise dim is set to 0, ...). A model **fails** when any of these holds (``HEALTH_THRESHOLDS``):

- greedy accuracy < always-hold accuracy + ``min_accuracy_over_hold`` (0.10): it decodes little more than
  "hold the note" at every step;
- no sigma gap was found (``sigma_threshold_rule == "fallback"``): no music / noise split to speak of;
- zeroing the noise dims changes more than ``max_noise_zeroing_changed_steps`` (0.02) of the decoded steps: the
  "noise" neurons carry content.

A failing model's analysis is still written, but the report says it fails in one sentence at the top of its
section and gives no paper verdicts for it (:mod:`musicneurons.report.paper`).

``summary["<key>"]["health"]`` = the numbers of ``model_health`` plus ``thresholds`` (the dict below),
``checks`` (``[{"check", "value", "limit", "passes"}]``), ``failures`` (one sentence per failed check),
``passes`` (bool) and ``n_windows``.
"""

from __future__ import annotations

HEALTH_THRESHOLDS = {"min_accuracy_over_hold": 0.10, "require_sigma_gap": True,
                     "max_noise_zeroing_changed_steps": 0.02}


def thresholds_text(t: dict | None = None) -> str:
    t = t or HEALTH_THRESHOLDS
    return (f"a model fails when its greedy per-step accuracy is below the always-hold baseline + "
            f"{t['min_accuracy_over_hold']:.2f}, when the sigma rule finds no gap (fallback threshold), or when "
            f"setting every noise dim to 0 changes more than {t['max_noise_zeroing_changed_steps'] * 100:g} % of "
            f"the decoded steps")


def health_gate(health: dict | None, thresholds: dict | None = None) -> dict | None:
    """``health`` (from ``model_health``) with the gate's verdict added (see the module docstring)."""
    if health is None:
        return None
    t = dict(thresholds or HEALTH_THRESHOLDS)
    acc, hold = health.get("recon_accuracy"), health.get("always_hold_accuracy")
    changed = health.get("noise_zeroing_changed_steps")
    checks, failures = [], []
    if acc is not None and hold is not None:
        limit = hold + t["min_accuracy_over_hold"]
        ok = acc >= limit
        checks.append({"check": "greedy accuracy ≥ always-hold + margin", "value": acc, "limit": limit,
                       "passes": ok})
        if not ok:
            failures.append(f"greedy per-step accuracy {acc:.3f} is below the always-hold baseline {hold:.3f} + "
                            f"{t['min_accuracy_over_hold']:.2f}")
    if t.get("require_sigma_gap", True):
        gap = health.get("sigma_gap_found")
        if gap is None and health.get("sigma_threshold_rule") is not None:
            gap = health["sigma_threshold_rule"] != "fallback"
        if gap is not None:
            checks.append({"check": "a sigma gap (music / noise split)", "value": bool(gap), "limit": True,
                           "passes": bool(gap)})
            if not gap:
                failures.append("the sigma rule found no gap between music and noise neurons (fallback threshold)")
    if changed is not None:
        ok = changed <= t["max_noise_zeroing_changed_steps"]
        checks.append({"check": "zeroing the noise dims changes few decoded steps", "value": changed,
                       "limit": t["max_noise_zeroing_changed_steps"], "passes": ok})
        if not ok:
            failures.append(f"setting every noise dim to 0 changes {changed * 100:.1f} % of the decoded steps "
                            f"(> {t['max_noise_zeroing_changed_steps'] * 100:g} %)")
    return {**health, "thresholds": t, "rule": thresholds_text(t), "checks": checks, "failures": failures,
            "passes": not failures}
