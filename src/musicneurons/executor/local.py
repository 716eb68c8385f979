"""The local executor: partitions in this process or on a pool of local processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from .outcome import _call, _error_text


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

        from ..procs import die_with_parent

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
