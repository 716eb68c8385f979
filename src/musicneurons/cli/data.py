"""The data commands: ``extract`` (in this process or through the partitioned executor), ``random`` and
``features``."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError
from .shared import _progress, read_table


def cmd_extract_sharded(a):
    """Folders and files through the partitioned executor (local processes or Dask); resumable."""
    from ..executor import collect_extract, collect_rejections, extract_counts, make_executor, sharded_extract
    from ..sources import find_files

    files = []
    for src in a.sources:
        try:
            files.extend(find_files(src))
        except FileNotFoundError as e:
            raise UserError(str(e)) from None
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = Path(a.parts) if a.parts else out.with_name(out.name + ".parts")
    # local processes: at most one per CPU (as the unsharded path); --workers 100000 must not fork 100000
    workers = a.workers if a.scheduler or a.dask else min(a.workers, os.cpu_count() or 1)
    with make_executor(workers, a.scheduler, a.dask == "local") as ex:
        s = sharded_extract(files, a.bars, parts, ex, partition_size=a.partition_size, retries=a.retries,
                            progress=_progress())
    if s["failed"]:
        raise UserError(f"{len(s['failed'])} partition(s) failed after {a.retries} retries: see {parts / 'failed.json'}; "
                        "rerun the same command to retry them")
    table = collect_extract(parts, per_file=a.per_file, n_files=a.files, seed=a.seed)
    table.to_parquet(out, index=False)
    rej = out.with_name(out.stem + ".rejections.csv")
    collect_rejections(parts).to_csv(rej, index=False)
    c = extract_counts(parts)
    print(f"{c['n_files']} sources, {c['n_with_windows']} with windows -> {len(table)} windows of {a.bars} bars "
          f"in {out} (partitions in {parts}: {len(s['ran'])} run, {s['skipped']} already done)")
    for reason, n in sorted(c["reasons"].items(), key=lambda kv: -kv[1]):
        print(f"  {n:7d}  {reason}")
    print(f"rejections: {rej}")


def _file_output(path, example="melodies.parquet") -> Path:
    """An output file (a table): one line before any work when it names a folder."""
    p = Path(path)
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise UserError(f"{path}: a folder; give -o a file name (e.g. {p / example})")
    return p


def cmd_extract(a):
    from collections import Counter

    from ..corpus import sample_windows

    _file_output(a.output)

    if a.scheduler or a.dask or a.parts or (a.workers > 1 and "builtin" not in a.sources):
        return cmd_extract_sharded(a)
    from ..corpus import extract_sources

    results = extract_sources(a.sources, a.bars, a.workers, _progress())  # a missing path: main's one line
    table = sample_windows(results, per_file=a.per_file, n_files=a.files, seed=a.seed)
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out, index=False)
    rej = out.with_name(out.stem + ".rejections.csv")
    from ..corpus import write_rejections

    write_rejections(results, rej)
    counts = Counter()
    for r in results:
        counts.update(r.reasons)
    n_ok = sum(1 for r in results if len(r.windows))
    kept = table["source"].nunique() if "source" in table and len(table) else 0
    print(f"{len(results)} sources read, {n_ok} with windows -> {len(table)} windows of {a.bars} bars from {kept} "
          f"sources in {out}" + (f" (--files {a.files}: a seeded sample of the sources)" if a.files else ""))
    if counts:
        print(f"rejections among all {len(results)} sources read (pieces or files; see {rej}):")
    for reason, n in counts.most_common():
        print(f"  {n:7d}  {reason}")


def cmd_random(a):
    from ..randomseq import random_table

    _file_output(a.output, "random.parquet")

    t = random_table(a.n, a.bars, a.seed)
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    t.to_parquet(a.output, index=False)
    print(f"{len(t)} random {a.bars}-bar sequences (seed {a.seed}) -> {a.output}")


def cmd_features(a):
    from ..features import catalog_json, compute_features

    _file_output(a.output, "features.parquet")
    ev, keys = read_table(a.melodies)
    df = compute_features(ev, backend=a.backend, workers=a.workers, progress=_progress())
    for i, col in enumerate(c for c in ("source", "window") if c in keys):  # join back to the melody table
        df.insert(i, col, keys[col].to_numpy())
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out, index=False)
    cat = out.with_name(out.stem + ".catalog.json")
    cat.write_text(catalog_json())
    print(f"{len(df)} windows x {df.shape[1]} features ({a.backend}) -> {out}; catalog -> {cat}")
