"""Time and peak memory of each stage of ``musicneurons reproduce`` at its default size.

Runs the README's main job ``--repeat`` times, each a fresh process into a fresh folder, then prints a table of
the stages (the **median** of the runs: this machine's speed drifts by up to 2x over minutes, so one run is no
measurement) and writes ``benchmarks/results/reproduce.json`` (``reproduce_<N>_<models>.json`` for another size)
with each stage's median wall time, every run's time, peak memory, the analysis' sub-steps and the ratio of each
to the previous result in that file (kept under ``"previous"``). Target (issue 18): the whole default run in
<= 300 s on 2 cores. The load average before and after and each run's CPU steal (the time a virtual machine's
host took from it: 40-50 % on this machine at busy hours) are recorded.

``--against SRC`` times a second checkout's ``src`` folder (e.g. a ``git worktree`` of the commit before a
change) in the same call, runs alternating (this, other, this, ...), and reports each stage's median ratio
this/other over the pairs: the comparison that holds when the machine's speed drifts.

    python benchmarks/bench_reproduce.py [--n-melodies N] [--models 2bar,16bar] [--repeat K] [--against SRC]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from musicneurons.pipeline import Settings

SRC = Path(__file__).resolve().parents[1] / "src"
#: one run: the pipeline's reproduce() in a fresh interpreter, its log lines on stdout
RUN = ("import sys; from musicneurons.pipeline import Settings, reproduce; "
       "reproduce(sys.argv[1], Settings(n_melodies=int(sys.argv[2]), keys=tuple(sys.argv[3].split(','))), "
       "log=lambda m: print(m, flush=True))")
SUBSTEP = re.compile(r"\s+(\S+bar) (.+): ([0-9.]+) s$")  # "           2bar model health (...): 7.5 s"


def cpu_ticks() -> list[int] | None:
    """The machine's CPU time counters (``/proc/stat``: user, nice, system, idle, iowait, irq, softirq, steal), or
    None where there is no such file."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None


def steal_share(before, after) -> float | None:
    """The share of CPU time the hypervisor took from this virtual machine between two :func:`cpu_ticks` (its
    "steal"): a run measured while it is large ran on a machine slower than it looks."""
    if before is None or after is None:
        return None
    d = [b - a for a, b in zip(before, after)]
    busy = sum(d) - d[3] - d[4]  # all but idle and iowait
    return round(d[7] / busy, 3) if busy > 0 else None


