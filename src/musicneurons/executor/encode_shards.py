"""The encode stage by row partitions of a melody table: ``mu``, ``sigma`` per part, one model per worker."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

from ..fileio import atomic_write, content_digest
from .partitions import _check_manifest, _parts, _row_ranges, part_name, run_partitions
from .rows import _events, read_rows

_MODELS: dict = {}  # per worker process: (model, checkpoint, device) -> loaded model


def _worker_model(model, checkpoint, device, threads):
    import torch

    if threads:
        torch.set_num_threads(threads)
    key = (model, checkpoint, device)
    if key not in _MODELS:
        from ..model.checkpoint import load_model

        _MODELS.clear()
        _MODELS[key] = load_model(model, checkpoint=checkpoint, device=device)
    return _MODELS[key]


def encode_partition(job, table: str = "", model: str | None = None, checkpoint: str | None = None,
                     devices: tuple = ("cpu",), batch_size: int = 512, threads: int | None = 1) -> dict:
    """``mu``, ``sigma`` of one row range ``(pid, [(start, stop)], out_dir)`` -> ``part-N.npz``.

    Partition ``pid`` runs on ``devices[pid % len(devices)]`` (e.g. ``("cuda:0", "cuda:1")``).
    """
    pid, [(start, stop)], out_dir = job
    net = _worker_model(model, checkpoint, devices[pid % len(devices)], threads)
    ev = _events(read_rows(table, start, stop))
    _, mu, sigma = net.encode(ev.reshape(len(ev), -1) if ev.size else np.zeros((0, net.cfg.max_seq_len), np.int64),
                              batch_size=batch_size)

    def write(p):
        with open(p, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma)

    atomic_write(Path(out_dir) / f"{part_name(pid)}.npz", write)
    return {"n_rows": len(mu)}


def sharded_encode(table, out_dir, executor, model: str | None = None, checkpoint=None, partition_rows: int = 4096,
                   batch_size: int = 512, devices: Sequence[str] = ("cpu",), threads: int | None = 1,
                   retries: int = 2, progress: bool = True) -> dict:
    """``model.encode`` of a melody table by row partitions -> ``out_dir/part-N.npz`` (``mu``, ``sigma``).

    Each worker loads the model once (``load_model(model, checkpoint)``, so the checkpoint must be readable by
    every worker) and uses ``threads`` torch threads (1 avoids oversubscribing a machine's cores with several
    worker processes). ``mu`` and ``sigma`` are deterministic; collect them with :func:`collect_encode`.
    """
    import pyarrow.parquet as pq

    table = Path(table).resolve()
    n = pq.ParquetFile(table).metadata.num_rows
    ranges = _row_ranges(n, partition_rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ck = str(Path(checkpoint).resolve()) if checkpoint is not None else None
    _check_manifest(out_dir, {"stage": "encode", "table": str(table), "table_digest": content_digest(table),
                              "n_rows": n, "partition_rows": partition_rows, "model": model, "checkpoint": ck,
                              "n_partitions": len(ranges)})
    task = partial(encode_partition, table=str(table), model=model, checkpoint=ck, devices=tuple(devices),
                   batch_size=batch_size, threads=threads)
    summary = run_partitions(task, [[r] for r in ranges], out_dir, executor, retries, progress, desc="encode",
                             suffix=".npz")
    return {**summary, "out_dir": str(out_dir)}


def collect_encode(out_dir, allow_incomplete: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)``, each float32 (n_windows, z_size), of a :func:`sharded_encode` folder, in table order."""
    mus, sigmas = [], []
    for p in _parts(out_dir, allow_incomplete, suffix=".npz"):
        with np.load(p, allow_pickle=False) as f:
            mus.append(f["mu"])
            sigmas.append(f["sigma"])
    return np.concatenate(mus), np.concatenate(sigmas)
