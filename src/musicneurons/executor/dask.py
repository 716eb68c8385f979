"""The Dask executor: partitions as ``dask.distributed`` tasks on a scheduler or a LocalCluster."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from functools import partial

from .outcome import _call, _error_text


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
