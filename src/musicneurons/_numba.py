"""``njit`` from numba, or a no-op stand-in so the compiled loops still run (slowly) as Python without it."""

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency
    def njit(*args, **kwargs):
        return args[0] if args and callable(args[0]) else (lambda f: f)

    prange = range

__all__ = ["njit", "prange"]
