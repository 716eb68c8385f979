"""16-bar training recipes compared on the same held-out validation windows (issue: a model off the plateau).

    .venv/bin/python benchmarks/bench_recipes_16bar.py RUN_DIR [RUN_DIR ...] [--out benchmarks/results/recipes_16bar.json]

For each training folder: its recipe (config), steps, wall time, and -- recomputed here on the same validation
windows for every folder (whole held-out sources, ``split_by_source`` with the run's seed) -- greedy per-step
accuracy against the always-hold baseline, exact windows, teacher-forced NLL, KL (total and above the free bits),
active dims. The folders' own learning curves (every ``--eval-every`` steps, first 500 validation windows) are
copied into the JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main():
    from musicneurons.corpus import training_windows
    from musicneurons.model.checkpoint import load_model
    from musicneurons.model.train import evaluate, split_by_source

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default="benchmarks/results/recipes_16bar.json")
    ap.add_argument("--n-val", type=int, default=500)
    a = ap.parse_args()
    windows, sources, _ = training_windows("builtin", 16)
    rows = []
    for run in map(Path, a.runs):
        state = json.loads((run / "train_state.json").read_text())
        model = load_model(checkpoint=run)
        val = windows[split_by_source(sources, 0.05, state.get("seed", 0))][: a.n_val]
        t0 = time.time()
        ev = evaluate(model, val)
        cfg = json.loads((run / "config.json").read_text())
        recipe = {k: cfg[k] for k in ("name", "enc_level_lengths", "free_bits", "max_beta", "beta_rate", "batch_size")}
        curve = [{k.removeprefix("val_"): v for k, v in h.items()} for h in state["history"]
                 if "val_recon_accuracy" in h]
        rows.append({"run": str(run), "recipe": recipe, "step": state["step"],
                     "wall_time_s": (json.loads((run / "metrics.json").read_text()).get("wall_time_s")
                                     if (run / "metrics.json").exists() else None),
                     "eval": ev, "eval_seconds": round(time.time() - t0, 1), "curve": curve})
    print(f"{'run':38s} {'step':>5s} {'greedy':>7s} {'hold':>6s} {'exact':>6s} {'nll':>7s} {'KL':>6s} "
          f"{'>free':>6s} {'active':>6s}")
    for r in rows:
        e = r["eval"]
        print(f"{Path(r['run']).name:38s} {r['step']:5d} {e['recon_accuracy']:7.4f} {e['always_hold_accuracy']:6.4f} "
              f"{e['recon_exact_windows']:6.3f} {e['teacher_forced_nll']:7.1f} {e['kl_bits']:6.1f} "
              f"{e['kl_above_free_bits']:6.1f} {e['active_dims']:6d}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"n_val_windows": a.n_val, "runs": rows}, indent=1))
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
