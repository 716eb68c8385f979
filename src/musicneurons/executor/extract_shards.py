"""The extract stage by partitions of the file list: write the parts, then sample and collect the table."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ..corpus import MELODY_COLUMNS as TABLE_COLUMNS, REJECTION_COLUMNS  # one definition, in corpus
from ..fileio import atomic_write
from .partitions import _check_manifest, _digest, _parts, part_name, run_partitions, split


def extract_partition(job, bars: int = 2, base: str = "") -> dict:
    """Extract one partition ``(pid, files, out_dir)``: every window of every file, and the rejections.

    Relative paths are read below ``base`` (the client's working folder, so a remote worker finds them) but keep
    their relative spelling in the ``source`` column, as :func:`extract.extract_file` on the client would.
    Writes ``part-N.rejections.csv``, ``part-N.json`` (counts, and the task's CPU and wall seconds) and, last,
    ``part-N.parquet`` (columns :data:`TABLE_COLUMNS`, all windows in file order then extraction order).
    """
    from ..extract import extract_file
    from ..sources import display_path

    pid, files, out_dir = job
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out = Path(out_dir) / part_name(pid)
    cols = {c: [] for c in TABLE_COLUMNS}
    rejections = []
    reasons: Counter = Counter()
    n_with = 0
    for f in files:
        r = extract_file(Path(base, f) if base else f, bars=bars)
        r.source = display_path(f)
        n = len(r.windows)
        n_with += n > 0
        cols["source"] += [r.source] * n
        cols["window"] += range(n)
        cols["events"] += list(r.windows)
        for key in TABLE_COLUMNS[3:]:
            cols[key] += [info[key] for info in r.info]
        for reason, count in r.reasons.items():
            rejections.append((r.source, reason, r.details.get(reason, ""), count))
        reasons.update(r.reasons)
    table = pd.DataFrame(cols, columns=TABLE_COLUMNS)
    for key in ("window", "instrument", "program", "piece", "first_bar"):
        table[key] = table[key].astype(np.int64)
    for key in ("piece_offset_s", "qpm"):
        table[key] = table[key].astype(np.float64)
    summary = {"n_files": len(files), "n_with_windows": int(n_with), "n_windows": len(table),
               "reasons": dict(reasons), "cpu_s": round(time.process_time() - cpu0, 4),
               "wall_s": round(time.perf_counter() - wall0, 4)}
    atomic_write(out.with_suffix(".rejections.csv"),
                  lambda p: pd.DataFrame(rejections, columns=REJECTION_COLUMNS).to_csv(p, index=False))
    atomic_write(out.with_suffix(".json"), lambda p: p.write_text(json.dumps(summary)))
    atomic_write(out.with_suffix(".parquet"), lambda p: table.to_parquet(p, index=False))
    return summary


def sharded_extract(files: Sequence, bars: int, out_dir, executor, partition_size: int = 256, retries: int = 2,
                    progress: bool = True) -> dict:
    """Every window of every file, written as partitioned Parquet by ``executor``; resumable.

    Parameters
    ----------
    files : sequence of paths
        the sources, e.g. ``sources.find_files(root)`` (sorted); the order fixes the partitions and the table.
    bars : {2, 16}
    out_dir : path
        the output folder (shared by all workers on a cluster). A rerun skips the partitions already written;
        a folder made with other files or settings is refused.
    executor : LocalExecutor or DaskExecutor
    partition_size : int
        files per partition (a partition is the unit of retry and resume).

    Returns
    -------
    dict
        :func:`run_partitions`'s summary plus ``out_dir``; failed partitions are in ``out_dir/failed.json``.
    """
    from ..extract import window_steps

    window_steps(bars)
    files = [str(f) for f in files]
    parts = split(files, partition_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_manifest(out_dir, {"stage": "extract", "bars": bars, "partition_size": partition_size,
                              "n_files": len(files), "files_digest": _digest(files), "n_partitions": len(parts)})
    task = partial(extract_partition, bars=bars, base=os.getcwd())
    summary = run_partitions(task, parts, out_dir, executor, retries, progress, desc=f"extract {bars}-bar")
    return {**summary, "out_dir": str(out_dir)}


def _stub_results(out_dir, allow_incomplete: bool):
    """One light ExtractResult per source with windows: ``windows[i] == [i]`` (the index), no events."""
    import pyarrow.parquet as pq

    from ..extract import ExtractResult

    stubs = []
    for path in _parts(out_dir, allow_incomplete):
        src = pq.read_table(path, columns=["source"]).column("source").to_numpy(zero_copy_only=False)
        if not src.size:
            continue
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        counts = np.diff(np.r_[starts, src.size])
        for s, n in zip(starts, counts):
            stubs.append(ExtractResult(str(src[s]), np.arange(n, dtype=np.int64)[:, None], [{}] * int(n), Counter()))
    return stubs


def collect_extract(out_dir, per_file: int | None = None, n_files: int | None = None, seed: int = 0,
                    sampler: Callable | None = None, allow_incomplete: bool = False) -> pd.DataFrame:
    """The melody table of a :func:`sharded_extract` folder, rows exactly as :func:`corpus.sample_windows`.

    The sampling runs on an index (source, window count) of all parts first, then only the chosen rows are
    read, so N files x k windows out of all of Lakh fits in memory. ``sampler(results) -> table`` replaces
    ``sample_windows(results, per_file, n_files, seed)`` when given (it receives ExtractResults whose windows
    are placeholders and must return a table with ``source`` and ``window`` columns).

    Returns
    -------
    pandas.DataFrame
        columns :data:`TABLE_COLUMNS`, ``events`` as lists of ints; raises :class:`IncompleteOutput` when a
        partition is missing or failed (unless ``allow_incomplete``).
    """
    from ..corpus import sample_windows

    stubs = _stub_results(out_dir, allow_incomplete)
    if sampler is None:
        chosen = sample_windows(stubs, per_file=per_file, n_files=n_files, seed=seed)
    else:
        chosen = sampler(stubs)
    keep = pd.MultiIndex.from_arrays([chosen["source"].astype(str), chosen["window"].astype(np.int64)])
    import pyarrow.parquet as pq

    frames = []
    for path in _parts(out_dir, allow_incomplete):
        t = pq.read_table(path)
        if not t.num_rows:
            continue
        ids = t.select(["source", "window"]).to_pandas()
        mask = pd.MultiIndex.from_arrays([ids["source"], ids["window"]]).isin(keep)
        if mask.any():  # only the chosen rows' events become Python objects
            frames.append(t.filter(mask).to_pandas())
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLE_COLUMNS)
    # the sampler's row order (file order, then window order for sample_windows)
    order = pd.MultiIndex.from_arrays([table["source"], table["window"]]).get_indexer(keep)
    if (order < 0).any():
        raise ValueError(f"{out_dir}: the sampler chose rows that are not in the parts")
    table = table.iloc[order].reset_index(drop=True)
    table["events"] = [np.asarray(e, dtype=np.int64).tolist() for e in table["events"]]
    return table[TABLE_COLUMNS]


def collect_rejections(out_dir, allow_incomplete: bool = False) -> pd.DataFrame:
    """The rejections of a :func:`sharded_extract` folder (columns source, reason, detail, count), file order."""
    frames = [pd.read_csv(p.with_suffix("").with_suffix(".rejections.csv"), keep_default_na=False,
                          dtype={"source": str, "reason": str, "detail": str})
              for p in _parts(out_dir, allow_incomplete)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=REJECTION_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["count"] = out["count"].astype(np.int64)
    return out


def extract_counts(out_dir, allow_incomplete: bool = False) -> dict:
    """Totals of a :func:`sharded_extract` folder: n_files, n_with_windows, n_windows, reasons (a Counter)."""
    total = {"n_files": 0, "n_with_windows": 0, "n_windows": 0, "reasons": Counter()}
    for p in _parts(out_dir, allow_incomplete):
        s = json.loads(p.with_suffix(".json").read_text())
        for k in ("n_files", "n_with_windows", "n_windows"):
            total[k] += s[k]
        total["reasons"].update(s["reasons"])
    return total
