"""Partitioned, resumable runs of extract / features / encode on local processes or a Dask cluster.

The work of a stage is cut into deterministic **partitions** (a slice of the sorted file list, or a row range
of a table). An **executor** runs one function per partition and reports each outcome; whichever executor
runs them, every partition writes the same files, so the collected output is identical:

- :class:`LocalExecutor` ``(workers)``: this process (``workers=1``) or a pool of local processes.
- :class:`DaskExecutor` ``(address)``: an existing ``dask.distributed`` scheduler (``tcp://HOST:8786``), or,
  without an address, a :class:`distributed.LocalCluster` of ``n_workers`` processes on this machine.

A partition writes ``out_dir/part-00000.parquet`` (plus sidecars) atomically, the Parquet file last, so a
rerun skips every partition whose Parquet file exists. A partition that raises, or whose worker dies, is
retried ``retries`` times; one that still fails is listed in ``out_dir/failed.json`` (id, inputs, error)
and :func:`collect_extract` / :func:`collect_features` refuse to return a table with a hole in it. Workers
read inputs and write outputs themselves, so on a cluster ``out_dir`` and the inputs must be on a file
system every worker sees under the same path (NFS, a cluster file system, a shared volume).

>>> with make_executor(workers=2) as ex:          # or make_executor(scheduler="tcp://host:8786")
...     summary = sharded_extract(find_files("lmd_full"), 2, "runs/lmd_2bar", ex)
>>> table = collect_extract("runs/lmd_2bar", per_file=5, n_files=10_000, seed=0)   # corpus.sample_windows rows
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from .fileio import atomic_write, content_digest

MANIFEST = "manifest.json"
FAILED = "failed.json"
from .corpus import MELODY_COLUMNS as TABLE_COLUMNS, REJECTION_COLUMNS  # noqa: E402 (one definition, in corpus)


class IncompleteOutput(RuntimeError):
    """An output folder with partitions that are missing or failed; the message names them."""


def _error_text(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(e).__name__}: {e}{where}"[:500]


def _call(fn, item):
    """Run ``fn(item)`` and return ``(True, result)`` or ``(False, error text)``; never raises."""
    try:
        return True, fn(item)
    except Exception as e:  # a partition's failure is data for the retry loop, not a crash of the run
        return False, _error_text(e)


# -- executors ----------------------------------------------------------------------------------------------


class LocalExecutor:
    """Partitions on this machine: in this process (``workers=1``) or on ``workers`` local processes.

    A worker process that dies (killed, out of memory) breaks the pool: every partition of that :meth:`map` not
    finished yet is reported failed ("worker process died"), so :func:`run_partitions` retries them all on a fresh
    pool (with Dask only the task of the dead worker is rescheduled).
    """

    kind = "local"

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers)

    @property
    def n_workers(self) -> int:
        return self.workers

    def map(self, fn: Callable, items: Sequence) -> Iterator[tuple[int, bool, object]]:
        """Yield ``(index, ok, result or error text)`` for each item, in completion order."""
        if self.workers == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                ok, value = _call(fn, item)
                yield i, ok, value
            return
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        from .procs import die_with_parent

        pool = ProcessPoolExecutor(min(self.workers, len(items)), initializer=die_with_parent)
        try:
            futures = {pool.submit(_call, fn, item): i for i, item in enumerate(items)}
            for fut in as_completed(futures):
                try:
                    ok, value = fut.result()
                except BrokenProcessPool:
                    ok, value = False, "worker process died (BrokenProcessPool)"
                except Exception as e:  # e.g. an unpicklable result
                    ok, value = False, _error_text(e)
                yield futures[fut], ok, value
        finally:  # Ctrl-C or an abandoned iterator: drop the queued partitions instead of waiting for them
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"LocalExecutor(workers={self.workers})"


class DaskExecutor:
    """Partitions as ``dask.distributed`` tasks: ``Client.map`` then ``as_completed``.

    Parameters
    ----------
    address : str, optional
        a running scheduler, e.g. ``"tcp://10.0.0.1:8786"``. Without it a :class:`distributed.LocalCluster`
        of ``n_workers`` processes x ``threads_per_worker`` threads is started here and closed by
        :meth:`close` (use the executor as a context manager).
    n_workers, threads_per_worker : int
        size of the local cluster (ignored with ``address``). One thread per worker: extraction is pure
        Python and holds the GIL.

    A task whose worker dies is rescheduled by the scheduler itself (``distributed.scheduler.allowed-failures``);
    a task that raises comes back as a failure for :func:`run_partitions` to retry.
    """

    kind = "dask"

    def __init__(self, address: str | None = None, n_workers: int = 2, threads_per_worker: int = 1,
                 **cluster_kwargs):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ImportError("the Dask executor needs dask.distributed: pip install 'musicneurons[dask]'") from None
        self.address, self.cluster = address, None
        if address:
            self.client = Client(address)
        else:
            cluster_kwargs.setdefault("dashboard_address", None)
            self.cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                                        **cluster_kwargs)
            try:
                self.client = Client(self.cluster)
            except Exception:
                self.cluster.close()
                raise

    @property
    def n_workers(self) -> int:
        """Threads over all workers of the cluster (the number of partitions that run at once)."""
        return sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values())

    def map(self, fn: Callable, items: Sequence) -> Iterator[tuple[int, bool, object]]:
        """Yield ``(index, ok, result or error text)`` for each item, in completion order."""
        from distributed import as_completed

        if not items:
            return
        run = uuid.uuid4().hex[:8]
        futures = self.client.map(partial(_call, fn), list(items), pure=False,
                                  key=[f"musicneurons-{run}-{i}" for i in range(len(items))])
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            i = index[fut.key]
            if fut.status == "error":
                ok, value = False, _error_text(fut.exception())  # e.g. KilledWorker after allowed-failures
            else:
                ok, value = fut.result()
            fut.release()
            yield i, ok, value

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        where = self.address or f"LocalCluster({len(self.client.scheduler_info()['workers'])} workers)"
        return f"DaskExecutor({where})"


def make_executor(workers: int = 1, scheduler: str | None = None, dask_local: bool = False):
    """The executor for the CLI flags ``--workers N``, ``--scheduler tcp://HOST:8786``, ``--dask local``.

    ``scheduler`` wins over ``dask_local``; ``dask_local`` starts a LocalCluster of ``workers`` processes
    (at least 1); otherwise local processes.
    """
    if scheduler:
        return DaskExecutor(address=scheduler)
    if dask_local:
        return DaskExecutor(n_workers=max(1, workers))
    return LocalExecutor(workers)


# -- the partition runner ----------------------------------------------------------------------------------


def part_name(pid: int) -> str:
    return f"part-{pid:05d}"


_atomic_write = atomic_write  # the package's one atomic writer (fileio)


def _check_manifest(out_dir: Path, manifest: dict):
    """Write ``manifest.json`` or check that the folder holds a run with the same settings."""
    path = out_dir / MANIFEST
    if path.exists():
        old = json.loads(path.read_text())
        if old != manifest:
            diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
            raise ValueError(f"{out_dir}: holds partitions made with other settings ({', '.join(diff)} differ); "
                             f"use another output folder or delete this one")
        return
    _atomic_write(path, lambda p: p.write_text(json.dumps(manifest, indent=1)))


def run_partitions(task: Callable, partitions: Sequence, out_dir, executor, retries: int = 2,
                   progress: bool = True, desc: str = "partitions", suffix: str = ".parquet") -> dict:
    """Run ``task((pid, items, out_dir))`` for every partition not done yet, retrying failures.

    ``task`` must write ``out_dir/part-{pid:05d}{suffix}`` last and atomically (that file marks the partition
    done) and return a small JSON-able summary. Partitions that still fail after ``retries`` retries are written
    to ``out_dir/failed.json`` (removed when a later run completes them).

    Returns
    -------
    dict
        ``n_partitions``, ``skipped`` (done before), ``ran`` (ids run now), ``retried`` (ids that needed a
        retry), ``failed`` ({id: last error}), ``summaries`` ({id: task summary} for the partitions run now).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pending = [pid for pid in range(len(partitions)) if not (out_dir / f"{part_name(pid)}{suffix}").exists()]
    skipped = len(partitions) - len(pending)
    summaries, errors, retried = {}, {}, set()
    bar = tqdm(total=len(pending), disable=not progress, desc=desc, unit="part")
    for attempt in range(retries + 1):
        if not pending:
            break
        if attempt:
            retried.update(pending)
        items = [(pid, list(partitions[pid]), str(out_dir.resolve())) for pid in pending]
        failed_now = []
        for i, ok, value in executor.map(task, items):
            pid = pending[i]
            if ok:
                summaries[pid] = value
                errors.pop(pid, None)
                bar.update(1)
            else:
                errors[pid] = value
                failed_now.append(pid)
        pending = sorted(failed_now)
    bar.close()
    failed = {pid: errors[pid] for pid in pending}
    path = out_dir / FAILED
    if failed:
        record = [{"partition": pid, "file": f"{part_name(pid)}{suffix}", "attempts": retries + 1,
                   "error": failed[pid], "inputs": [_display(x) for x in partitions[pid]]}
                  for pid in sorted(failed)]
        _atomic_write(path, lambda p: p.write_text(json.dumps(record, indent=1)))
    elif path.exists():
        path.unlink()
    return {"n_partitions": len(partitions), "skipped": skipped, "ran": sorted(summaries),
            "retried": sorted(retried), "failed": failed, "summaries": summaries}


