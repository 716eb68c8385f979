"""The executor the CLI flags ask for."""

from __future__ import annotations

from .dask import DaskExecutor
from .local import LocalExecutor


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
