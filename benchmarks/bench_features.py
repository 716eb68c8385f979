"""Windows/s of the native and the music21 feature backends on the same windows, and their ratio.

music21 runs its fast path: one shared ``DataInstance`` per window, every jSymbolic scalar of the
catalog extracted from it, in one process (the time includes building the Stream with
``to_music21``, which any user of music21 must do too; the DataInstance-only time is reported
beside it). The native backend computes the whole catalog (jSymbolic scalars + attributes).
Windows are the real melodies of the parity fixture (music21's ABC corpus).

    .venv/bin/python benchmarks/bench_features.py [--m21-2bar 400] [--m21-16bar 80]

Prints a table and writes ``benchmarks/results/features.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from musicneurons.features import compute_features
from musicneurons.features.catalog import jsymbolic_ids
from musicneurons.features.music21_backend import to_music21

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "features" / "parity.npz"
OUT = ROOT / "benchmarks" / "results" / "features.json"


def time_native(ev, repeats=5):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        compute_features(ev, progress=False)
        best = min(best, time.perf_counter() - t0)
    return best


def time_music21(ev):
    t0 = time.perf_counter()
    compute_features(ev, backend="music21", progress=False)
    total = time.perf_counter() - t0
    # the part that is music21's feature extraction alone (stream already built)
    from music21.features import DataInstance, jSymbolic

    by_id = {F.id: F for F in jSymbolic.featureExtractors}
    extractors = [by_id[i] for i in jsymbolic_ids()]
    streams = [to_music21(e) for e in ev]
    t0 = time.perf_counter()
    for s in streams:
        di = DataInstance(s)
        for F in extractors:
            f = F()
            f.setData(di)
            try:
                f.extract()
            except Exception:
                pass
    extract_only = time.perf_counter() - t0
    return total, extract_only


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m21-2bar", type=int, default=400, help="2-bar windows through music21")
    ap.add_argument("--m21-16bar", type=int, default=80, help="16-bar windows through music21")
    ap.add_argument("--big", type=int, default=50_000, help="2-bar windows for the native bulk run")
    args = ap.parse_args()

    z = np.load(FIXTURE)
    real = {t: z[f"events_{t}"][z[f"kind_{t}"] == "real"].astype(np.int64) for t in (32, 256)}
    rows = []
    for t, n in ((32, args.m21_2bar), (256, args.m21_16bar)):
        ev = real[t][:n]
        m21_total, m21_extract = time_music21(ev)
        nat = time_native(ev)
        rows.append(dict(window=f"{t // 16}-bar", steps=t, n_windows=len(ev),
                         music21_s=m21_total, music21_win_per_s=len(ev) / m21_total,
                         music21_ms_per_win=1e3 * m21_total / len(ev),
                         music21_extract_only_ms_per_win=1e3 * m21_extract / len(ev),
                         native_s=nat, native_win_per_s=len(ev) / nat, ratio=m21_total / nat,
                         ratio_vs_extract_only=m21_extract / nat))
    reps = -(-args.big // len(real[32]))
    big = np.tile(real[32], (reps, 1))[:args.big]
    nat_big = time_native(big, repeats=3)
    t0 = time.perf_counter()
    compute_features(big, progress=False, vectors=True)
    nat_big_vectors = time.perf_counter() - t0
    m21_ms = rows[0]["music21_ms_per_win"]
    # the native backend's per-call overhead (~5 ms) dominates 400 windows; per window in bulk is what a run pays
    ratio_bulk = (args.big / nat_big) / rows[0]["music21_win_per_s"]

    print(f"{'window':>7} {'n':>5} {'music21 win/s':>14} {'ms/win':>7} {'(extract only)':>15} "
          f"{'native win/s':>13} {'ratio':>8}")
    for r in rows:
        print(f"{r['window']:>7} {r['n_windows']:>5} {r['music21_win_per_s']:>14.1f} {r['music21_ms_per_win']:>7.2f} "
              f"{r['music21_extract_only_ms_per_win']:>15.2f} {r['native_win_per_s']:>13.0f} {r['ratio']:>7.0f}x")
    print(f"native, {args.big} 2-bar windows: {nat_big:.3f} s ({args.big / nat_big:,.0f} win/s); "
          f"with vector features: {nat_big_vectors:.3f} s; music21 would take ~{args.big * m21_ms / 1e3:,.0f} s "
          f"in one process")
    print(f"2-bar ratio per window in bulk (native {args.big} windows vs music21's win/s): {ratio_bulk:,.0f}x")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    import music21

    result = dict(
        benchmark="features", date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        machine=dict(python=platform.python_version(), platform=platform.platform(), cpus=os.cpu_count(),
                     load_average_1m=os.getloadavg()[0]),
        versions=dict(music21=music21.__version__, numpy=np.__version__),
        n_features_music21=len(jsymbolic_ids()), n_columns_native=compute_features(big[:1], progress=False).shape[1],
        rows=rows,
        native_big=dict(n_windows=args.big, steps=32, seconds=nat_big, win_per_s=args.big / nat_big,
                        seconds_with_vectors=nat_big_vectors,
                        music21_estimate_seconds=args.big * m21_ms / 1e3, ratio_2bar_bulk=ratio_bulk),
    )
    OUT.write_text(json.dumps(result, indent=1))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
