"""The features stage by row partitions of a melody table."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ..fileio import atomic_write, content_digest
from .partitions import MANIFEST, _check_manifest, _parts, _row_ranges, part_name, run_partitions
from .rows import _events, read_rows


def features_partition(job, table: str = "", backend: str = "native", vectors: bool = False) -> dict:
    """Features of one row range ``(pid, [(start, stop)], out_dir)`` of a melody table -> ``part-N.parquet``."""
    from ..features import compute_features

    pid, [(start, stop)], out_dir = job
    ev = _events(read_rows(table, start, stop))
    df = compute_features(ev, backend=backend, workers=1, progress=False, vectors=vectors)
    atomic_write(Path(out_dir) / f"{part_name(pid)}.parquet", lambda p: df.to_parquet(p, index=False))
    return {"n_rows": len(df)}


def sharded_features(table, out_dir, executor, partition_rows: int = 8192, backend: str = "native",
                     vectors: bool = False, retries: int = 2, progress: bool = True) -> dict:
    """:func:`features.compute_features` of a melody table (Parquet with ``events``), by row partitions.

    Outputs ``out_dir/part-N.parquet`` (one row per window, the table's order); collect with
    :func:`collect_features`. Same resume / retry / failure rules as :func:`sharded_extract`.
    """
    import pyarrow.parquet as pq

    table = Path(table).resolve()
    n = pq.ParquetFile(table).metadata.num_rows
    ranges = _row_ranges(n, partition_rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_manifest(out_dir, {"stage": "features", "table": str(table), "table_digest": content_digest(table),
                              "n_rows": n, "partition_rows": partition_rows, "backend": backend,
                              "vectors": vectors, "n_partitions": len(ranges)})
    task = partial(features_partition, table=str(table), backend=backend, vectors=vectors)
    summary = run_partitions(task, [[r] for r in ranges], out_dir, executor, retries, progress, desc="features")
    return {**summary, "out_dir": str(out_dir)}


def collect_features(out_dir, allow_incomplete: bool = False) -> pd.DataFrame:
    """The feature table of a :func:`sharded_features` folder, rows in the melody table's order."""
    frames = [pd.read_parquet(p) for p in _parts(out_dir, allow_incomplete)]
    if not frames:
        from ..features import feature_ids

        return pd.DataFrame(columns=feature_ids(json.loads((Path(out_dir) / MANIFEST).read_text())["vectors"]),
                            dtype=np.float64)
    return pd.concat(frames, ignore_index=True)
