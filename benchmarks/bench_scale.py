"""Benchmark the partitioned extract at scale: files/s and windows/s with 1 and 2 workers, local processes and
a Dask LocalCluster, outputs compared, and a projection of the wall time for all of Lakh on a 64-core cluster.

Corpus: ``--n-files`` (default 5000) generated, realistic multi-track MIDI files
(``musicneurons.testing.realistic_midi``: 4-10 instruments with drums, bass, chords and lead lines, 500-3000
notes, some humanized, some with tempo or meter changes), in the Lakh layout ``lmd_full/<x>/<md5>.mid`` under
``--corpus`` (default ``/tmp/musicneurons-scale/lmd_full``; reused when it already holds the same files).

Each configuration runs :func:`musicneurons.executor.sharded_extract` into a fresh folder (2-bar windows,
``--partition-size`` files per partition) and is timed end to end (cluster start-up excluded, reported apart).
All configurations must write identical parts (a content digest of every part is compared).

Usage::

    python benchmarks/bench_scale.py [--n-files 5000] [--workers 1 2] [--out benchmarks/results/scale.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from musicneurons.testing import realistic_midi

REPO = Path(__file__).resolve().parents[1]

LAKH_FILES = 176_581  # LMD-full, colinraffel.com/projects/lmd
CLUSTER_CORES = 64


def build_corpus(root: Path, n_files: int, seed: int) -> dict:
    """Write the generated corpus (Lakh layout) unless ``root/stamp.json`` says it is already there."""
    stamp = root / "stamp.json"
    want = {"n_files": n_files, "seed": seed, "generator": "musicneurons.testing.realistic_midi"}
    if stamp.exists():
        have = json.loads(stamp.read_text())
        if {k: have.get(k) for k in want} == want:
            return have
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    n_notes = n_bytes = 0
    for i in range(n_files):
        data, n = realistic_midi(rng)
        md5 = hashlib.md5(data).hexdigest()
        path = root / "lmd_full" / md5[0] / f"{md5}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        n_notes += n
        n_bytes += len(data)
    info = {**want, "notes": n_notes, "bytes": n_bytes, "mean_notes": n_notes / n_files,
            "mean_bytes": n_bytes / n_files, "generation_s": round(time.perf_counter() - t0, 1)}
    stamp.write_text(json.dumps(info, indent=1))
    return info


def parts_digest(out_dir: Path) -> str:
    """A digest of every part's content (source, window, events, provenance), in partition order."""
    import pyarrow.parquet as pq

    h = hashlib.sha256()
    for p in sorted(out_dir.glob("part-*.parquet")):
        t = pq.read_table(p)
        for name in t.column_names:
            col = t.column(name).combine_chunks()
            if name == "source":
                data = "\n".join(col.to_pylist()).encode()
            else:
                col = col.flatten() if name == "events" else col
                data = np.ascontiguousarray(col.to_numpy(zero_copy_only=False)).tobytes()
            h.update(name.encode())
            h.update(data)
        h.update((out_dir / p.name.replace(".parquet", ".rejections.csv")).read_bytes())
    return h.hexdigest()[:16]