def _parts(out_dir, allow_incomplete: bool, suffix: str = ".parquet") -> list[Path]:
    """The parts of a folder in partition order; raises :class:`IncompleteOutput` on a hole."""
    out_dir = Path(out_dir)
    if not (out_dir / MANIFEST).exists():
        raise FileNotFoundError(f"{out_dir}: not a partitioned output folder (no {MANIFEST})")
    n = json.loads((out_dir / MANIFEST).read_text())["n_partitions"]
    paths = [out_dir / f"{part_name(pid)}{suffix}" for pid in range(n)]
    missing = [p.name for p in paths if not p.exists()]
    if missing and not allow_incomplete:
        failed = out_dir / FAILED
        why = f"; errors in {failed}" if failed.exists() else "; run the same command again to finish them"
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise IncompleteOutput(f"{out_dir}: {len(missing)} of {n} partitions missing ({shown}){why}")
    return [p for p in paths if p.exists()]


def _digest(strings: Iterable[str]) -> str:
    h = hashlib.sha256()
    for s in strings:
        h.update(s.encode("utf-8", "surrogateescape"))  # file names that are not UTF-8 hash as their bytes
        h.update(b"\n")
    return h.hexdigest()[:16]


def split(items: Sequence, size: int) -> list[list]:
    """Consecutive partitions of ``size`` items (the last one shorter)."""
    if size < 1:
        raise ValueError(f"partition size must be >= 1, got {size}")
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


