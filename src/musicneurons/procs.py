"""Worker processes that die with their parent.

A run killed with SIGKILL cannot clean up its pools, so every worker this package starts asks the kernel to send
it SIGKILL when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere a no-op). The analysis's parallel
work (DCI's fits on threads, the compiled kNN MI, φK null and bootstrap kernels on numba's threading layer) runs
in threads, which cannot outlive the process.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent():
    """Pool initializer: SIGKILL this process when its parent exits (Linux); exits at once if already orphaned."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        return
    if os.getppid() != parent or parent == 1:  # the parent died before prctl took effect
        os._exit(1)
