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

Modules, one concept each: :mod:`.outcome` (a partition's outcome as data), :mod:`.local` (:class:`LocalExecutor`),
:mod:`.dask` (:class:`DaskExecutor`), :mod:`.factory` (:func:`make_executor`), :mod:`.partitions` (the partition
runner, manifests, ``failed.json``), :mod:`.rows` (row ranges of a Parquet table), :mod:`.extract_shards`,
:mod:`.features_shards`, :mod:`.encode_shards` (the three stages by partitions).
"""

from .dask import DaskExecutor
from .encode_shards import collect_encode, encode_partition, sharded_encode
from .extract_shards import (REJECTION_COLUMNS, TABLE_COLUMNS, collect_extract, collect_rejections, extract_counts,
                             extract_partition, sharded_extract)
from .factory import make_executor
from .features_shards import collect_features, features_partition, sharded_features
from .local import LocalExecutor
from .partitions import FAILED, MANIFEST, IncompleteOutput, part_name, run_partitions, split
from .rows import read_rows

__all__ = [
    "DaskExecutor", "LocalExecutor", "make_executor",
    "FAILED", "MANIFEST", "IncompleteOutput", "part_name", "run_partitions", "split",
    "read_rows",
    "REJECTION_COLUMNS", "TABLE_COLUMNS", "collect_extract", "collect_rejections", "extract_counts",
    "extract_partition", "sharded_extract",
    "collect_features", "features_partition", "sharded_features",
    "collect_encode", "encode_partition", "sharded_encode",
]