# -- extract ------------------------------------------------------------------------------------------------


def extract_partition(job, bars: int = 2, base: str = "") -> dict:
    """Extract one partition ``(pid, files, out_dir)``: every window of every file, and the rejections.

    Relative paths are read below ``base`` (the client's working folder, so a remote worker finds them) but keep
    their relative spelling in the ``source`` column, as :func:`extract.extract_file` on the client would.
    Writes ``part-N.rejections.csv``, ``part-N.json`` (counts, and the task's CPU and wall seconds) and, last,
    ``part-N.parquet`` (columns :data:`TABLE_COLUMNS`, all windows in file order then extraction order).
    """
    from .extract import extract_file
    from .sources import display_path

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
    _atomic_write(out.with_suffix(".rejections.csv"),
                  lambda p: pd.DataFrame(rejections, columns=REJECTION_COLUMNS).to_csv(p, index=False))
    _atomic_write(out.with_suffix(".json"), lambda p: p.write_text(json.dumps(summary)))
    _atomic_write(out.with_suffix(".parquet"), lambda p: table.to_parquet(p, index=False))
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
    from .extract import window_steps

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

    from .extract import ExtractResult

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
    from .corpus import sample_windows

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


# -- features -----------------------------------------------------------------------------------------------


def read_rows(path, start: int, stop: int, columns=("events",)) -> pd.DataFrame:
    """Rows ``start:stop`` of a Parquet table, reading only the row groups that hold them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    groups, first, offset = [], None, 0
    for g in range(f.num_row_groups):
        n = f.metadata.row_group(g).num_rows
        if offset + n > start and offset < stop:
            groups.append(g)
            first = offset if first is None else first
        offset += n
    if not groups:
        return f.schema_arrow.empty_table().select(list(columns)).to_pandas()
    t = f.read_row_groups(groups, columns=list(columns))
    return pa.Table.slice(t, start - first, stop - start).to_pandas()


def _events(df: pd.DataFrame) -> np.ndarray:
    ev = df["events"].to_list()
    return np.asarray(ev, dtype=np.int64) if ev else np.zeros((0, 0), np.int64)


def features_partition(job, table: str = "", backend: str = "native", vectors: bool = False) -> dict:
    """Features of one row range ``(pid, [(start, stop)], out_dir)`` of a melody table -> ``part-N.parquet``."""
    from .features import compute_features

    pid, [(start, stop)], out_dir = job
    ev = _events(read_rows(table, start, stop))
    df = compute_features(ev, backend=backend, workers=1, progress=False, vectors=vectors)
    _atomic_write(Path(out_dir) / f"{part_name(pid)}.parquet", lambda p: df.to_parquet(p, index=False))
    return {"n_rows": len(df)}


def _row_ranges(n: int, size: int) -> list[tuple[int, int]]:
    if size < 1:
        raise ValueError(f"partition size must be >= 1, got {size}")
    return [(s, min(n, s + size)) for s in range(0, n, size)]


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
        from .features import feature_ids

        return pd.DataFrame(columns=feature_ids(json.loads((Path(out_dir) / MANIFEST).read_text())["vectors"]),
                            dtype=np.float64)
    return pd.concat(frames, ignore_index=True)


# -- encode -------------------------------------------------------------------------------------------------

_MODELS: dict = {}  # per worker process: (model, checkpoint, device) -> loaded model


def _worker_model(model, checkpoint, device, threads):
    import torch

    if threads:
        torch.set_num_threads(threads)
    key = (model, checkpoint, device)
    if key not in _MODELS:
        from .model.checkpoint import load_model

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

    _atomic_write(Path(out_dir) / f"{part_name(pid)}.npz", write)
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


def _display(path) -> str:
    from .sources import display_path

    return display_path(path)
