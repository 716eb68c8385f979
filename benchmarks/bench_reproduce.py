"""Time and peak memory of each stage of ``musicneurons reproduce`` at its default size.

Runs the README's main job into a fresh folder (or ``--run-dir``), then prints a table of the stages and writes
``benchmarks/results/reproduce.json``. Target (issue 7): the whole default run in <= 10 minutes on 2 cores.

    python benchmarks/bench_reproduce.py [--run-dir DIR] [--n-melodies N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from musicneurons.pipeline import Settings, reproduce


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--n-melodies", type=int, default=Settings().n_melodies)
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    run_dir = Path(a.run_dir or tempfile.mkdtemp(prefix="mn-bench-"))
    if run_dir.exists() and a.run_dir is None:
        shutil.rmtree(run_dir)
    t0 = time.time()
    summary = reproduce(run_dir, Settings(n_melodies=a.n_melodies), log=lambda *_: None)
    wall = time.time() - t0
    timings = json.loads((run_dir / "stages" / "timings.json").read_text())
    rows = [(k, v["seconds"], v["peak_rss_mb"], v.get("cached")) for k, v in timings.items() if isinstance(v, dict)]
    print(f"{'stage':28s} {'seconds':>9s} {'peak RSS MB':>12s}")
    for name, sec, mem, cached in rows:
        print(f"{name:28s} {sec:9.1f} {mem:12.0f}{'  (cached)' if cached else ''}")
    print(f"{'total':28s} {wall:9.1f}   target <= 600 s: {'met' if wall <= 600 else 'NOT met'}")
    out = {
        "benchmark": "reproduce", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m": os.getloadavg()[0]},
        "note": a.note, "n_melodies": a.n_melodies, "wall_seconds": round(wall, 1),
        "stages": [{"stage": n, "seconds": s, "peak_rss_mb": m, "cached": c} for n, s, m, c in rows],
        "n_real": {k: v.get("n_real") for k, v in summary.items()},
        "n_music_neurons": {k: v.get("n_music_neurons") for k, v in summary.items()},
    }
    res = Path(__file__).parent / "results"
    res.mkdir(exist_ok=True)
    (res / "reproduce.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