def cost_model(files, n: int = 300) -> dict:
    """CPU seconds per file against its size, fitted on ``n`` files extracted one by one in this process."""
    from musicneurons.extract import extract_file

    pick = files[:: max(1, len(files) // n)][:n]
    size, secs = [], []
    for f in pick:
        t0 = time.process_time()
        extract_file(f, bars=2)
        secs.append(time.process_time() - t0)
        size.append(Path(f).stat().st_size)
    size, secs = np.asarray(size, float), np.asarray(secs)
    slope, intercept = np.polyfit(size, secs, 1)
    r2 = 1 - ((secs - (intercept + slope * size)) ** 2).sum() / ((secs - secs.mean()) ** 2).sum()
    return {"n_files": len(pick), "seconds_per_kb": round(slope * 1024, 6), "seconds_fixed": round(intercept, 5),
            "r2": round(float(r2), 3), "size_kb_range": [round(size.min() / 1024, 1), round(size.max() / 1024, 1)]}


def run_one(kind: str, workers: int, files, work: Path, partition_size: int) -> dict:
    from musicneurons.executor import DaskExecutor, LocalExecutor, extract_counts, sharded_extract

    out = work / f"{kind}-{workers}"
    if out.exists():
        shutil.rmtree(out)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    ex = LocalExecutor(workers) if kind == "local" else DaskExecutor(n_workers=workers, threads_per_worker=1)
    startup = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        summary = sharded_extract(files, 2, out, ex, partition_size=partition_size, progress=False)
        seconds = time.perf_counter() - t1
    finally:
        ex.close()
    counts = extract_counts(out)
    tasks = summary["summaries"].values()
    cpu = sum(t["cpu_s"] for t in tasks)
    task_wall = sum(t["wall_s"] for t in tasks)
    row = {"executor": kind, "workers": workers, "seconds": round(seconds, 2), "startup_s": round(startup, 2),
           "files_per_s": round(len(files) / seconds, 2), "windows": counts["n_windows"],
           "windows_per_s": round(counts["n_windows"] / seconds, 1), "n_partitions": summary["n_partitions"],
           "task_cpu_s": round(cpu, 2), "task_wall_s": round(task_wall, 2),
           "cpu_share": round(cpu / task_wall, 3),  # < 1: the tasks waited for a core (a busy machine)
           "failed": len(summary["failed"]), "digest": parts_digest(out),
           "loadavg_1min_before": round(load0, 2), "loadavg_1min_after": round(os.getloadavg()[0], 2)}
    shutil.rmtree(out)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-files", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--executors", nargs="+", default=["local", "dask"], choices=["local", "dask"])
    ap.add_argument("--partition-size", type=int, default=100)
    ap.add_argument("--corpus", default="/tmp/musicneurons-scale")
    ap.add_argument("--note", default="", help="free text stored in the JSON (e.g. what else ran on the machine)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale.json"))
    a = ap.parse_args(argv)

    from musicneurons.sources import find_files

    root = Path(a.corpus)
    corpus = build_corpus(root, a.n_files, a.seed)
    files = find_files(root / "lmd_full")
    assert len(files) == a.n_files, (len(files), a.n_files)
    print(f"corpus: {len(files)} files, mean {corpus['mean_notes']:.0f} notes, {corpus['mean_bytes'] / 1024:.1f} KB "
          f"({root / 'lmd_full'})")
    rows = []
    for kind in a.executors:
        for w in a.workers:
            row = run_one(kind, w, files, root / "runs", a.partition_size)
            rows.append(row)
            print(f"  {kind:5s} x{w}: {row['seconds']:7.1f} s  {row['files_per_s']:6.1f} files/s  "
                  f"{row['windows_per_s']:8.1f} windows/s  CPU {row['task_cpu_s']:6.1f} s  share {row['cpu_share']}  "
                  f"(load {row['loadavg_1min_before']}) {row['digest']}")

    identical = len({r["digest"] for r in rows}) == 1 and all(r["failed"] == 0 for r in rows)
    by = {(r["executor"], r["workers"]): r for r in rows}
    eff_wall, eff_cpu = {}, {}
    for kind in a.executors:
        if (kind, 1) in by and (kind, 2) in by:
            one, two = by[(kind, 1)], by[(kind, 2)]
            eff_wall[kind] = round(two["files_per_s"] / (2 * one["files_per_s"]), 3)
            eff_cpu[kind] = round(one["task_cpu_s"] / two["task_cpu_s"], 3)

    # projection: CPU seconds per file (measured inside the tasks, so waiting for a busy core is not counted)
    # from the 1-worker local run, scaled to Lakh's mean file size with the size -> cost line fitted here, over
    # 64 cores at the measured CPU efficiency of 2 workers (CPU seconds per file with 1 worker / with 2)
    base = by.get(("local", 1)) or rows[0]
    cpu_per_file = base["task_cpu_s"] / len(files)
    wall_per_file = base["seconds"] / len(files)
    fit = cost_model(files)
    lakh_mean_kb = 36.8  # assumed; see "assumptions"
    gen_kb = corpus["mean_bytes"] / 1024
    predict = lambda kb: fit["seconds_fixed"] + fit["seconds_per_kb"] * kb  # noqa: E731
    ratio = predict(lakh_mean_kb) / predict(gen_kb)
    e_cpu = min(eff_cpu.values()) if eff_cpu else 1.0
    e_wall = min(eff_wall.values()) if eff_wall else 1.0
    cpu_s = LAKH_FILES * cpu_per_file * ratio
    wall_s = cpu_s / (CLUSTER_CORES * min(1.0, e_cpu))
    contended_s = LAKH_FILES * wall_per_file * ratio / (CLUSTER_CORES * e_wall)
    projection = {
        "lakh_files": LAKH_FILES, "cores": CLUSTER_CORES, "cpu_seconds_per_file": round(cpu_per_file, 5),
        "wall_seconds_per_file_1_worker": round(wall_per_file, 5), "cost_vs_size_fit": fit,
        "generated_mean_kb": round(gen_kb, 2), "lakh_mean_kb_assumed": lakh_mean_kb,
        "cost_ratio_lakh_vs_generated": round(ratio, 3), "cpu_efficiency_used": min(1.0, e_cpu),
        "cpu_hours": round(cpu_s / 3600, 2),
        "wall_minutes": round(wall_s / 60, 1),
        "wall_minutes_if_lakh_files_cost_like_generated": round(wall_s / ratio / 60, 1),
        "wall_minutes_if_cores_as_contended_as_here": round(contended_s / 60, 1),
        "assumptions": [
            "64 dedicated cores, each as fast as one core of this VM (the CPU seconds per file measured here)",
            "no loss from 1 to 64 workers beyond the CPU efficiency measured from 1 to 2 workers (the work is "
            "embarrassingly parallel: no communication but small per-partition summaries; 176,581 files in "
            "partitions of 256 give 690 partitions, ~11 per core, so the tail is short; Dask's per-task overhead "
            "is milliseconds against seconds of work per partition)",
            "extraction cost per file is linear in the file's bytes (the fixed + per-KB line 'cost_vs_size_fit', "
            "fitted on CPU seconds of generated files in this run; its r2 says how well) and holds beyond the "
            "fitted size range",
            f"Lakh's mean file size is ~{lakh_mean_kb} KB: NOT measured here (no Lakh copy on this machine); it is "
            "the mean of 8 lmd_full files whose sizes a public dataset note lists (11-64 KB), a tiny sample; "
            "Lakh also holds a few thousand corrupt files that fail fast, which this ignores",
            "inputs and outputs are on a shared file system fast enough not to be the bottleneck "
            f"(Lakh is ~{LAKH_FILES * lakh_mean_kb / 1024 ** 2:.1f} GB to read once)",
            "'wall_minutes_if_cores_as_contended_as_here' instead uses this run's wall-clock seconds per file and "
            "wall-clock efficiency, i.e. cores shared with other jobs as on this machine (a pessimistic bound)",
        ],
    }
    result = {
        "benchmark": "partitioned 2-bar extract (musicneurons.executor.sharded_extract)",
        "n_files": len(files), "corpus": {k: v for k, v in corpus.items() if k != "generator"},
        "generator": "musicneurons.testing.realistic_midi (seeded)", "partition_size": a.partition_size,
        "runs": rows, "identical_outputs": identical,
        "scaling_efficiency_1_to_2": {"wall_clock": eff_wall, "cpu": eff_cpu,
                                      "definitions": "wall_clock: files/s with 2 workers / (2 x files/s with 1); "
                                                     "cpu: task CPU seconds with 1 worker / with 2 (1.0 = running "
                                                     "two at once costs no extra CPU per file)"},
        "projection": projection,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "note": a.note,
    }
    print(f"identical outputs across runs: {identical}; scaling efficiency 1->2 workers: wall-clock {eff_wall}, "
          f"CPU {eff_cpu}")
    print(f"projection, all of Lakh ({LAKH_FILES} files) on {CLUSTER_CORES} cores: {projection['wall_minutes']} min "
          f"wall ({projection['cpu_hours']} CPU-hours; {projection['wall_minutes_if_lakh_files_cost_like_generated']} "
          f"min if Lakh files cost like the generated ones; {projection['wall_minutes_if_cores_as_contended_as_here']} "
          f"min on cores as contended as here)")
    print(f"cost vs size: {fit['seconds_fixed'] * 1000:.1f} ms + {fit['seconds_per_kb'] * 1000:.2f} ms/KB "
          f"(r2 {fit['r2']}); generated mean {gen_kb:.1f} KB, Lakh assumed {lakh_mean_kb} KB")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(f"-> {a.out}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
