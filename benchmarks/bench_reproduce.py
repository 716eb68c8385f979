"""Time and peak memory of each stage of ``musicneurons reproduce`` at its default size.

Runs the README's main job into a fresh folder (or ``--run-dir``), then prints a table of the stages and writes
``benchmarks/results/reproduce.json`` (``reproduce_<N>.json`` for another ``--n-melodies``) with each stage's wall time and peak memory, the analysis' sub-steps, and
the ratio of each to the previous result in that file (kept under ``"previous"``). Target (issue 18): the whole
default run in <= 300 s on 2 cores. Say the machine's load: the load average is recorded before and after.

    python benchmarks/bench_reproduce.py [--run-dir DIR] [--n-melodies N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path

from musicneurons.pipeline import Settings, reproduce


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--n-melodies", type=int, default=Settings().n_melodies)
    ap.add_argument("--models", default="2bar,16bar", help="model keys (issue 18's small run: 2bar only)")
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    run_dir = Path(a.run_dir or tempfile.mkdtemp(prefix="mn-bench-"))
    if run_dir.exists() and a.run_dir is None:
        shutil.rmtree(run_dir)
    load_before = os.getloadavg()[0]
    lines = []
    t0 = time.time()
    keys = tuple(k for k in ("2bar", "16bar") if k in a.models.split(","))
    summary = reproduce(run_dir, Settings(n_melodies=a.n_melodies, keys=keys), log=lines.append)
    wall = time.time() - t0
    timings = json.loads((run_dir / "stages" / "timings.json").read_text())
    rows = [(k, v["seconds"], v["peak_rss_mb"], v.get("cached")) for k, v in timings.items() if isinstance(v, dict)]
    print(f"{'stage':28s} {'seconds':>9s} {'peak RSS MB':>12s}")
    for name, sec, mem, cached in rows:
        print(f"{name:28s} {sec:9.1f} {mem:12.0f}{'  (cached)' if cached else ''}")
    res = Path(__file__).parent / "results"
    default = a.n_melodies == Settings().n_melodies and len(keys) == 2  # other runs keep their own file
    old_path = res / ("reproduce.json" if default else f"reproduce_{a.n_melodies}_{'_'.join(keys)}.json")
    prev = json.loads(old_path.read_text()) if old_path.is_file() else None
    prev_stage = {r["stage"]: r["seconds"] for r in (prev or {}).get("stages", [])}
    substeps = []  # "           2bar model health (...): 7.5 s" lines of the analysis
    for line in lines:
        m = re.match(r"\s+(\S+bar) (.+): ([0-9.]+) s$", line)
        if m:
            substeps.append({"model": m.group(1), "step": m.group(2), "seconds": float(m.group(3))})
    print(f"{'stage':28s} {'seconds':>9s} {'peak RSS MB':>12s} {'vs previous':>12s}")
    for name, sec, mem, cached in rows:
        ratio = f"{sec / prev_stage[name]:.2f}x" if prev_stage.get(name) else "-"
        print(f"{name:28s} {sec:9.1f} {mem:12.0f} {ratio:>12s}{'  (cached)' if cached else ''}")
    for st in substeps:
        print(f"  {st['model']:6s} {st['step'][:60]:60s} {st['seconds']:7.1f}")
    ratio = f" ({wall / prev['wall_seconds']:.2f}x the previous {prev['wall_seconds']:.0f} s)" if prev else ""
    target = 300 if default else 15 if (a.n_melodies, keys) == (2000, ("2bar",)) else None  # issue 18
    print(f"{'total':28s} {wall:9.1f}{ratio}"
          + (f"   target <= {target} s: {'met' if wall <= target else 'NOT met'}" if target else ""))
    out = {
        "benchmark": "reproduce", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m_before": load_before, "load_average_1m_after": os.getloadavg()[0]},
        "note": a.note, "n_melodies": a.n_melodies, "models": list(keys), "wall_seconds": round(wall, 1),
        "stages": [{"stage": n, "seconds": s, "peak_rss_mb": m, "cached": c,
                    "vs_previous": (round(s / prev_stage[n], 3) if prev_stage.get(n) else None)} for n, s, m, c in rows],
        "analysis_substeps": substeps,
        "n_real": {k: v.get("n_real") for k, v in summary.items()},
        "n_music_neurons": {k: v.get("n_music_neurons") for k, v in summary.items()},
    }
    if prev:
        prev.pop("previous", None)
        out["previous"] = prev
    res.mkdir(exist_ok=True)
    old_path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