def run_once(src: Path, run_dir: Path, n_melodies: int, keys: tuple) -> dict:
    """One ``reproduce`` in a new process importing ``musicneurons`` from ``src``: whole-process wall seconds, the
    CPU steal share during it, the stages' timings (``stages/timings.json``) and the analysis' sub-steps from its
    log."""
    env = {**os.environ, "PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0, ticks = time.time(), cpu_ticks()
    p = subprocess.run([sys.executable, "-c", RUN, str(run_dir), str(n_melodies), ",".join(keys)], env=env,
                       capture_output=True, text=True)
    wall, steal = time.time() - t0, steal_share(ticks, cpu_ticks())
    if p.returncode != 0:
        raise SystemExit(f"reproduce from {src} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    timings = json.loads((run_dir / "stages" / "timings.json").read_text())
    stages = {k: v for k, v in timings.items() if isinstance(v, dict)}
    substeps = []
    for line in p.stdout.splitlines():
        m = SUBSTEP.match(line)
        if m:
            substeps.append((m.group(1), m.group(2), float(m.group(3))))
    summary = json.loads((run_dir / "analysis" / "summary.json").read_text())
    return {"wall": wall, "steal": steal, "stages": stages, "substeps": substeps,
            "n_real": {k: v.get("n_real") for k, v in summary.items()},
            "n_music_neurons": {k: v.get("n_music_neurons") for k, v in summary.items()}}


def medians(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per stage and per analysis sub-step: the median seconds over ``runs`` (and every run's seconds)."""
    stages = []
    for name in runs[0]["stages"]:
        secs = [r["stages"][name]["seconds"] for r in runs if name in r["stages"]]
        stages.append({"stage": name, "seconds": round(statistics.median(secs), 2), "seconds_runs": secs,
                       "peak_rss_mb": max(r["stages"][name]["peak_rss_mb"] for r in runs if name in r["stages"])})
    subs = []
    for model, step, _ in runs[0]["substeps"]:
        secs = [s for r in runs for (m, st, s) in r["substeps"] if (m, st) == (model, step)]
        subs.append({"model": model, "step": step, "seconds": round(statistics.median(secs), 2)})
    return stages, subs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-melodies", type=int, default=Settings().n_melodies)
    ap.add_argument("--models", default="2bar,16bar", help="model keys (issue 18's small run: 2bar only)")
    ap.add_argument("--repeat", type=int, default=3, help="runs (each a fresh process and folder); medians quoted")
    ap.add_argument("--against", default=None, help="another checkout's src folder, timed alternately")
    ap.add_argument("--keep", default=None, help="keep the last run's folder here")
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    keys = tuple(k for k in ("2bar", "16bar") if k in a.models.split(","))
    other = Path(a.against).resolve() if a.against else None
    if other is not None and not (other / "musicneurons" / "__init__.py").is_file():
        raise SystemExit(f"--against {a.against}: no musicneurons package in that folder (give a checkout's src)")
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="mn-bench-"))
    runs, other_runs = [], []
    try:
        for k in range(a.repeat):
            for src, out in ((SRC, runs), (other, other_runs)):
                if src is None:
                    continue
                d = tmp / f"run-{len(runs) + len(other_runs)}"
                out.append(run_once(src, d, a.n_melodies, keys))
                st = out[-1]["steal"]
                print(f"run {k + 1}/{a.repeat} {'this' if src == SRC else 'other'}: {out[-1]['wall']:.1f} s"
                      + (f" (CPU steal {st:.0%})" if st is not None else ""), flush=True)
                if a.keep and src == SRC and k == a.repeat - 1:
                    shutil.rmtree(a.keep, ignore_errors=True)
                    shutil.copytree(d, a.keep)
                shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stages, substeps = medians(runs)
    wall = statistics.median(r["wall"] for r in runs)
    res = Path(__file__).parent / "results"
    default = a.n_melodies == Settings().n_melodies and len(keys) == 2  # other runs keep their own file
    old_path = res / ("reproduce.json" if default else f"reproduce_{a.n_melodies}_{'_'.join(keys)}.json")
    prev = json.loads(old_path.read_text()) if old_path.is_file() else None
    prev_stage = {r["stage"]: r["seconds"] for r in (prev or {}).get("stages", [])}
    against = None
    if other_runs:
        o_stages, _ = medians(other_runs)
        o_sec = {s["stage"]: s["seconds"] for s in o_stages}

        def pair_ratio(get):
            vals = [get(r) / get(o) for r, o in zip(runs, other_runs) if get(o)]
            return round(statistics.median(vals), 3) if vals else None

        against = {"src": str(other), "wall_seconds": round(statistics.median(r["wall"] for r in other_runs), 1),
                   "cpu_steal_runs": [r["steal"] for r in other_runs],
                   "wall_ratio_median": pair_ratio(lambda r: r["wall"]),
                   "wall_ratio_range": [round(min(r["wall"] / o["wall"] for r, o in zip(runs, other_runs)), 3),
                                        round(max(r["wall"] / o["wall"] for r, o in zip(runs, other_runs)), 3)],
                   "stages": [{"stage": s["stage"], "seconds": o_sec.get(s["stage"]),
                               "ratio_median": pair_ratio(lambda r, n=s["stage"]: r["stages"].get(n, {}).get("seconds"))}
                              for s in stages]}
    ratio_of = {s["stage"]: s["ratio_median"] for s in (against or {}).get("stages", [])}
    print(f"\n{a.repeat} run(s) of n_melodies={a.n_melodies}, models={','.join(keys)}; medians")
    print(f"{'stage':26s} {'seconds':>8s} {'peak MB':>8s} {'vs previous':>12s}"
          + (f" {'vs --against':>13s}" if against else ""))
    for s in stages:
        pr = f"{s['seconds'] / prev_stage[s['stage']]:.2f}x" if prev_stage.get(s["stage"]) else "-"
        ag = f" {ratio_of[s['stage']]:12.3f}x" if against and ratio_of.get(s["stage"]) else (" " * 14 if against else "")
        print(f"{s['stage']:26s} {s['seconds']:8.1f} {s['peak_rss_mb']:8.0f} {pr:>12s}{ag}")
    for st in substeps:
        print(f"  {st['model']:6s} {st['step'][:60]:60s} {st['seconds']:7.1f}")
    ratio = f" ({wall / prev['wall_seconds']:.2f}x the previous {prev['wall_seconds']:.0f} s)" if prev else ""
    target = 300 if default else 15 if (a.n_melodies, keys) == (2000, ("2bar",)) else None  # issue 18
    print(f"{'whole process':26s} {wall:8.1f}{ratio}"
          + (f"   target <= {target} s: {'met' if wall <= target else 'NOT met'}" if target else ""))
    if against:
        print(f"this / --against, whole process: median {against['wall_ratio_median']:.3f} "
              f"(range {against['wall_ratio_range'][0]:.3f}-{against['wall_ratio_range'][1]:.3f}; "
              f"--against median {against['wall_seconds']:.1f} s)")
    out = {
        "benchmark": "reproduce", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m_before": load_before, "load_average_1m_after": os.getloadavg()[0]},
        "note": a.note, "n_melodies": a.n_melodies, "models": list(keys), "repeat": a.repeat,
        "wall_seconds": round(wall, 1), "wall_seconds_runs": [round(r["wall"], 1) for r in runs],
        "cpu_steal_runs": [r["steal"] for r in runs],
        "cpu_steal": "share of the busy CPU time the hypervisor took during each run (/proc/stat); above a few "
                     "percent the machine was slower than it looks and only --against ratios compare",
        "wall": "whole process (imports included), median of the runs; stage seconds are medians too",
        "stages": [{**s, "vs_previous": (round(s["seconds"] / prev_stage[s["stage"]], 3)
                                         if prev_stage.get(s["stage"]) else None)} for s in stages],
        "analysis_substeps": substeps,
        "against": against,
        "n_real": runs[0]["n_real"], "n_music_neurons": runs[0]["n_music_neurons"],
    }
    if prev:
        prev.pop("previous", None)
        out["previous"] = prev
    res.mkdir(exist_ok=True)
    old_path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
